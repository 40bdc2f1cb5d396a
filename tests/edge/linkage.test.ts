import { ServerTCP } from 'modbus-serial';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { freePort } from '../../common/net.js';
import { AlarmEngine, compileRuleSet, type EdgeAlarmTransition } from '../../edge/engine.js';
import { LinkageRunner } from '../../edge/linkage/linkage-runner.js';
import { ModbusOutputWriter } from '../../edge/linkage/modbus-output-writer.js';
import { loadRuleSources } from '../../edge/rule-loader.js';
import type { Reading } from '../../protocol/index.js';
import {
  DEMO_GAS_CHANNELS,
  ModbusGasDetectorSimulator,
} from '../../simulators/modbus-gas-detector.js';
import { demoSensors } from './fixtures.js';

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
function rules(port: number, extra = '') {
  return `version: 1
outputs:
  - { id: relay-1, host: 127.0.0.1, port: ${port}, unitId: 1, timeoutMs: 500 }
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

function setup(text: string) {
  const compiled = compileRuleSet(loadRuleSources([{ file: 'r.yaml', text }]), demoSensors());
  const clock = new ManualClock(T0);
  const engine = new AlarmEngine(compiled, { clock });
  const writer = new ModbusOutputWriter(compiled.outputs);
  cleanups.push(() => writer.stop());
  const failures: EdgeAlarmTransition[] = [];
  const runner = new LinkageRunner(compiled, writer, {
    clock,
    onTransition: (t) => failures.push(t),
  });
  return { engine, runner, failures, clock, writer };
}

/** A Modbus device of our own: holding registers writable, coil 5 a stuck relay (ignores writes). */
async function startDevice(given?: number) {
  const port = given ?? (await freePort());
  const registers = new Map<number, number>();
  const coils = new Map<number, boolean>();
  const vector = {
    getCoil: (address: number, _unit: number) => coils.get(address) ?? false,
    setCoil: (address: number, value: boolean, _unit: number) => {
      if (address !== 5) coils.set(address, value);
    },
    getHoldingRegister: (address: number, _unit: number) => registers.get(address) ?? 0,
    setRegister: (address: number, value: number, _unit: number) => {
      registers.set(address, value);
    },
    getInputRegister: (_address: number, _unit: number) => 0,
    getDiscreteInput: (_address: number, _unit: number) => false,
  };
  const server = await new Promise<ServerTCP>((resolve, reject) => {
    const s = new ServerTCP(vector, { host: '127.0.0.1', port, unitID: 1 });
    s.once('initialized', () => resolve(s));
    s.once('serverError', reject);
  });
  server.on('socketError', () => {});
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port, registers, coils };
}

describe('local linkage (Modbus writes with readback)', () => {
  it('runs no actions for its own failure alarms when they come back through handle(), as in the gateway', async () => {
    const port = await freePort(); // nothing listens here: every write fails
    const { engine, writer, failures } = setup(
      rules(
        port,
        '      - { on: raised, output: relay-1, coil: 2, value: true, description: beacon on any raise }\n',
      ),
    );
    // The gateway hands every transition, the runner's own included, back to the runner.
    const feedBack = new LinkageRunner(engine.compiled, writer, {
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
    expect(failures.map((f) => f.transition)).toEqual(['raised', 'raised']);
  });

  it('starts ventilation and sounds the siren on the gas detector simulator, and stops ventilation on clear', async () => {
    const detector = new ModbusGasDetectorSimulator({
      port: 0,
      channels: DEMO_GAS_CHANNELS,
      tickMs: 0,
      clock: new ManualClock(),
    });
    cleanups.push(() => detector.stop());
    await detector.start();
    const { engine, runner, failures } = setup(rules(detector.port));

    runner.handle(engine.evaluate([gas(45, T0)]));
    await runner.idle();
    expect([detector.coil(0), detector.coil(1)]).toEqual([true, true]);

    runner.handle(engine.evaluate([gas(0, T0 + 1000)]));
    await runner.idle();
    expect([detector.coil(0), detector.coil(1)]).toEqual([false, true]); // the siren stays on
    expect(runner.results.map((r) => r.ok)).toEqual([true, true, true]);
    expect(failures).toEqual([]);
  });

  it('writes a holding register and confirms it by reading it back', async () => {
    const device = await startDevice();
    const { engine, runner, failures } = setup(
      rules(
        device.port,
        '  - { id: TT-201-t, sensor: TT-201, type: threshold, limits: [{ name: HH, level: 2, direction: high, setpoint: 80, deadband: 1 }], actions: [{ on: raised, output: relay-1, register: 7, value: 1234, description: ESD valve close command }] }\n',
      ),
    );
    runner.handle(engine.evaluate([{ sensorId: 'TT-201', value: 85, quality: 'good', ts: T0 }]));
    await runner.idle();
    expect(device.registers.get(7)).toBe(1234);
    expect(runner.results).toMatchObject([{ ruleId: 'TT-201-t', ok: true }]);
    expect(failures).toEqual([]);
  });

  it('raises a linkage-failure alarm when the readback does not match, once per failing action', async () => {
    const device = await startDevice();
    const text = rules(device.port).replace('coil: 1, value: true', 'coil: 5, value: true');
    const { engine, runner, failures } = setup(text);
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
    expect(failures[0]?.message).toContain("coil 5 = true on 'relay-1': read back false");
    // Another failure of the same action raises no second alarm.
    runner.handle(engine.evaluate([gas(0, T0 + 1000), gas(45, T0 + 2000)]));
    await runner.idle();
    expect(failures).toHaveLength(1);
  });

  it('raises a linkage-failure alarm when the output device does not answer, without waiting on any uplink', async () => {
    const port = await freePort(); // nothing listens here
    const { engine, runner, failures } = setup(rules(port));
    runner.handle(engine.evaluate([gas(25, T0)]));
    await runner.idle();
    expect(failures).toHaveLength(1);
    expect(failures[0]?.message).toMatch(/write coil 0 on output 'relay-1' failed/);
    expect(runner.results).toMatchObject([{ ok: false }]);
    // The device comes up: the next run of that action succeeds and clears the failure alarm.
    const device = await startDevice(port);
    runner.handle(engine.evaluate([gas(0, T0 + 1000), gas(25, T0 + 2000)]));
    await runner.idle();
    expect(device.coils.get(0)).toBe(true);
    expect(failures.map((f) => `${f.transition} ${f.alarmId}`)).toEqual([
      `raised GT-101-gas.linkage-0.${T0}`,
      `cleared GT-101-gas.linkage-0.${T0}`,
    ]);
  });
});
