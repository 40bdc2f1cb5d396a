import type { Reading } from '../../protocol/index.js';
import type { AlarmEvent } from '../../protocol/payloads.js';

/** An alarm transition as the edge produces it: the AlarmEvent without the uplink's envelope. */
export type AlarmTransitionPayload = Omit<
  AlarmEvent,
  'v' | 'gatewayId' | 'enterpriseId' | 'seq' | 'sentAt'
>;

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
  /** Whether the transport is connected right now. */
  readonly connected: boolean;
}
