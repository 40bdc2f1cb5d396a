import type { Reading } from '../../protocol/index.js';
import type { AlarmEvent } from '../../protocol/payloads.js';

/** An alarm transition as the edge produces it: the AlarmEvent without the uplink's envelope. */
export type AlarmTransitionPayload = Omit<
  AlarmEvent,
  'v' | 'gatewayId' | 'enterpriseId' | 'seq' | 'epoch' | 'sentAt'
>;

/** What the uplink holds and how fast it drains (health endpoint, logs, the edge's own status sensors). */
export interface UplinkHealth {
  connected: boolean;
  /** Whether items survive a restart (false: in-memory outbox). */
  durable: boolean;
  backlog: {
    alarms: { items: number; bytes: number };
    telemetry: { items: number; bytes: number; readings: number };
  };
  /** Telemetry bytes as % of the configured bound. */
  fillPct: number;
  telemetryMaxBytes: number;
  highWater: boolean;
  /** Items sent and not yet acknowledged. */
  inFlight: number;
  /** Telemetry shed by the outbox's policy (counted since the outbox was created). */
  dropped: { batches: number; readings: number };
  /** Items the server refused as invalid and acknowledged as rejected (dropped, since start). */
  rejected: number;
  /** Items that did not read back from the outbox (garbled on disk): quarantined, never sent. */
  quarantined: number;
  /** Corrupt outbox files moved aside (and replaced by a fresh outbox) since start. */
  storageFaults: number;
  /** The outbox epoch sent with every item (docs/durability.md). */
  epoch: string;
  /** Items that could not be written to the outbox (disk full, I/O error), since start. */
  writeFailures: number;
  /** Items sent again after an ack timeout or a reconnect, since start. */
  resends: number;
  /** Readings per second entering the outbox (recent average). */
  liveReadingsPerS: number;
  /** Readings per second acknowledged by the server (recent average). */
  ackedReadingsPerS: number;
  /** Replay bound in force, readings per second: the configured one, or 3x the live rate if higher. */
  replayReadingsPerS: number;
  /** Seconds until the telemetry backlog is drained at the current pace; null while disconnected. */
  estimatedDrainS: number | null;
  /** Age of the oldest item held, ms. */
  oldestAgeMs: number;
  /** Gateway time of the last StoreAck, epoch ms; null if none yet. */
  lastAckAt: number | null;
}

/**
 * Carries telemetry and alarm transitions from the gateway to the server.
 *
 * Lifecycle: `start()` begins connecting and returns without waiting for the
 * server (acquisition and local alarms never wait on the uplink); `stop()`
 * flushes buffered telemetry, publishes a clean offline status and disconnects.
 * Publishing before `start()` or after `stop()` throws.
 */
export interface Uplink {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Queues readings; they leave in batches every publish interval. */
  publishReadings(readings: readonly Reading[]): void;
  /** Sends an alarm transition at once, ahead of any queued telemetry. */
  publishAlarm(transition: AlarmTransitionPayload): void;
  /**
   * Sends the transitions of one evaluation at once, in order, ahead of any
   * queued telemetry; a store-and-forward uplink commits them together (one
   * fsync) before sending. Optional: callers fall back to publishAlarm.
   */
  publishAlarms?(transitions: readonly AlarmTransitionPayload[]): void;
  /** Whether the transport is connected right now. */
  readonly connected: boolean;
  /** Backlog, drain and loss figures (store-and-forward uplinks). */
  health?(): UplinkHealth;
}
