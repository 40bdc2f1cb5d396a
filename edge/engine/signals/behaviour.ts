/**
 * The contract of a signal kind: how the engine turns readings into the number a
 * limit compares with its setpoint. A kind is one file in this folder, registered
 * in ./index.ts beside the condition types that produce it (edge/conditions/).
 *
 * Lifecycle: init() runs once per limit when rules are (re)built; onReading()
 * runs on the evaluation path for every reading of a sensor feeding the limit and
 * must not allocate; onTick() runs on every tick for timed kinds only. Times are
 * engine times (ms), the messages are what an operator reads.
 */
import type { SignalSpec } from '../../rule-types.js';
import type { LimitState, SensorState } from '../state.js';
import type { CompiledLimit, SignalKind } from '../types.js';

export type SpecOf<K extends SignalKind> = Extract<SignalSpec, { kind: K }>;

export interface SignalBehaviour<K extends SignalKind = SignalKind> {
  readonly kind: K;
  /** Small integer, unique per kind; 0 is the plain value (evaluated inline, never called). */
  readonly code: number;
  /** Re-evaluated on every tick (time-based kinds: stale, stuck). */
  readonly timed: boolean;
  /** Sets up the limit's signal state and parameters (rings, flags, numbers). */
  init(limit: LimitState, signal: SpecOf<K>): void;
  /**
   * The signal after a reading of `sensor` (input `input` of the limit); `v` is the
   * usable value or NaN. Returns NaN to keep the limit's state (no decision).
   */
  onReading(
    limit: LimitState,
    sensor: SensorState,
    input: number,
    v: number,
    t: number,
    now: number,
  ): number;
  /** The signal at tick time `now`; NaN when there is nothing to evaluate. Timed kinds only. */
  onTick(limit: LimitState, now: number): number;
  /** Words after the sensor label in value-style messages (' rate of change'). */
  describe(spec: CompiledLimit): string;
  /** Message of a raise; undefined for the value-style message. */
  raiseMessage(spec: CompiledLimit, x: number): string | undefined;
  /** Message of a clear; undefined for the value-style message. */
  clearMessage(spec: CompiledLimit, x: number): string | undefined;
}

type Parts<K extends SignalKind> = Pick<
  SignalBehaviour<K>,
  'kind' | 'code' | 'init' | 'onReading'
> &
  Partial<Omit<SignalBehaviour<K>, 'kind' | 'code' | 'init' | 'onReading'>>;

/** Builds a behaviour with every key present in one order, so all kinds share one object shape. */
export function defineSignal<K extends SignalKind>(parts: Parts<K>): SignalBehaviour<K> {
  return Object.freeze({
    kind: parts.kind,
    code: parts.code,
    timed: parts.timed ?? false,
    init: parts.init,
    onReading: parts.onReading,
    onTick: parts.onTick ?? (() => Number.NaN),
    describe: parts.describe ?? (() => ''),
    raiseMessage: parts.raiseMessage ?? (() => undefined),
    clearMessage: parts.clearMessage ?? (() => undefined),
  });
}
