/**
 * Real elapsed time for pacing I/O (token bucket, ack timeouts, rates): the
 * injected clock stamps data, but the network runs on real time, and a test's
 * manual clock must not stall a replay.
 */
export const monotonic = (): number => performance.now();

/** Sums over a sliding window of one-second buckets. */
export class RateMeter {
  private readonly buckets = new Map<number, number>();

  constructor(private readonly windowMs: number) {}

  add(n: number): void {
    const key = Math.floor(monotonic() / 1000);
    this.buckets.set(key, (this.buckets.get(key) ?? 0) + n);
  }

  perSecond(): number {
    const now = monotonic();
    const oldest = Math.floor((now - this.windowMs) / 1000);
    let sum = 0;
    for (const [key, n] of this.buckets) {
      if (key <= oldest) this.buckets.delete(key);
      else sum += n;
    }
    return sum / (this.windowMs / 1000);
  }
}
