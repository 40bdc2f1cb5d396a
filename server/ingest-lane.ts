/**
 * The telemetry lane of ingest: telemetry waits its turn behind alarms (issue 19).
 *
 * Every gateway's messages reach ingest on one event loop. A telemetry batch
 * costs milliseconds (parse and validate thousands of readings, then the store's
 * commit); an alarm arriving while a row of batches is being handled would wait
 * for all of them. So telemetry is not handled where it arrives: it joins this
 * FIFO, which runs from a setImmediate and hands back the loop after each
 * `budgetMs` of work (at least one item per turn). An alarm, handled where it
 * arrives, then waits for at most one turn's worth of telemetry, however much
 * telemetry is queued.
 *
 * Order per connection is unchanged: the broker hands a connection its next
 * packet only after ingest finished the previous one. Nothing is dropped: the
 * lane only decides when. The embedded telemetry store's inline writer runs its
 * commits on one too (store/sqlite-write-lane.ts). Lifecycle: none; items run
 * in the order given, so an empty item run last resolves once all before it ran.
 */

export const TELEMETRY_LANE_DEFAULTS = {
  budgetMs: 2, // 2 ms of telemetry work per event-loop turn, then alarms and I/O get theirs
} as const;

export class TelemetryLane {
  private readonly queue: (() => void)[] = [];
  private scheduled = false;
  private readonly budgetMs: number;

  constructor(options: { budgetMs?: number } = {}) {
    this.budgetMs = options.budgetMs ?? TELEMETRY_LANE_DEFAULTS.budgetMs;
  }

  /** Items waiting for their turn. */
  get length(): number {
    return this.queue.length;
  }

  /** Runs `work` in its turn; resolves or rejects as its promise does. */
  run<T>(work: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push(() => {
        work().then(resolve, reject);
      });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.turn());
  }

  private turn(): void {
    this.scheduled = false;
    const until = performance.now() + this.budgetMs;
    do {
      const next = this.queue.shift();
      if (!next) return;
      try {
        next();
      } catch {
        // run() wraps every item in a promise: nothing reaches here
      }
    } while (performance.now() < until);
    if (this.queue.length > 0) this.schedule();
  }
}
