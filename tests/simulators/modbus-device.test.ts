import path from 'node:path';
import ModbusRTU from 'modbus-serial';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import {
  crc16,
  deviceFromScenario,
  loadDeviceScenario,
  ModbusDeviceSimulator,
  validateDeviceScenario,
} from '../../simulators/modbus-device.js';

type Client = InstanceType<typeof ModbusRTU.default>;
const running: { stop(): Promise<void> }[] = [];
const clients: Client[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) {
    // close() never calls back on a socket the peer already closed.
    await new Promise<void>((r) => {
      client.close(() => r());
      setTimeout(r, 100);
    });
  }
  await Promise.all(running.splice(0).map((r) => r.stop()));
});

async function client(port: number, kind: 'tcp' | 'rtu-tcp' = 'tcp'): Promise<Client> {
  const c = new ModbusRTU.default();
  c.on('error', () => {});
  if (kind === 'tcp') await c.connectTCP('127.0.0.1', { port });
  else await c.connectTelnet('127.0.0.1', { port });
  c.setID(1);
  c.setTimeout(300);
  clients.push(c);
  return c;
}

async function started(sim: ModbusDeviceSimulator) {
  await sim.start();
  running.push(sim);
  return sim;
}

describe('ModbusDeviceSimulator', () => {
  it('serves several unit ids and counts every request', async () => {
    const sim = await started(
      new ModbusDeviceSimulator({
        units: [
          { unitId: 1, registers: { holding: { 0: [10, 11] } } },
          { unitId: 2, registers: { input: { 5: 55 } } },
        ],
      }),
    );
    const c = await client(sim.port);
    expect((await c.readHoldingRegisters(0, 2)).data).toEqual([10, 11]);
    c.setID(2);
    expect((await c.readInputRegisters(5, 1)).data).toEqual([55]);
    expect(sim.counters.requests).toBe(2);
    expect(sim.counters.perUnit.get(2)).toBe(1);
  });

  it('speaks RTU over TCP with a CRC on every frame', async () => {
    const sim = await started(
      new ModbusDeviceSimulator({
        transport: 'rtu-tcp',
        units: [{ unitId: 1, registers: { coil: { 2: true } } }],
      }),
    );
    const c = await client(sim.port, 'rtu-tcp');
    expect((await c.readCoils(0, 3)).data.slice(0, 3)).toEqual([false, false, true]);
    // CRC-16/MODBUS check value of "123456789" (Modbus over Serial Line §6.2.2 algorithm).
    expect(crc16(Buffer.from('123456789'))).toBe(0x4b37);
  });

  it('answers exception 2 outside the implemented map, or stays silent when told to', async () => {
    const sim = await started(
      new ModbusDeviceSimulator({
        units: [
          { unitId: 1, implemented: { holding: [[0, 4]] } },
          { unitId: 2, implemented: { holding: [[0, 4]] }, illegalAddress: 'silence' },
        ],
      }),
    );
    const c = await client(sim.port);
    await expect(c.readHoldingRegisters(3, 4)).rejects.toMatchObject({ modbusCode: 2 });
    c.setID(2);
    await expect(c.readHoldingRegisters(3, 4)).rejects.toMatchObject({ message: 'Timed out' });
  });

  it('injects faults only inside their time window, counted on the injected clock', async () => {
    const clock = new ManualClock();
    const sim = await started(
      new ModbusDeviceSimulator({
        clock,
        units: [{ unitId: 1 }],
        faults: [{ kind: 'exception', code: 6, atMs: 10_000, forMs: 5000 }],
      }),
    );
    const c = await client(sim.port);
    await expect(c.readHoldingRegisters(0, 1)).resolves.toBeDefined();
    clock.advance(12_000);
    await expect(c.readHoldingRegisters(0, 1)).rejects.toMatchObject({ modbusCode: 6 });
    clock.advance(5000);
    await expect(c.readHoldingRegisters(0, 1)).resolves.toBeDefined();
  });

  it('drops the connection, and keeps stuck values however they are written', async () => {
    const sim = await started(new ModbusDeviceSimulator({ units: [{ unitId: 1 }] }));
    sim.setStuck(1, 'holding', 0);
    sim.set(1, 'holding', 0, 99);
    const c = await client(sim.port);
    await c.writeRegister(0, 42);
    expect((await c.readHoldingRegisters(0, 1)).data).toEqual([0]);
    sim.addFault({ kind: 'drop-connection', times: 1 });
    await c.readHoldingRegisters(0, 1).catch(() => {});
    const deadline = Date.now() + 2000;
    while (c.isOpen && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(c.isOpen).toBe(false);
  });
});

describe('device scenario files', () => {
  it('loads the bundled flaky-bus scenario with its faults and stuck values', async () => {
    const scenario = await loadDeviceScenario(
      path.join(import.meta.dirname, '../../simulators/scenarios/flaky-bus.yaml'),
    );
    expect(scenario.units.map((u) => u.unitId)).toEqual([1, 2]);
    expect(scenario.faults.map((f) => f.kind)).toEqual([
      'delay',
      'exception',
      'silence',
      'drop-connection',
    ]);
    expect(scenario.faults[0]).toMatchObject({ atMs: 10_000, forMs: 5000, ms: 1500 });
    const sim = await started(deviceFromScenario(scenario));
    const c = await client(sim.port);
    // NE 43 fault currents in the map: 3.5 mA and 21.5 mA, as µA counts.
    expect((await c.readHoldingRegisters(100, 4)).data).toEqual([12_000, 3500, 21_500, 3700]);
  });

  it('lists every problem of a bad scenario at once', () => {
    expect(() =>
      validateDeviceScenario({
        units: [{ unitId: 300 }],
        faults: [{ kind: 'explode' }, { kind: 'delay', at: 'soon' }],
      }),
    ).toThrow(
      /units\[0\]\.unitId: must be an integer 0\.\.255[\s\S]*faults\[0\]\.kind: must be one of[\s\S]*faults\[1\]\.at: must be a duration/,
    );
  });
});
