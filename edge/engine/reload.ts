/**
 * Building evaluation state for a rule set, and swapping it in (start-up and hot
 * reload). The build runs beside the state in force, in steps a caller may spread
 * over event-loop turns (evaluation goes on meanwhile); the swap is one
 * synchronous step that carries every surviving alarm point's state across by key
 * (`ruleId.limitName`), so nothing evaluated between the steps is lost.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { EngineCore } from './core.js';
import { carry, linkActive } from './persistence.js';
import { signalBehaviour } from './signals/index.js';
import { LimitState, SensorState } from './state.js';
import type { CompiledRuleSet } from './types.js';

/** Limits built per step: about a millisecond of work. */
export const BUILD_STEP_LIMITS = 1_000;

/** Evaluation state of a rule set, built and not yet in force. */
export interface PreparedRules {
  readonly compiled: CompiledRuleSet;
  /** The limits in force when the build started: a swap against others must rebuild. */
  readonly basis: readonly LimitState[];
  readonly bySensor: Map<string, SensorState>;
  readonly byKey: Map<string, LimitState>;
  readonly allLimits: LimitState[];
  readonly timedLimits: LimitState[];
  /** Per new limit: the old limit of the same key (or undefined), and whether its signal is unchanged. */
  readonly previous: (LimitState | undefined)[];
  readonly sameSignal: Uint8Array;
  /** Old limits whose key is gone (their open occurrences close at the swap). */
  readonly removed: LimitState[];
}

/** Builds the state for `compiled` against the state in force, yielding between steps. */
export function* prepareSteps(
  core: EngineCore,
  compiled: CompiledRuleSet,
  stepLimits = BUILD_STEP_LIMITS,
): Generator<void, PreparedRules> {
  const basis = core.allLimits;
  const bySensor = new Map<string, SensorState>();
  const byKey = new Map<string, LimitState>();
  const allLimits: LimitState[] = [];
  const timedLimits: LimitState[] = [];
  const sensorOf = (id: string) => {
    let sensor = bySensor.get(id);
    if (!sensor) {
      sensor = new SensorState(id);
      bySensor.set(id, sensor);
    }
    return sensor;
  };
  const specs = compiled.limits;
  const previous: (LimitState | undefined)[] = new Array(specs.length);
  const sameSignal = new Uint8Array(specs.length);
  for (let i = 0; i < specs.length; i++) {
    const spec = specs[i]!;
    const behaviour = signalBehaviour(spec.signal.kind);
    const limit = new LimitState(spec, sensorOf(spec.sensorId), behaviour);
    allLimits.push(limit);
    byKey.set(spec.key, limit);
    if (behaviour.timed) timedLimits.push(limit);
    const old = core.byKey.get(spec.key);
    previous[i] = old;
    sameSignal[i] =
      old !== undefined &&
      (old.spec.signal === spec.signal ||
        JSON.stringify(old.spec.signal) === JSON.stringify(spec.signal))
        ? 1
        : 0;
    if (i % stepLimits === stepLimits - 1) yield;
  }
  // Per-sensor lists in the compiled order (level 1 before level 2).
  for (const [sensorId, list] of compiled.limitsBySensor) {
    const sensor = sensorOf(sensorId);
    for (const spec of list) {
      sensor.limits.push(byKey.get(spec.key)!);
      sensor.inputIndex.push(spec.inputTerms[spec.inputs.indexOf(sensorId)] ?? 0);
    }
  }
  yield;
  for (const limit of allLimits) {
    const signal = limit.spec.signal;
    if (signal.kind !== 'all') continue;
    signal.terms.forEach((term, i) => {
      if (!('alarm' in term)) return;
      const target = byKey.get(term.alarm);
      if (!target) return;
      target.dependents.push(limit);
      target.dependentTerms.push(i);
    });
  }
  const removed = basis.filter((l) => !byKey.has(l.spec.key) && !l.spec.hidden);
  return {
    compiled,
    basis,
    bySensor,
    byKey,
    allLimits,
    timedLimits,
    previous,
    sameSignal,
    removed,
  };
}

/** Runs every step at once. */
export function prepareNow(core: EngineCore, compiled: CompiledRuleSet): PreparedRules {
  const steps = prepareSteps(core, compiled);
  for (;;) {
    const next = steps.next();
    if (next.done) return next.value;
  }
}

/** Runs the steps one event-loop turn apart, so evaluation is never held up for long. */
export async function prepareInTurns(
  core: EngineCore,
  compiled: CompiledRuleSet,
): Promise<PreparedRules> {
  const steps = prepareSteps(core, compiled);
  for (;;) {
    const next = steps.next();
    if (next.done) return next.value;
    await nextTurn();
  }
}

/**
 * Puts prepared rules in force, in one synchronous step: sensor values and every
 * surviving point's state carried over; points that are gone and still active or
 * latched are closed with 'cleared'. Returns nothing; transitions go to core.out.
 */
export function swapIn(core: EngineCore, ready: PreparedRules): void {
  // Another swap since the build started: its old-limit links are stale, build again now.
  const prepared = ready.basis === core.allLimits ? ready : prepareNow(core, ready.compiled);
  const oldSensors = core.bySensor;
  for (const [id, sensor] of prepared.bySensor) {
    const old = oldSensors.get(id);
    if (old) {
      sensor.lastValue = old.lastValue;
      sensor.usable = old.usable;
      sensor.lastTs = old.lastTs;
      sensor.lastT = old.lastT;
      sensor.lastEvalT = old.lastEvalT;
      sensor.quality = old.quality;
      sensor.reason = old.reason;
      sensor.faultLogged = old.faultLogged;
    } else sensor.lastT = core.monoNow; // no data yet: stale counts from now
  }
  core.pendingCount = 0;
  core.timedShelves = 0;
  const { allLimits, previous, sameSignal } = prepared;
  for (let i = 0; i < allLimits.length; i++) {
    const old = previous[i];
    if (old !== undefined) carry(core, old, allLimits[i]!, sameSignal[i] === 1);
  }
  core.current = prepared.compiled;
  core.bySensor = prepared.bySensor;
  core.byKey = prepared.byKey;
  core.allLimits = allLimits;
  core.timedLimits = prepared.timedLimits;
  linkActive(core);
  for (const limit of prepared.removed) {
    if (!(limit.active || limit.latchedWaiting)) continue; // an unacked return was already cleared
    core.closeSuperseded(limit, limit.x, core.wallNow);
    core.emit(
      limit,
      'cleared',
      limit.x,
      core.wallNow,
      `${limit.spec.key}: rule removed by a reload`,
    );
  }
  core.dirty = true;
}
