/**
 * Garbage-collection pauses of one process, for attributing the e2e bench's slow
 * hops: each pause is reported with its wall-clock start (performance.timeOrigin +
 * entry.startTime) so pauses of the server process and of the bench process can
 * be laid over the same alarm's hop windows (bench/e2e-trace.ts).
 *
 * Lifecycle: start() installs a PerformanceObserver for 'gc' entries; stop()
 * removes it. Costs one callback per collection, nothing on the alarm path.
 */
import { type PerformanceEntry, PerformanceObserver } from 'node:perf_hooks';

export interface GcPause {
  /** Which process paused: 'server' or 'bench'. */
  process: string;
  /** Wall-clock ms at the start of the pause. */
  at: number;
  ms: number;
  /** node:perf_hooks constants.NODE_PERFORMANCE_GC_*: 1 minor (scavenge), 4 major (mark-compact), 8 incremental, 16 weak callbacks. */
  kind: number;
}

/** Pauses shorter than this cannot explain a slow hop; they are not reported. */
const MIN_PAUSE_MS = 1;

export class GcProbe {
  private observer: PerformanceObserver | null = null;

  constructor(
    private readonly process: string,
    private readonly onPause: (pause: GcPause) => void,
  ) {}

  start(): void {
    const origin = performance.timeOrigin;
    this.observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        if (entry.duration < MIN_PAUSE_MS) continue;
        const kind = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ?? 0;
        this.onPause({
          process: this.process,
          at: origin + entry.startTime,
          ms: entry.duration,
          kind,
        });
      }
    });
    this.observer.observe({ entryTypes: ['gc'] });
  }

  stop(): void {
    this.observer?.disconnect();
    this.observer = null;
  }
}
