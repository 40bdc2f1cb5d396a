/**
 * Evidence per monitoring point, kept up to date as readings arrive, so that a screening pass
 * and the data-quality figures cost O(points), not O(readings): a day of history of 10,000
 * points (about 18 million readings at the national system's pace of one per 47 s) is summed up
 * here as it arrives, never re-read.
 *
 * Per point: the newest reading (value, quality, source and receive time), since when its
 * quality is bad, since when its value has not changed (flat line), the clock skew of the newest
 * reading, the ISA-18.2 lifecycle state learnt from alarm transitions (shelved, out of service,
 * suppressed), and per bucket of the data-quality window the readings received and the time the
 * point was online (a good reading no older than `staleMs`).
 *
 * Times are the server's receive times (the clock), except `lastTs` (source time). Held in
 * memory: after a restart the window refills; conditions that held keep their start time in the
 * store (supervision_conditions), so a restart does not reset a screening timer.
 */
import type { Quality, Reading } from '../../protocol/index.js';

export const BUCKETS = 24; // the window is split in 24 buckets (hours of a day by default)

export type LifecycleState = 'shelved' | 'out-of-service' | 'suppressed';

export interface PointEvidence {
  gatewayId: string;
  enterpriseId: string;
  sensorId: string;
  firstSeenAt: number;
  lastReceivedAt: number;
  lastTs: number;
  lastQuality: Quality;
  lastReason: string | null;
  lastValue: number | boolean | string | null;
  /** Receive time of the first bad reading of the current bad run; null while good. */
  badSince: number | null;
  /** Receive time since which the value has been exactly the same. */
  valueSince: number;
  /** Source time minus receive time of the newest reading, ms (positive: clock ahead). */
  skewMs: number;
  lifecycle: LifecycleState | null;
  lifecycleSince: number | null;
  /** Bucket number (floor(t / bucketMs)) each slot holds, and its figures. */
  bucketIds: Float64Array;
  readings: Float64Array;
  onlineMs: Float64Array;
}

export interface TrackerOptions {
  windowMs: number;
  staleMs: number;
}

const key = (gatewayId: string, sensorId: string) => `${gatewayId}\u0000${sensorId}`;

export class EvidenceTracker {
  private readonly points = new Map<string, PointEvidence>();
  readonly bucketMs: number;

  constructor(private readonly options: TrackerOptions) {
    this.bucketMs = Math.max(1, Math.floor(options.windowMs / BUCKETS));
  }

  get size(): number {
    return this.points.size;
  }

  point(gatewayId: string, sensorId: string): PointEvidence | undefined {
    return this.points.get(key(gatewayId, sensorId));
  }

  all(): IterableIterator<PointEvidence> {
    return this.points.values();
  }

  /** One batch of readings from a gateway, received at `receivedAt` (server clock). */
  noteReadings(
    gatewayId: string,
    enterpriseId: string,
    readings: readonly Reading[],
    receivedAt: number,
  ): void {
    for (const reading of readings) this.noteReading(gatewayId, enterpriseId, reading, receivedAt);
  }

  noteReading(gatewayId: string, enterpriseId: string, reading: Reading, receivedAt: number): void {
    const k = key(gatewayId, reading.sensorId);
    let p = this.points.get(k);
    if (!p) {
      p = {
        gatewayId,
        enterpriseId,
        sensorId: reading.sensorId,
        firstSeenAt: receivedAt,
        lastReceivedAt: receivedAt,
        lastTs: reading.ts,
        lastQuality: reading.quality,
        lastReason: reading.reason ?? null,
        lastValue: reading.value,
        badSince: reading.quality === 'bad' ? receivedAt : null,
        valueSince: receivedAt,
        skewMs: reading.ts - receivedAt,
        lifecycle: null,
        lifecycleSince: null,
        bucketIds: new Float64Array(BUCKETS).fill(-1),
        readings: new Float64Array(BUCKETS),
        onlineMs: new Float64Array(BUCKETS),
      };
      this.points.set(k, p);
      this.count(p, receivedAt);
      return;
    }
    // Online time since the previous reading: up to staleMs after a good one.
    if (p.lastQuality !== 'bad') {
      const online = Math.min(Math.max(0, receivedAt - p.lastReceivedAt), this.options.staleMs);
      const i = this.slot(p, p.lastReceivedAt);
      if (i >= 0) p.onlineMs[i] = (p.onlineMs[i] ?? 0) + online;
    }
    if (reading.value !== p.lastValue) p.valueSince = receivedAt;
    if (reading.quality === 'bad') p.badSince ??= receivedAt;
    else p.badSince = null;
    p.lastReceivedAt = receivedAt;
    p.lastTs = reading.ts;
    p.lastQuality = reading.quality;
    p.lastReason = reading.reason ?? null;
    p.lastValue = reading.value;
    p.skewMs = reading.ts - receivedAt;
    this.count(p, receivedAt);
  }

  /** An ISA-18.2 lifecycle transition of an alarm on this point (from the alarm ledger). */
  noteLifecycle(gatewayId: string, sensorId: string, transition: string, at: number): void {
    const p = this.points.get(key(gatewayId, sensorId));
    if (!p) return; // a point never read: its state is learnt with its first reading
    const entered: Record<string, LifecycleState> = {
      shelved: 'shelved',
      'out-of-service': 'out-of-service',
      suppressed: 'suppressed',
    };
    const state = entered[transition];
    if (state) {
      if (p.lifecycle !== state) p.lifecycleSince = at;
      p.lifecycle = state;
      return;
    }
    const left: Record<string, LifecycleState> = {
      unshelved: 'shelved',
      'in-service': 'out-of-service',
      unsuppressed: 'suppressed',
    };
    if (left[transition] === p.lifecycle) {
      p.lifecycle = null;
      p.lifecycleSince = null;
    }
  }

  /** Readings received and online ms of one point within the window ending at `now`. */
  windowFigures(
    p: PointEvidence,
    now: number,
  ): { readings: number; onlineMs: number; spanMs: number } {
    const newest = Math.floor(now / this.bucketMs);
    const oldest = newest - BUCKETS + 1;
    let readings = 0;
    let onlineMs = 0;
    for (let i = 0; i < BUCKETS; i++) {
      const id = p.bucketIds[i] ?? -1;
      if (id < oldest || id > newest) continue;
      readings += p.readings[i] ?? 0;
      onlineMs += p.onlineMs[i] ?? 0;
    }
    if (p.lastQuality !== 'bad') {
      onlineMs += Math.min(Math.max(0, now - p.lastReceivedAt), this.options.staleMs);
    }
    const windowStart = oldest * this.bucketMs;
    const spanMs = Math.max(1, now - Math.max(windowStart, p.firstSeenAt));
    return { readings, onlineMs: Math.min(onlineMs, spanMs), spanMs };
  }

  private count(p: PointEvidence, at: number): void {
    const i = this.slot(p, at);
    if (i >= 0) p.readings[i] = (p.readings[i] ?? 0) + 1;
  }

  /** The slot of the bucket holding `at` (emptied first when it held an older one); -1 if too old. */
  private slot(p: PointEvidence, at: number): number {
    const id = Math.floor(at / this.bucketMs);
    const i = id % BUCKETS;
    if (p.bucketIds[i] !== id) {
      if ((p.bucketIds[i] ?? -1) > id) return -1; // older than the window
      p.bucketIds[i] = id;
      p.readings[i] = 0;
      p.onlineMs[i] = 0;
    }
    return i;
  }
}
