/**
 * Injected time source. Everything time-dependent (delays, staleness, backoff)
 * takes a Clock so tests drive it with fake time instead of sleeping.
 *
 * Two kinds of time: `now()` is the wall clock (epoch ms: what event times are
 * stamped with; it can step when NTP or an operator sets it), `monotonic()` only
 * ever moves forward at the rate time passes (durations: delays, shelving,
 * staleness). Clocks without `monotonic()` measure durations on the wall clock.
 */
export interface Clock {
  /** Epoch milliseconds (wall clock; may step). */
  now(): number;
  /** Milliseconds from an arbitrary origin; never steps, never goes back. */
  monotonic?(): number;
}

/** A clock with both kinds of time. */
export interface MonotonicClock extends Clock {
  monotonic(): number;
}

export const systemClock: MonotonicClock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
};

/** The monotonic time of `clock`, or its wall time for a clock that has none. */
export function monotonicOf(clock: Clock): () => number {
  const monotonic = clock.monotonic;
  return monotonic ? () => monotonic.call(clock) : () => clock.now();
}

/**
 * A clock tests move by hand. advance() and a forward set() are time passing (both
 * clocks move); step() and a backward set() move the wall clock only, as NTP or an
 * operator setting the clock would.
 */
export class ManualClock implements MonotonicClock {
  private mono = 0;
  constructor(private current = Date.UTC(2026, 0, 1)) {}
  now(): number {
    return this.current;
  }
  monotonic(): number {
    return this.mono;
  }
  set(ms: number): void {
    if (ms > this.current) this.mono += ms - this.current;
    this.current = ms;
  }
  advance(ms: number): void {
    this.current += ms;
    this.mono += Math.max(0, ms);
  }
  /** Steps the wall clock by `ms` (either sign) while no time passes. */
  step(ms: number): void {
    this.current += ms;
  }
}
