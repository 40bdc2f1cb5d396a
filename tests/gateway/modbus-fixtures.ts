/**
 * Shared fixtures of the Modbus gateway tests: tags and device configs, a reading recorder,
 * a polling wait, and `modbusFixtures()`, which starts simulators and sources and stops
 * them (last started first) after each test.
 */
import { afterEach } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import type { ModbusLinkPool } from '../../gateway/acquisition/modbus/link.js';
import { ModbusSource } from '../../gateway/acquisition/modbus/modbus-source.js';
import type { DeviceStatusEvent } from '../../gateway/acquisition/source.js';
import type {
  ModbusDeviceConfig,
  ModbusRegisterConfig,
  ModbusRtuDeviceConfig,
  ModbusTagConfig,
} from '../../gateway/config/types.js';
import type { Reading } from '../../protocol/payloads.js';
import {
  type Fault,
  ModbusDeviceSimulator,
  type UnitSpec,
} from '../../simulators/modbus-device.js';

export type Cleanup = () => Promise<void> | void;

/** A tag of kind 'other': uint16, ABCD, scale 1, offset 0 unless `register` says otherwise. */
export function tag(
  sensorId: string,
  register: Partial<ModbusRegisterConfig> & Pick<ModbusRegisterConfig, 'table' | 'address'>,
  extra: Partial<ModbusTagConfig> = {},
): ModbusTagConfig {
  return {
    sensorId,
    name: sensorId,
    kind: 'other',
    unit: '',
    register: { type: 'uint16', wordOrder: 'ABCD', scale: 1, offset: 0, ...register },
    ...extra,
  };
}

/** 'dev-1', Modbus TCP to the simulator's port, unit 1, polled every 50 ms, 150 ms timeout. */
export function device(
  sim: ModbusDeviceSimulator,
  tags: ModbusTagConfig[],
  extra: Partial<ModbusDeviceConfig> = {},
): ModbusDeviceConfig {
  return {
    id: 'dev-1',
    protocol: 'modbus-tcp',
    host: '127.0.0.1',
    port: sim.port,
    unitId: 1,
    pollIntervalMs: 50,
    timeoutMs: 150,
    maxRegistersPerRead: 125,
    tags,
    ...extra,
  } as ModbusDeviceConfig;
}

/** Modbus RTU on `serialPort` at 115,200 baud 8E1, polled every 50 ms, 300 ms timeout. */
export function rtuDevice(
  serialPort: string,
  id: string,
  unitId: number,
  tags: ModbusTagConfig[],
  extra: Partial<ModbusRtuDeviceConfig> = {},
): ModbusRtuDeviceConfig {
  return {
    id,
    protocol: 'modbus-rtu',
    serialPort,
    baudRate: 115_200,
    parity: 'even',
    dataBits: 8,
    stopBits: 1,
    unitId,
    pollIntervalMs: 50,
    timeoutMs: 300,
    maxRegistersPerRead: 125,
    tags,
    ...extra,
  };
}

/** Collects every batch a source emits. */
export function recorder() {
  const batches: Reading[][] = [];
  const of = (sensorId: string) => batches.flat().filter((r) => r.sensorId === sensorId);
  return {
    batches,
    sink: (readings: Reading[]) => {
      batches.push(readings);
    },
    of,
    /** The newest reading of each sensor. */
    latest: () => new Map(batches.flat().map((r) => [r.sensorId, r])),
    /** Whether every reading of `sensorId` that carries a value carries `value`. */
    onlyValue: (sensorId: string, value: Reading['value']) =>
      of(sensorId)
        .filter((r) => r.value !== null)
        .every((r) => r.value === value),
  };
}

export async function until(
  condition: () => boolean,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export interface SourceExtras {
  links?: ModbusLinkPool;
  onDeviceStatus?: (e: DeviceStatusEvent) => void;
  backoff?: { initialMs: number; maxMs: number };
}

/**
 * Registers an afterEach that runs `cleanups` last-in first-out; the simulators and sources
 * made through the returned functions are stopped there.
 */
export function modbusFixtures() {
  const cleanups: Cleanup[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  return {
    cleanups,
    /** A started simulator listening on a free TCP port. */
    async simulator(units: UnitSpec[], transport: 'tcp' | 'rtu-tcp' = 'tcp') {
      const sim = new ModbusDeviceSimulator({ units, transport });
      await sim.start();
      cleanups.push(() => sim.stop());
      return sim;
    },
    /** A simulator attached to the serial port `serialPort`. */
    async serialSimulator(serialPort: string, units: UnitSpec[], faults: Fault[] = []) {
      const sim = new ModbusDeviceSimulator({ units, faults });
      await sim.attachSerial(serialPort);
      cleanups.push(() => sim.stop());
      return sim;
    },
    /** A source (not started) on a ManualClock with a 100..300 ms reconnect backoff. */
    source(config: ModbusDeviceConfig, sink: (r: Reading[]) => void, extra: SourceExtras = {}) {
      const s = new ModbusSource(config, sink, {
        clock: new ManualClock(),
        backoff: { initialMs: 100, maxMs: 300 },
        ...extra,
      });
      cleanups.push(() => s.stop());
      return s;
    },
  };
}
