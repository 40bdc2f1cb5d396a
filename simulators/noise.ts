/**
 * Deterministic measurement noise for the simulated instruments.
 *
 * A seeded PRNG (mulberry32) feeds an Ornstein–Uhlenbeck-style drift: each sample moves part of
 * the way back to zero and picks up fresh Gaussian noise, so a reading wanders smoothly around its
 * level instead of jumping independently every tick, and the long-run standard deviation equals
 * the configured `noise`. The same seed and the same number of samples give the same sequence.
 */

const DEFAULTS = {
  /** Share of the previous offset kept at each sample (0..1): higher drifts more slowly. */
  persistence: 0.8,
};

/** mulberry32: a small, fast, well-mixed 32-bit PRNG; returns floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal sample by the Box–Muller transform. */
export function gaussian(random: () => number): number {
  const u = 1 - random(); // (0, 1]: keeps log() finite
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/**
 * A drifting offset with long-run standard deviation `stdDev`. `next()` advances one sample.
 * Lifecycle: plain object, no timers; the owner decides when to sample.
 */
export class DriftingNoise {
  private offset = 0;
  private readonly innovation: number;

  constructor(
    private readonly random: () => number,
    private readonly stdDev: number,
    private readonly persistence = DEFAULTS.persistence,
  ) {
    // Var(offset) = innovation² / (1 - persistence²) = stdDev²
    this.innovation = stdDev * Math.sqrt(1 - persistence * persistence);
  }

  next(): number {
    if (this.stdDev <= 0) return 0;
    this.offset = this.persistence * this.offset + this.innovation * gaussian(this.random);
    return this.offset;
  }
}

export function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}
