/** Defaults, options and figures of the gateway's disk outbox (outbox.ts). */
import type { Clock } from '../../common/clock.js';
import type { OutboxStorageFault } from './storage-fault.js';

export const OUTBOX_DEFAULTS = {
  path: ':memory:', // no file: a restart loses the backlog (tests only; configure uplink.outbox.path)
  telemetryMaxBytes: 256 * 1024 * 1024, // 256 MiB ≈ 12 h at 100 readings/s (≈ 60 B per reading as JSON)
  alarmReserveBytes: 16 * 1024 * 1024, // 16 MiB ≈ 30,000 alarm events of ≈ 500 B
  highWaterPct: 80, // % of telemetryMaxBytes: the high-water event
  highWaterHysteresisPct: 10, // the event re-arms 10 points below the mark
  telemetrySync: 'full' as OutboxSync, // see the module comment
  seqBlock: 1_000_000, // sequence numbers reserved per durable counter write
  shedFraction: 0.25, // oldest quarter of the telemetry backlog is thinned per shedding step
} as const;

export type OutboxSync = 'full' | 'normal';
export type OutboxLane = 'alarm' | 'telemetry';

export interface OutboxOptions {
  /** SQLite file; ':memory:' keeps the outbox in memory (not durable). */
  path?: string;
  telemetryMaxBytes?: number;
  alarmReserveBytes?: number;
  highWaterPct?: number;
  telemetrySync?: OutboxSync;
  clock?: Clock;
  /** Called when the telemetry lane crosses the high-water mark (true) and when it falls back (false). */
  onHighWater?(high: boolean, stats: OutboxStats): void;
  /** Called after each shedding step with what it dropped. */
  onShed?(dropped: { batches: number; readings: number }, stats: OutboxStats): void;
  /**
   * Called after a corrupt file was moved aside and a fresh outbox opened in
   * its place (at open, or when SQLite reports corruption later). Must not throw.
   */
  onStorageFault?(fault: OutboxStorageFault, stats: OutboxStats): void;
  /**
   * Called with the new sequence numbers of each chunk of telemetry salvaged after the fault
   * was reported (one chunk per event-loop turn; committed FULL, so sendable at once). The
   * alarms salvaged inside the fault are already in the outbox when `onStorageFault` runs.
   * Must not throw.
   */
  onSalvaged?(seqs: readonly number[]): void;
  /**
   * Called once for a fault reported with `pending` telemetry, when its salvage ends (all
   * copied, or stopped by close()): the same fault with the final `salvaged` and `unsent`
   * counts and no `pending`. Must not throw.
   */
  onSalvageEnd?(fault: OutboxStorageFault, stats: OutboxStats): void;
  /** Called when an item that does not read back was quarantined. Must not throw. */
  onQuarantine?(item: { seq: number; lane: OutboxLane; reason: string }, stats: OutboxStats): void;
  /**
   * Called with telemetry items (in append order) whose fsync has completed: with
   * `telemetrySync: 'full'` an item may be sent only from then on. Must not throw.
   */
  onTelemetrySynced?(seqs: readonly number[]): void;
  /**
   * The background fsync of `walPath` (default: fdatasync in libuv's thread pool,
   * off the event loop). Tests replace it to hold the fsync and see what waits for it.
   */
  syncFile?(walPath: string, done: (err: Error | null) => void): void;
}

/** One item's bookkeeping (the payload stays on disk). */
export interface OutboxEntry {
  seq: number;
  lane: OutboxLane;
  bytes: number;
  /** Readings in a telemetry batch; 0 for an alarm. */
  readings: number;
  /** When the item was appended, epoch ms. */
  createdAt: number;
}

export interface OutboxStats {
  alarms: { items: number; bytes: number };
  telemetry: { items: number; bytes: number; readings: number };
  telemetryMaxBytes: number;
  /** Telemetry bytes as % of telemetryMaxBytes. */
  fillPct: number;
  highWater: boolean;
  /** Shed by the policy since the outbox was created (persisted). */
  dropped: { batches: number; readings: number };
  /** Appends that could not be written (disk full, I/O error), since start. */
  writeFailures: number;
  /** Items that did not read back, set aside in the quarantine table (persisted). */
  quarantined: number;
  /** Corrupt files moved aside since start. */
  storageFaults: number;
  /** This outbox file's epoch (sent with every item). */
  epoch: string;
  /** Age of the oldest item, ms; 0 when empty. */
  oldestAgeMs: number;
  nextSeq: number;
}

/** How a lane is stored in the `lane` column. */
export const LANE_CODE: Record<OutboxLane, number> = { alarm: 0, telemetry: 1 };
