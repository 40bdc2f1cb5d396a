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

/**
 * The one gate every driver's readings pass through on their way to the sink, so that
 * one rule holds for every protocol: a value is reported good only when it was freshly
 * read with a good status in the current connection, and any path that re-emits a value
 * (refresh, catch-up, reconnect) carries the status the server gave the point then.
 *
 * How a driver uses it:
 * - `generation` names the current connection; it changes at every `lost()`. A driver
 *   notes it before a request and passes it with the result, so a value read before
 *   the loss is dropped, never emitted as good after the loss was reported (bad
 *   readings of that request still pass: they claim no value, and say what failed).
 * - `fresh(gen, readings)`: values straight from the device (a poll reply, a data-change
 *   notification). They prove the point is acquired in this connection.
 * - `catchUp(gen, readings)`: values read to fill a gap (the read after a reconnection).
 *   A good or uncertain value passes only for a point that is acquired in this
 *   connection (`accept()` or a fresh reading since the last loss); for a point the
 *   server refused it becomes bad with the refusal's reason; otherwise it is dropped.
 * - `refuse(sensorId, reason)`: the server refused to acquire the point (a monitored
 *   item refused); emits bad `reason` unless that is already the point's last state.
 *   `accept(sensorId)` undoes it.
 * - `lost(sensorIds, reason)`: the connection is gone: each point is emitted once as bad
 *   `reason`, nothing counts as acquired until it is confirmed again.
 *
 * With `repeats: 'drop'` (drivers whose ts is the device's sample time, as OPC UA's
 * source timestamp) a reading identical to the point's last emitted one (value, quality,
 * reason, ts) is dropped: a catch-up read and a regular read of one sample are one
 * reading. Drivers that stamp each reply with the reply time (Modbus) keep 'keep': two
 * replies are two samples even when a manual test clock gives them one ts.
 * Never throws; a throwing sink is reported through `onSinkError`.
 */
export class ReadingGate {
  /** Readings dropped: from an earlier connection, duplicates, unconfirmed catch-ups. */
  readonly counters = { staleGeneration: 0, duplicates: 0, unconfirmed: 0, downgraded: 0 };
  private current = 0;
  /** sensorId → generation in which the point was last confirmed as acquired. */
  private readonly confirmed = new Map<string, number>();
  /** sensorId → why the server refuses to acquire it. */
  private readonly refused = new Map<string, string>();
  private readonly last = new Map<string, Reading>();

  private readonly dropRepeats: boolean;
  private readonly onSinkError: (err: unknown) => void;

  constructor(
    private readonly sink: ReadingSink,
    options: { repeats?: 'drop' | 'keep'; onSinkError?: (err: unknown) => void } = {},
  ) {
    this.dropRepeats = options.repeats === 'drop';
    this.onSinkError = options.onSinkError ?? (() => {});
  }

  /** The current connection; changes at every lost(). */
  get generation(): number {
    return this.current;
  }

  /** True when the point was confirmed as acquired in the current connection. */
  isAcquired(sensorId: string): boolean {
    return this.confirmed.get(sensorId) === this.current;
  }

  fresh(generation: number, readings: readonly Reading[]): void {
    if (generation !== this.current) {
      this.emit(this.onlyBad(readings));
      return;
    }
    for (const reading of readings) {
      this.confirmed.set(reading.sensorId, generation);
      this.refused.delete(reading.sensorId);
    }
    this.emit(readings);
  }

  catchUp(generation: number, readings: readonly Reading[]): void {
    if (generation !== this.current) {
      this.emit(this.onlyBad(readings));
      return;
    }
    const out: Reading[] = [];
    for (const reading of readings) {
      if (reading.quality === 'bad' || this.isAcquired(reading.sensorId)) {
        out.push(reading);
        continue;
      }
      const reason = this.refused.get(reading.sensorId);
      if (reason === undefined) {
        this.counters.unconfirmed++;
        continue;
      }
      this.counters.downgraded++;
      const bad: Reading = {
        sensorId: reading.sensorId,
        value: null,
        quality: 'bad',
        reason,
        ts: reading.ts,
      };
      if (!this.sameState(bad)) out.push(bad);
    }
    this.emit(out);
  }

  refuse(sensorId: string, reason: string, ts: number): void {
    this.refused.set(sensorId, reason);
    this.confirmed.delete(sensorId);
    const bad: Reading = { sensorId, value: null, quality: 'bad', reason, ts };
    if (!this.sameState(bad)) this.emit([bad]);
  }

  accept(sensorId: string): void {
    this.refused.delete(sensorId);
    this.confirmed.set(sensorId, this.current);
  }

  /** Why the server refuses the point, or undefined. */
  refusal(sensorId: string): string | undefined {
    return this.refused.get(sensorId);
  }

  lost(sensorIds: readonly string[], reason: string, ts: number): void {
    this.current++;
    this.confirmed.clear();
    this.emit(sensorIds.map((sensorId) => ({ sensorId, value: null, quality: 'bad', reason, ts })));
  }

  /** The bad readings of a request from an earlier connection; the values are dropped. */
  private onlyBad(readings: readonly Reading[]): Reading[] {
    const bad = readings.filter((reading) => reading.quality === 'bad');
    this.counters.staleGeneration += readings.length - bad.length;
    return bad;
  }

  /** Same quality, value and reason as the last emitted reading (ts aside). */
  private sameState(reading: Reading): boolean {
    const last = this.last.get(reading.sensorId);
    return (
      last !== undefined &&
      last.quality === reading.quality &&
      last.value === reading.value &&
      last.reason === reading.reason
    );
  }

  private emit(readings: readonly Reading[]): void {
    const out: Reading[] = [];
    for (const reading of readings) {
      const last = this.last.get(reading.sensorId);
      if (
        this.dropRepeats &&
        last !== undefined &&
        last.ts === reading.ts &&
        last.value === reading.value &&
        last.quality === reading.quality &&
        last.reason === reading.reason
      ) {
        this.counters.duplicates++;
        continue;
      }
      this.last.set(reading.sensorId, reading);
      out.push(reading);
    }
    if (out.length === 0) return;
    try {
      this.sink(out);
    } catch (err) {
      this.onSinkError(err);
    }
  }
}
