import type { Reading } from '../../protocol/payloads.js';

/**
 * Receives readings from a source. One call per poll cycle (Modbus) or per
 * data-change notification (OPC UA), never one call per tag. Must not throw;
 * it is called from timer and socket callbacks.
 */
export type ReadingSink = (readings: Reading[]) => void;

/** Reason given with quality 'bad' when a device cannot be reached. */
export const COMM_LOST = 'comm lost';

/**
 * One device's acquisition.
 *
 * Lifecycle: the constructor only stores its arguments. `start()` resolves as soon as
 * polling/subscribing has begun; it never fails and never waits for the device: an
 * unreachable device is retried in the background with bounded backoff, and its tags
 * are emitted once with quality 'bad' and reason 'comm lost' when the device is lost
 * (not on every failed retry). `stop()` cancels everything (timers, sockets, sessions),
 * may be called twice, and no reading reaches the sink after it resolves.
 */
export interface AcquisitionSource {
  readonly deviceId: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** A device going offline or coming back online; sent once per transition. */
export interface DeviceStatusEvent {
  deviceId: string;
  online: boolean;
  /** Why the device went offline (e.g. 'timeout', 'connection refused'). */
  reason?: string;
  ts: number;
}

/** Receives device status transitions; must not throw. */
export type DeviceStatusListener = (event: DeviceStatusEvent) => void;

/**
 * The synthetic status sensor of a device: `<deviceId>.online`, a bool reading (true =
 * online) that rules can alarm on like any other status sensor. Acquisition emits it
 * when AcquisitionDeps.statusReadings is true; config/catalogue.ts deviceStatusSensors()
 * lists these sensors for the birth message and rule compilation.
 */
export function deviceStatusSensorId(deviceId: string): string {
  return `${deviceId}.online`;
}

export function deviceStatusReading(event: DeviceStatusEvent): Reading {
  return {
    sensorId: deviceStatusSensorId(event.deviceId),
    value: event.online,
    quality: 'good',
    ts: event.ts,
  };
}
