/**
 * Telemetry store interface, implemented by the embedded SQLite store
 * (sqlite-store.ts) and the InfluxDB store (influx-store.ts). Every backend
 * passes the shared suite in tests/server/telemetry-store-suite.ts.
 */
import type { Quality, Reading, TelemetryBatch } from '../../protocol/index.js';

export type ReadingValue = number | boolean | string | null;

/** The newest reading of one sensor, as the server knows it. */
export interface LatestReading {
  gatewayId: string;
  enterpriseId: string;
  sensorId: string;
  value: ReadingValue;
  quality: Quality;
  reason?: string;
  /** Source timestamp, epoch ms. */
  ts: number;
  /** When the server received it, epoch ms (server clock). */
  receivedAt: number;
}

/** The `LatestReading` for `reading` of a batch from `gatewayId`, received at `receivedAt` (epoch ms). */
export function latestReadingOf(
  gatewayId: string,
  enterpriseId: string,
  reading: Reading,
  receivedAt: number,
): LatestReading {
  const latest: LatestReading = {
    gatewayId,
    enterpriseId,
    sensorId: reading.sensorId,
    value: reading.value,
    quality: reading.quality,
    ts: reading.ts,
    receivedAt,
  };
  if (reading.reason !== undefined) latest.reason = reading.reason;
  return latest;
}

/** One stored reading, as read back from the store. */
export interface StoredReading extends LatestReading {
  /** Gateway sequence number of the batch that carried it. */
  seq: number;
}

export interface RangeQuery {
  gatewayId: string;
  sensorId: string;
  /** Inclusive lower bound on the source timestamp, epoch ms. */
  from: number;
  /** Inclusive upper bound on the source timestamp, epoch ms. */
  to: number;
  /** At most this many readings: the newest `limit` in the range. */
  limit: number;
}

/** Downsampled history: one bucket per `intervalMs`, aligned to the epoch (as InfluxQL `GROUP BY time()`). */
export interface AggregateQuery {
  gatewayId: string;
  sensorId: string;
  /** Inclusive lower bound on the source timestamp, epoch ms. */
  from: number;
  /** Inclusive upper bound on the source timestamp, epoch ms. */
  to: number;
  /** Bucket width, ms (>= 1). */
  intervalMs: number;
}

/**
 * One bucket of numeric readings whose quality is good or uncertain (bad
 * readings carry no usable value, NAMUR NE 43 fault currents included).
 * Buckets without such readings are left out, not filled.
 */
export interface AggregateBucket {
  /** Bucket start, epoch ms (a multiple of `intervalMs`). */
  ts: number;
  mean: number;
  min: number;
  max: number;
  count: number;
}

export interface LatestQuery {
  gatewayId: string;
  sensorId: string;
  /** Newest reading at or before this source time, epoch ms; default: the newest of all. */
  at?: number;
}

/**
 * Lifecycle: `start()` opens the backend (and loads what `latest()` needs);
 * `stop()` closes it and is safe to call twice. Between them:
 * - `writeBatch` resolves only after the whole batch is durably committed (the
 *   app-level ack to the gateway is sent after it resolves) and rejects if
 *   nothing was committed. Writing the same batch twice stores each reading once:
 *   a reading is identified by (gatewayId, sensorId, ts).
 * - `latest()` is synchronous and cheap (kept in memory): the newest reading per
 *   (gatewayId, sensorId) by source timestamp.
 * - `queryRange` returns readings of one sensor in ascending time order.
 * - Readings older than the retention period (at least 30 days, SAWS Order 40
 *   art. 13) may be deleted by the backend; newer ones never are.
 */
export interface TelemetryStore {
  start(): Promise<void>;
  stop(): Promise<void>;
  writeBatch(batch: TelemetryBatch): Promise<void>;
  latest(): LatestReading[];
  queryRange(q: RangeQuery): Promise<StoredReading[]>;
  /** Mean, min, max and count per interval, ascending by bucket start. */
  queryAggregate(q: AggregateQuery): Promise<AggregateBucket[]>;
  /** The newest stored reading of one sensor (at or before `at`), read from the backend; null if none. */
  queryLatest(q: LatestQuery): Promise<StoredReading | null>;
}
