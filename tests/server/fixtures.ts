/** Payload builders and small async helpers shared by the server tests. */
import type {
  AlarmEvent,
  GatewayStatus,
  Reading,
  SensorInfo,
  TelemetryBatch,
} from '../../protocol/index.js';

export const T0 = Date.UTC(2026, 0, 1, 8, 0, 0);
export const SECRET = 'test-secret-0123456789';

let nextSeq = 1;

export function batch(
  readings: Partial<Reading>[] = [{}],
  overrides: Partial<TelemetryBatch> = {},
): TelemetryBatch {
  return {
    v: 1,
    gatewayId: 'gw-01',
    enterpriseId: 'ent-01',
    seq: nextSeq++,
    sentAt: T0,
    readings: readings.map((r, i) => ({
      sensorId: 'GT-101',
      value: 10 + i,
      quality: 'good',
      ts: T0 + i * 1000,
      ...r,
    })),
    ...overrides,
  };
}

export function alarmEvent(overrides: Partial<AlarmEvent> = {}): AlarmEvent {
  return {
    v: 1,
    gatewayId: 'gw-01',
    enterpriseId: 'ent-01',
    seq: nextSeq++,
    sentAt: T0,
    alarmId: 'GT-101-gas.L2.1',
    ruleId: 'GT-101-gas',
    sensorId: 'GT-101',
    sensorName: 'Reactor hall methane',
    installationId: 'unit-1',
    location: 'Reactor hall, east wall',
    gas: 'methane',
    level: 2,
    transition: 'raised',
    value: 52.4,
    unit: '%LEL',
    setpoint: 50, // GB/T 50493-2019 §5.5.3 item 1: level 2 <= 50 %LEL
    ts: T0,
    drill: false,
    ...overrides,
  };
}

export const SENSORS: SensorInfo[] = [
  {
    sensorId: 'GT-101',
    name: 'Reactor hall methane',
    kind: 'gas',
    unit: '%LEL',
    gas: 'methane',
    installationId: 'unit-1',
    location: 'Reactor hall, east wall',
    rangeMin: 0,
    rangeMax: 100,
  },
  { sensorId: 'TT-201', name: 'Tank 2 temperature', kind: 'temperature', unit: '°C' },
];

export function status(overrides: Partial<GatewayStatus> = {}): GatewayStatus {
  return {
    v: 1,
    gatewayId: 'gw-01',
    enterpriseId: 'ent-01',
    state: 'online',
    ts: T0,
    ...overrides,
  };
}

/** Polls until `check` returns a truthy value (for outcomes of real network I/O). */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  what: string,
  timeoutMs = 5_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
