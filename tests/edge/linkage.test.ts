import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { AlarmEngine, compileRuleSet, type EdgeAlarmTransition } from '../../edge/index.js';
import { LinkageRunner } from '../../edge/linkage/linkage-runner.js';
import type { OutputDeviceWriters } from '../../edge/linkage/output-writer.js';
import { loadRuleSources } from '../../edge/rule-loader.js';
import { Acquisition } from '../../gateway/acquisition/index.js';
import type { DeviceStatusEvent } from '../../gateway/acquisition/source.js';
import type { ModbusDeviceConfig, ModbusTagConfig } from '../../gateway/config/types.js';
import type { Reading } from '../../protocol/index.js';
import { ModbusDeviceSimulator, type UnitSpec } from '../../simulators/modbus-device.js';
import {
  DEMO_GAS_CHANNELS,
  ModbusGasDetectorSimulator,
} from '../../simulators/modbus-gas-detector.js';
import { demoSensors } from './fixtures.js';

/**
 * Local linkage through the gateway's own acquisition (issue 12 property 7): the writes
 * go through `Acquisition.writer(deviceId)` of the device the rule file's output names,
 * on the connection that also polls it, against real Modbus peers on free ports.
 */
const T0 = Date.UTC(2026, 0, 1, 8, 0, 0);
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const gas = (value: number, ts: number): Reading => ({
  sensorId: 'GT-101',
  value,
  quality: 'good',
  ts,
});

/** Rule file: ventilation on coil 0 at level 1, siren on coil 1 at level 2, plus `extra` actions. */
function rules(device: string, extra = '') {
  return `version: 1
outputs:
  - { id: relay-1, device: ${device} }
rules:
  - id: GT-101-gas
    sensor: GT-101
    type: gas
    gas: methane
    measure: LEL
    level1: 20
    level2: 40
    deadband: 2
    actions:
      - { on: raised, limit: level1, output: relay-1, coil: 0, value: true, description: start ventilation }
      - { on: raised, limit: level2, output: relay-1, coil: 1, value: true, description: sound the siren }
      - { on: cleared, limit: level1, output: relay-1, coil: 0, value: false, description: stop ventilation }
${extra}`;
}

/** A tag reading coil 0 (the relay the linkage drives): polls and writes share the link. */
const relayTag: ModbusTagConfig = {
  sensorId: 'relay-0',
  name: 'relay 0',
  kind: 'other',
  unit: '',
  register: { table: 'coil', address: 0, type: 'bool', wordOrder: 'ABCD', scale: 1, offset: 0 },
};

function modbusDevice(
  id: string,
  port: number,
  extra: Partial<ModbusDeviceConfig> = {},
): ModbusDeviceConfig {
  return {
    id,
    protocol: 'modbus-tcp',
    host: '127.0.0.1',
    port,
    unitId: 1,
    pollIntervalMs: 50,
    timeoutMs: 300,
    maxRegistersPerRead: 125,
    tags: [relayTag],
    ...extra,
  } as ModbusDeviceConfig;
}

/** The gateway's acquisition for `devices`, started; `online(id)` tells a device's state. */
async function acquire(devices: readonly ModbusDeviceConfig[]) {
  const online = new Map<string, boolean>();
  const acquisition = new Acquisition(devices, () => {}, {
    clock: new ManualClock(T0),
    onDeviceStatus: (event: DeviceStatusEvent) => online.set(event.deviceId, event.online),
  });
  cleanups.push(() => acquisition.stop());
  await acquisition.start();
  return { acquisition, isOnline: (id: string) => online.get(id) === true };
}

function setup(text: string, writers: OutputDeviceWriters) {
  const compiled = compileRuleSet(loadRuleSources([{ file: 'r.yaml', text }]), demoSensors());
  const clock = new ManualClock(T0);
  const engine = new AlarmEngine(compiled, { clock });
  const failures: EdgeAlarmTransition[] = [];
  const runner = new LinkageRunner(compiled, writers, {
    clock,
    onTransition: (t) => failures.push(t),
  });
  return { engine, runner, failures, clock };
}

async function simulator(units: UnitSpec[], transport: 'tcp' | 'rtu-tcp' = 'tcp', port = 0) {
  const sim = new ModbusDeviceSimulator({ units, transport, port });
  await sim.start();
  cleanups.push(() => sim.stop());
  return sim;
}

describe('local linkage through the acquisition device writer', () => {
  it('starts ventilation and sounds the siren on the gas detector simulator, and stops ventilation on clear', async () => {
    const detector = new ModbusGasDetectorSimulator({
      port: 0,
      channels: DEMO_GAS_CHANNELS,
      tickMs: 0,
      clock: new ManualClock(),
    });
    cleanups.push(() => detector.stop());
    await detector.start();
    const { acquisition, isOnline } = await acquire([
      modbusDevice('gas-controller-1', detector.port),
    ]);
    await expect.poll(() => isOnline('gas-controller-1')).toBe(true);
    // The gateway passes its Acquisition as it is: it is the linkage's writer lookup.
    const { engine, runner, failures } = setup(rules('gas-controller-1'), acquisition);

    runner.handle(engine.evaluate([gas(45, T0)]));
    await runner.idle();
    expect([detector.coil(0), detector.coil(1)]).toEqual([true, true]);

    runner.handle(engine.evaluate([gas(0, T0 + 1000)]));
    await runner.idle();
    expect([detector.coil(0), detector.coil(1)]).toEqual([false, true]); // the siren stays on
    expect(runner.results.map((r) => r.ok)).toEqual([true, true, true]);
    expect(runner.results[0]?.detail).toBe(
      "coil 0 = true on 'relay-1' (device 'gas-controller-1'), read back true",
    );
    expect(failures).toEqual([]);
  });

  it('writes a holding register and confirms it by reading it back', async () => {
    const sim = await simulator([{ unitId: 1 }]);
    const { acquisition, isOnline } = await acquire([modbusDevice('relay-box', sim.port)]);
    await expect.poll(() => isOnline('relay-box')).toBe(true);
    const { engine, runner, failures } = setup(
      rules(
        'relay-box',
        '  - { id: TT-201-t, sensor: TT-201, type: threshold, limits: [{ name: HH, level: 2, direction: high, setpoint: 80, deadband: 1 }], actions: [{ on: raised, output: relay-1, register: 7, value: 1234, description: ESD valve close command }] }\n',
      ),
      acquisition,
    );
    runner.handle(engine.evaluate([{ sensorId: 'TT-201', value: 85, quality: 'good', ts: T0 }]));
    await runner.idle();
    expect(sim.get(1, 'holding', 7)).toBe(1234);
    expect(runner.results).toMatchObject([{ ruleId: 'TT-201-t', ok: true }]);
    expect(failures).toEqual([]);
  });

  it('writes to one device of a shared RTU-over-TCP bus, between the polls of both', async () => {
    const sim = await simulator([{ unitId: 1 }, { unitId: 2 }], 'rtu-tcp');
    const base = { protocol: 'modbus-rtu-tcp' } as const;
    const { acquisition, isOnline } = await acquire([
      modbusDevice('meter', sim.port, { ...base, unitId: 1 }),
      modbusDevice('relay-box', sim.port, { ...base, unitId: 2 }),
    ]);
    await expect.poll(() => isOnline('meter') && isOnline('relay-box')).toBe(true);
    const { engine, runner, failures } = setup(rules('relay-box'), acquisition);
    runner.handle(engine.evaluate([gas(45, T0)]));
    await runner.idle();
    expect([sim.get(2, 'coil', 0), sim.get(2, 'coil', 1)]).toEqual([1, 1]);
    expect([sim.get(1, 'coil', 0), sim.get(1, 'coil', 1)]).toEqual([0, 0]); // not the other unit
    expect(failures).toEqual([]);
    expect(isOnline('meter')).toBe(true); // the bus kept serving the other device
  });

  it('raises a linkage-failure alarm when the readback does not match, once per failing action', async () => {
    const sim = await simulator([{ unitId: 1 }]);
    sim.setStuck(1, 'coil', 5); // a relay that ignores its command
    const { acquisition, isOnline } = await acquire([modbusDevice('relay-box', sim.port)]);
    await expect.poll(() => isOnline('relay-box')).toBe(true);
    const text = rules('relay-box').replace('coil: 1, value: true', 'coil: 5, value: true');
    const { engine, runner, failures } = setup(text, acquisition);
    runner.handle(engine.evaluate([gas(45, T0)]));
    await runner.idle();
    expect(failures).toMatchObject([
      {
        alarmId: `GT-101-gas.linkage-1.${T0}`,
        transition: 'raised',
        level: 2,
        sensorId: 'GT-101',
      },
    ]);
    expect(failures[0]?.message).toContain(
      "coil 5 = true on 'relay-1' (device 'relay-box'): device 'relay-box': coil 5 wrote true but reads back false",
    );
    // Another failure of the same action raises no second alarm.
    runner.handle(engine.evaluate([gas(0, T0 + 1000), gas(45, T0 + 2000)]));
    await runner.idle();
    expect(failures).toHaveLength(1);
  });

  it('raises a linkage-failure alarm at once when the device is offline, and clears it once a write succeeds again', async () => {
    const sim = await simulator([{ unitId: 1 }]);
    const port = sim.port;
    const { acquisition, isOnline } = await acquire([modbusDevice('relay-box', port)]);
    await expect.poll(() => isOnline('relay-box')).toBe(true);
    const { engine, runner, failures } = setup(rules('relay-box'), acquisition);
    await sim.stop();
    await expect.poll(() => isOnline('relay-box')).toBe(false);

    runner.handle(engine.evaluate([gas(25, T0)]));
    await runner.idle();
    // Offline fails fast and is not retried (the writer never queues a late relay command).
    expect(runner.results).toMatchObject([{ ok: false }]);
    expect(failures.map((f) => f.transition)).toEqual(['raised']);
    expect(failures[0]?.message).toContain("device 'relay-box': FC 5 not sent, device offline");

    const again = await simulator([{ unitId: 1 }], 'tcp', port);
    await expect.poll(() => isOnline('relay-box'), { timeout: 10_000 }).toBe(true);
    runner.handle(engine.evaluate([gas(0, T0 + 1000), gas(25, T0 + 2000)]));
    await runner.idle();
    expect(again.get(1, 'coil', 0)).toBe(1);
    expect(failures.map((f) => `${f.transition} ${f.alarmId}`)).toEqual([
      `raised GT-101-gas.linkage-0.${T0}`,
      `cleared GT-101-gas.linkage-0.${T0}`,
    ]);
  });

  it('runs no actions for its own failure alarms when they come back through handle(), as in the gateway', async () => {
    const { acquisition } = await acquire([]); // the output's device has no writer here
    const { engine, failures } = setup(
      rules(
        'relay-box',
        '      - { on: raised, output: relay-1, coil: 2, value: true, description: beacon on any raise }\n',
      ),
      acquisition,
    );
    // The gateway hands every transition, the runner's own included, back to the runner.
    const feedBack = new LinkageRunner(engine.compiled, acquisition, {
      clock: new ManualClock(T0),
      onTransition: (t) => {
        failures.push(t);
        feedBack.handle([t]);
      },
    });
    feedBack.handle(engine.evaluate([gas(25, T0)]));
    await feedBack.idle();
    // Two actions run for the level-1 raise (ventilation, beacon), each failing once: two
    // results and two failure alarms, and the failure alarms' own raises start nothing.
    expect(feedBack.results).toHaveLength(2);
    expect(feedBack.results[0]?.detail).toContain(
      "device 'relay-box' has no writer (not in the gateway config, or not a Modbus device)",
    );
    expect(failures.map((f) => f.transition)).toEqual(['raised', 'raised']);
  });
});
