/**
 * Telemetry store interface. The embedded SQLite store (sqlite-store.ts)
 * implements it today; an InfluxDB backend will implement the same interface.
 */
import type { Quality, TelemetryBatch } from '../../protocol/index.js';

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
 */
export interface TelemetryStore {
  start(): Promise<void>;
  stop(): Promise<void>;
  writeBatch(batch: TelemetryBatch): Promise<void>;
  latest(): LatestReading[];
  queryRange(q: RangeQuery): Promise<StoredReading[]>;
}
