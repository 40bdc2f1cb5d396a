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

/**
 * `ms` moved at random by up to ±`jitter` (0.2 = ±20 %), rounded, at least 1 ms. For a
 * library that takes its delays as fixed numbers and does not jitter them itself:
 * node-opcua's reconnection after a lost connection builds its backoff from
 * connectionStrategy.initialDelay and maxDelay only, dropping randomisationFactor
 * (node-opcua-client client_base_impl.js _recreate_secure_channel, 2.182), so every
 * client retries at exactly 1, 2, 4, ... s; opcua-source.ts draws those two delays
 * here for every reconnection instead.
 */
export function jittered(ms: number, jitter: number, random: () => number = Math.random): number {
  return Math.max(1, Math.round(ms * (1 + jitter * (random() * 2 - 1))));
}
