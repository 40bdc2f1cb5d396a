/**
 * Reconnect delays: exponential from `initialMs` to `maxMs` with ± jitter, so a plant
 * full of gateways does not reconnect in lockstep after a network outage.
 */

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** Multiplier per failed attempt. */
  factor: number;
  /** Fraction of the delay added or removed at random (0.2 = ±20 %). */
  jitter: number;
}

export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = {
  initialMs: 1000, // 1 s
  maxMs: 30_000, // 30 s
  factor: 2,
  jitter: 0.2, // ±20 %
};

export class Backoff {
  private attempt = 0;

  constructor(
    private readonly options: BackoffOptions = DEFAULT_BACKOFF,
    private readonly random: () => number = Math.random,
  ) {}

  /** Delay before the next attempt; each call counts one more failure. */
  next(): number {
    const { initialMs, maxMs, factor, jitter } = this.options;
    const base = Math.min(maxMs, initialMs * factor ** this.attempt);
    this.attempt++;
    const spread = base * jitter * (this.random() * 2 - 1);
    return Math.max(0, Math.round(Math.min(maxMs, base + spread)));
  }

  /** Call after a success: the next failure starts from initialMs again. */
  reset(): void {
    this.attempt = 0;
  }

  get failures(): number {
    return this.attempt;
  }
}
