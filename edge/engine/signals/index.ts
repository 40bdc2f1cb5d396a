/**
 * The one registry of signal kinds. To add a kind: write ./<kind>.ts with
 * defineSignal(), add its SignalSpec to edge/rule-types.ts, and add one line
 * below. Condition types (edge/conditions/) produce limits of these kinds.
 */

import { allSignal } from './all.js';
import type { SignalBehaviour } from './behaviour.js';
import { faultSignal } from './fault.js';
import { rateSignal } from './rate.js';
import { staleSignal } from './stale.js';
import { stuckSignal } from './stuck.js';
import { valueSignal } from './value.js';
import { voteSignal } from './vote.js';
import { windowSignal } from './window.js';

export type { SignalBehaviour } from './behaviour.js';

export const SIGNAL_KINDS: readonly SignalBehaviour[] = [
  valueSignal,
  rateSignal,
  windowSignal,
  staleSignal,
  faultSignal,
  stuckSignal,
  voteSignal,
  allSignal,
] as readonly SignalBehaviour[];

const byKind = new Map<string, SignalBehaviour>(SIGNAL_KINDS.map((s) => [s.kind, s]));

/** The behaviour registered for a signal kind; throws for a kind no file registers. */
export function signalBehaviour(kind: string): SignalBehaviour {
  const behaviour = byKind.get(kind);
  if (!behaviour) throw new Error(`no signal kind '${kind}' is registered in edge/engine/signals/`);
  return behaviour;
}

/** Code of the plain value kind, evaluated inline on the hot path. */
export const VALUE_CODE = valueSignal.code;
