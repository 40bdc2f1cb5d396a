/**
 * The gateway's own diagnostic points and alarms: what the gateway knows about itself that no
 * field device reports. Its outbox fill and shed count, storage faults (a corrupt outbox or
 * alarm-state file moved aside), and wall-clock steps.
 *
 * Points are ordinary readings of sensors whose ids start with `_` (rules can alarm on them; the
 * platform keeps them out of process-point counts). A storage fault is also announced as an
 * alarm of its own, without any rule, because a plant engineer must learn that local history was
 * set aside even when nobody wrote a rule for it: raised and, since the gateway has already
 * recovered (a fresh file is in use), returned to normal in the same instant, so that it stays
 * "returned, unacknowledged" until someone acknowledges it (ISA-18.2 / IEC 62682 state model).
 * Level 1: it is a maintenance alarm, never an emergency page.
 *
 * Lifecycle: the constructor stores its arguments; no I/O; nothing to stop.
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../common/clock.js';
import type { EdgeAlarmTransition } from '../edge/index.js';
import type { Reading, SensorInfo } from '../protocol/index.js';
import { deviceStatusSensors, type GatewayConfig, sensorCatalogue } from './config/index.js';

/** Sensor ids of the gateway's diagnostic points (all start with `_`). */
export const DIAGNOSTIC_SENSOR_IDS = {
  uplinkBacklog: '_uplink.backlog',
  uplinkDropped: '_uplink.dropped',
  storageFaults: '_gateway.storage_faults',
  clockStep: '_gateway.clock_step',
} as const;

/**
 * The gateway's own status sensors. The uplink reports its outbox through the first two at
 * start and every few seconds (so they are never "no data yet" on a healthy gateway), and at
 * once when the outbox crosses its high-water mark or sheds; storage faults count up; a clock
 * step is reported with its size.
 */
export const GATEWAY_DIAGNOSTIC_SENSORS: readonly SensorInfo[] = [
  {
    sensorId: DIAGNOSTIC_SENSOR_IDS.uplinkBacklog,
    name: 'Uplink outbox fill (telemetry)',
    kind: 'status',
    unit: '%',
    rangeMin: 0,
    rangeMax: 100,
  },
  {
    sensorId: DIAGNOSTIC_SENSOR_IDS.uplinkDropped,
    name: 'Uplink telemetry readings shed (total)',
    kind: 'status',
    unit: 'readings',
  },
  {
    sensorId: DIAGNOSTIC_SENSOR_IDS.storageFaults,
    name: 'Local storage faults (files moved aside since start)',
    kind: 'status',
    unit: 'faults',
  },
  {
    sensorId: DIAGNOSTIC_SENSOR_IDS.clockStep,
    name: 'Wall-clock step seen by the alarm engine',
    kind: 'status',
    unit: 'ms',
  },
];

/**
 * Every sensor a gateway with this config has: its field sensors, then its own status points
 * (each device's `<deviceId>.online`, the outbox, storage faults, clock steps). Rules compile
 * against this catalogue, at start and when the fleet checks a pushed version: one list, so a
 * version that passes the check also starts.
 */
export function gatewaySensors(config: GatewayConfig): SensorInfo[] {
  return [
    ...sensorCatalogue(config),
    ...deviceStatusSensors(config),
    ...GATEWAY_DIAGNOSTIC_SENSORS,
  ];
}

/** A local file the gateway could not use and moved aside, or an item it could not read back. */
export interface StorageFault {
  /** Which file: 'outbox' or 'alarm state'. */
  readonly what: string;
  readonly path: string;
  readonly movedTo?: string | undefined;
  readonly error: string;
  /** What was lost, when the fault was not a whole file moved aside (an unreadable item). */
  readonly lost?: string | undefined;
}

export class GatewayDiagnostics {
  private storageFaults = 0;
  private alarmCounter = 0;
  /** Random per process, so ids never repeat across restarts (not derived from any clock). */
  private readonly instance = randomBytes(4).toString('hex');

  constructor(
    private readonly gatewayId: string,
    private readonly clock: Clock,
  ) {}

  /** The storage-fault alarm (raised, then returned to normal) and the fault-count reading. */
  storageFault(fault: StorageFault): {
    transitions: EdgeAlarmTransition[];
    reading: Reading;
  } {
    this.storageFaults++;
    const ts = this.clock.now();
    const where = fault.movedTo ? `moved to ${fault.movedTo}` : 'could not be moved aside';
    const message = fault.lost
      ? `local storage fault: ${fault.what} in ${fault.path}: ${fault.lost} (${fault.error})`
      : `local storage fault: ${fault.what} file ${fault.path} ${where}; started with a fresh one (${fault.error})`;
    const alarmId = `_gateway.storage.${this.gatewayId}.${this.instance}-${++this.alarmCounter}`;
    const base = {
      alarmId,
      ruleId: '_gateway.storage',
      sensorId: DIAGNOSTIC_SENSOR_IDS.storageFaults,
      sensorName: 'Local storage',
      level: 1 as const,
      value: this.storageFaults,
      unit: 'faults',
      setpoint: 1,
      ts,
      drill: false,
      message: message.slice(0, 1000),
    };
    return {
      transitions: [
        { ...base, transition: 'raised', state: 'unacknowledged' },
        { ...base, transition: 'cleared', state: 'returned-unacknowledged' },
      ],
      reading: {
        sensorId: DIAGNOSTIC_SENSOR_IDS.storageFaults,
        value: this.storageFaults,
        quality: 'good',
        ts,
      },
    };
  }

  /** A wall-clock step as a reading of `_gateway.clock_step` (its size in ms, signed). */
  clockStep(stepMs: number, at: number): Reading {
    return { sensorId: DIAGNOSTIC_SENSOR_IDS.clockStep, value: stepMs, quality: 'good', ts: at };
  }

  /** The storage-fault count as a reading: 0 at start, so the point is never "no data yet". */
  storageFaultCount(): Reading {
    return {
      sensorId: DIAGNOSTIC_SENSOR_IDS.storageFaults,
      value: this.storageFaults,
      quality: 'good',
      ts: this.clock.now(),
    };
  }
}
