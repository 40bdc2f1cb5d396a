/**
 * Mutable evaluation state: one SensorState per sensor with rules, one LimitState
 * per compiled limit. Fixed object shapes (every field initialised in declaration
 * order) so the evaluation loop stays monomorphic.
 */
import type { AlarmLifecycleState, Reading } from '../../protocol/index.js';
import type { SignalBehaviour } from './signals/behaviour.js';
import type { CompiledLimit } from './types.js';

/** `by` of design suppression (rule suppressWhen). */
export const DESIGN = 'design';

export const SHELVE_NONE = 0;
export const SHELVE_TIMED = 1;
export const SHELVE_ONE_SHOT = 2;

/** Mutable per-sensor state; one per sensor with rules. */
export class SensorState {
  /** Latest usable value. */
  lastValue = Number.NaN;
  /** False while the latest reading is unusable (bad quality, null). */
  usable = false;
  /** Source time of the newest evaluated reading (step-corrected): older ones are out of order. */
  lastTs = Number.NEGATIVE_INFINITY;
  /** Engine (monotonic) time of the latest reading that counts as data (stale limits). */
  lastT = 0;
  /** Engine time given to the newest evaluated reading: later ones never get an earlier one. */
  lastEvalT = Number.NEGATIVE_INFINITY;
  quality: Reading['quality'] = 'good';
  reason = '';
  /** Reason of the boundary fault (clock, non-finite) logged last; '' when none (log once). */
  faultLogged = '';
  /** A fault was logged or a limit marked value unreliable: the next usable reading undoes it. */
  attention = false;
  /** Limits this sensor feeds (replaced whole by a reload). */
  limits: LimitState[] = [];
  /** Position of this sensor among each limit's inputs, parallel to `limits`. */
  inputIndex: number[] = [];
  constructor(readonly sensorId: string) {}
}

/** Fixed-capacity ring of (ts, value) samples; allocated once. */
export class SampleRing {
  readonly ts: Float64Array;
  readonly values: Float64Array;
  head = 0;
  size = 0;
  sum = 0;
  constructor(readonly capacity: number) {
    this.ts = new Float64Array(capacity);
    this.values = new Float64Array(capacity);
  }
  push(ts: number, value: number, windowMs: number): void {
    if (this.size === this.capacity) this.dropOldest();
    let at = this.head + this.size;
    if (at >= this.capacity) at -= this.capacity;
    this.ts[at] = ts;
    this.values[at] = value;
    this.size++;
    this.sum += value;
    const from = ts - windowMs;
    while (this.size > 1 && this.ts[this.head]! < from) this.dropOldest();
  }
  private dropOldest(): void {
    this.sum -= this.values[this.head]!;
    if (++this.head === this.capacity) this.head = 0;
    this.size--;
  }
  oldestTs(): number {
    return this.ts[this.head]!;
  }
  oldestValue(): number {
    return this.values[this.head]!;
  }
  max(): number {
    let m = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < this.size; i++) {
      const v = this.values[(this.head + i) % this.capacity]!;
      if (v > m) m = v;
    }
    return m;
  }
  min(): number {
    let m = Number.POSITIVE_INFINITY;
    for (let i = 0; i < this.size; i++) {
      const v = this.values[(this.head + i) % this.capacity]!;
      if (v < m) m = v;
    }
    return m;
  }
}

/** Mutable per-limit state; fixed shape so the evaluation loop stays monomorphic. */
export class LimitState {
  // copies of spec fields the hot loop reads (one load instead of two), declared first so the
  // fields evaluate() touches share the object's first cache line
  // (initialised to numbers so the fields hold unboxed-ready number representations in the object,
  // not pointers into the spec)
  /** Signal kind code (signals/index.ts); 0 is the plain value, evaluated inline. */
  readonly kind: number = 0;
  readonly sign: number = 1;
  readonly raiseAt: number = Number.NaN;
  readonly clearBelow: number = Number.NaN;
  // condition
  active = false;
  /** True while an on-delay (inactive) or off-delay (active) runs. */
  pending = false;
  /** Engine (monotonic) time the running delay started. */
  pendingSince = 0;
  /** False while the signal is unusable (delays wait). */
  usable = false;
  /** Latest signal value (what transitions report). */
  x = Number.NaN;
  // occurrence
  alarmId = '';
  /** Event time of the raise (epoch ms) and its engine time (standing-alarm KPI). */
  raisedAt = 0;
  raisedT = 0;
  raisedValue = 0;
  /** Active, and the latest reading could not be used: the value is unreliable. */
  unreliable = false;
  /**
   * Occurrences superseded by a re-announcement (ISA-18.2: back in service while
   * active), closed with 'cleared' when the current one closes; null when none.
   */
  superseded: string[] | null = null;
  /** An occurrence is open: raised and not yet closed (acknowledged after return, or reset). */
  open = false;
  acked = false;
  ackedBy = '';
  /** Latched alarm whose condition returned, waiting for reset (acknowledge). */
  latchedWaiting = false;
  // overrides
  shelve = SHELVE_NONE;
  /** Wall time the timed shelve ends (displays, wire); expiry runs on shelveEndsT. */
  shelvedUntil = 0;
  /** Engine times the shelve started and ends (timed shelving, 24 h cap). */
  shelvedT = 0;
  shelveEndsT = 0;
  /** Wall time the shelve started (persisted: the cap survives a restart). */
  shelvedAt = 0;
  shelvedBy = '';
  suppressed = false;
  outOfService = false;
  overrideBy = '';
  // chattering: the last three raise times
  r1 = Number.NEGATIVE_INFINITY;
  r2 = Number.NEGATIVE_INFINITY;
  r3 = Number.NEGATIVE_INFINITY;
  // signal state, set up by the signal kind's init()
  ring: SampleRing | null = null;
  /** stuck: reference value and when it was last moved from. */
  ref = Number.NaN;
  changedAt = 0;
  /** vote / combination: per-input (term) flags and how many are set. */
  flags: Uint8Array | null = null;
  flagCount = 0;
  /** Combination limits with an `alarm` term on this limit, and that term's index. */
  dependents: LimitState[] = [];
  dependentTerms: number[] = [];
  // signal parameters copied out of the spec as numbers (no string compares per reading)
  /** rate / window / stuck: window length or tolerance. */
  windowMs = 0;
  /** rate: per-unit scale; window: 0 average, 1 max, 2 min. */
  param = 0;
  /** vote: +1 high, -1 low; the signed setpoint and the signed setpoint less the deadband. */
  voteSign = 1;
  voteRaise = 0;
  voteHold = 0;
  /** vote: a bad-quality detector votes; fault: the NE 43 flag. */
  flag = false;
  /** combination: per term, the value must lie strictly between these (±Infinity when open). */
  termAbove: Float64Array | null = null;
  termBelow: Float64Array | null = null;
  /**
   * `same`: the limit this one replaces in a reload, when its signal is unchanged: its
   * signal state (rings, flags) is taken over instead of allocated again (a reload of a
   * large set must not allocate megabytes of rings only to drop them at the swap).
   */
  constructor(
    readonly spec: CompiledLimit,
    readonly sensor: SensorState,
    readonly behaviour: SignalBehaviour,
    same?: LimitState,
  ) {
    this.kind = behaviour.code;
    this.sign = spec.sign;
    this.raiseAt = spec.raiseAt;
    this.clearBelow = spec.clearBelow;
    if (same === undefined) {
      behaviour.init(this, spec.signal);
      return;
    }
    this.ring = same.ring;
    this.flags = same.flags;
    this.windowMs = same.windowMs;
    this.param = same.param;
    this.voteSign = same.voteSign;
    this.voteRaise = same.voteRaise;
    this.voteHold = same.voteHold;
    this.flag = same.flag;
    this.termAbove = same.termAbove;
    this.termBelow = same.termBelow;
  }
}

/** Sets one vote / combination flag, keeping the count. */
export function setFlag(limit: LimitState, index: number, value: number): void {
  const flags = limit.flags!;
  if (flags[index] === value) return;
  flags[index] = value;
  limit.flagCount += value === 1 ? 1 : -1;
}

/** The ISA-18.2 state of an alarm point. */
export function stateOf(limit: LimitState): AlarmLifecycleState {
  if (limit.outOfService) return 'out-of-service';
  if (limit.suppressed) return 'suppressed';
  if (limit.shelve !== SHELVE_NONE) return 'shelved';
  if (limit.active) return limit.acked ? 'acknowledged' : 'unacknowledged';
  if (limit.latchedWaiting) return 'latched';
  if (limit.open && !limit.acked) return 'returned-unacknowledged';
  return 'normal';
}
