import { ServerTCP } from 'modbus-serial';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { freePort } from '../../common/net.js';
import {
  ModbusTcpSource,
  type ModbusTcpSourceDeps,
} from '../../gateway/acquisition/modbus/modbus-tcp-source.js';
import { Acquisition, createSource } from '../../gateway/acquisition/registry.js';
import type { DeviceStatusEvent } from '../../gateway/acquisition/source.js';
import type { ModbusTagConfig, ModbusTcpDeviceConfig } from '../../gateway/config/types.js';
import type { Reading } from '../../protocol/payloads.js';

/** What the test server answers; tests change it while the source runs. */
interface Plant {
  input: Map<number, number>;
  holding: Map<number, number>;
  /** 'silent': never answer (a dead unit behind a gateway); 'slow': answer after 150 ms. */
  mode: 'normal' | 'silent' | 'slow';
  /** Addresses answered with Modbus exception 2 (illegal data address). */
  illegal: Set<number>;
}

function newPlant(): Plant {
  return {
    // 12.5 %LEL methane as float32 ABCD at input 0..1 (0x41480000).
    input: new Map([
      [0, 0x4148],
      [1, 0x0000],
      // NaN as float32 at input 4..5.
      [4, 0x7fc0],
      [5, 0x0000],
    ]),
    // 25.0 as int16 250 with scale 0.1 at holding 10.
    holding: new Map([[10, 250]]),
    mode: 'normal',
    illegal: new Set(),
  };
}

function answer(plant: Plant, table: Map<number, number>, addr: number): number | Promise<number> {
  if (plant.illegal.has(addr)) throw { modbusErrorCode: 2 };
  const value = table.get(addr) ?? 0;
  if (plant.mode === 'silent') return new Promise<number>(() => {});
  if (plant.mode === 'slow') return new Promise((resolve) => setTimeout(() => resolve(value), 150));
  return value;
}

const servers = new Set<ServerTCP>();

async function startServer(port: number, plant: Plant): Promise<ServerTCP> {
  const server = new ServerTCP(
    {
      getInputRegister: (addr: number) => answer(plant, plant.input, addr),
      getHoldingRegister: (addr: number) => answer(plant, plant.holding, addr),
    },
    { host: '127.0.0.1', port, unitID: 1 },
  );
  servers.add(server);
  await new Promise<void>((resolve, reject) => {
    server.on('initialized', () => resolve());
    server.on('serverError', reject);
  });
  return server;
}

async function stopServer(server: ServerTCP): Promise<void> {
  servers.delete(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

function tag(sensorId: string, register: Partial<ModbusTagConfig['register']>): ModbusTagConfig {
  return {
    sensorId,
    name: sensorId,
    kind: 'other',
    unit: '',
    register: {
      table: 'input',
      address: 0,
      type: 'float32',
      wordOrder: 'ABCD',
      scale: 1,
      offset: 0,
      ...register,
    },
  };
}

function device(port: number, tags: ModbusTagConfig[], extra: Partial<ModbusTcpDeviceConfig> = {}) {
  return {
    id: 'gas-controller-1',
    protocol: 'modbus-tcp',
    host: '127.0.0.1',
    port,
    unitId: 1,
    pollIntervalMs: 50,
    timeoutMs: 200,
    maxRegistersPerRead: 125,
    tags,
    ...extra,
  } as const satisfies ModbusTcpDeviceConfig;
}

const methane = tag('GT-101', { table: 'input', address: 0, type: 'float32' });
const pressure = tag('PT-1', { table: 'holding', address: 10, type: 'int16', scale: 0.1 });

const sources: { stop(): Promise<void> }[] = [];

afterEach(async () => {
  await Promise.all(sources.splice(0).map((s) => s.stop()));
  await Promise.all([...servers].map(stopServer));
});

/** Collects sink calls. */
function recorder() {
  const batches: Reading[][] = [];
  return {
    batches,
    sink: (readings: Reading[]) => {
      batches.push(readings);
    },
    all: () => batches.flat(),
    of: (sensorId: string) => batches.flat().filter((r) => r.sensorId === sensorId),
  };
}

async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function newSource(
  config: ModbusTcpDeviceConfig,
  sink: (r: Reading[]) => void,
  clock = new ManualClock(),
  extra: Partial<ModbusTcpSourceDeps> = {},
) {
  const source = new ModbusTcpSource(config, sink, {
    ...extra,
    clock,
    backoff: { initialMs: 50, maxMs: 200 },
  });
  sources.push(source);
  return source;
}

describe('ModbusTcpSource against a real modbus-serial server', () => {
  it('reads float32 and scaled int16 values as good readings stamped by the clock', async () => {
    const port = await freePort();
    await startServer(port, newPlant());
    const clock = new ManualClock(Date.UTC(2026, 2, 1, 8, 0, 0));
    const rec = recorder();
    const source = newSource(device(port, [methane, pressure]), rec.sink, clock);
    await source.start();
    await until(() => rec.batches.length >= 2, 'two polls');

    expect(rec.batches[0]).toEqual([
      { sensorId: 'PT-1', value: 25, quality: 'good', ts: clock.now() },
      { sensorId: 'GT-101', value: 12.5, quality: 'good', ts: clock.now() },
    ]);
    // One sink call per poll, one reading per tag.
    expect(rec.batches.every((batch) => batch.length === 2)).toBe(true);
  });

  it('reads coalesced neighbours with one request per table', async () => {
    const port = await freePort();
    await startServer(port, newPlant());
    const rec = recorder();
    const neighbour = tag('GT-102', { table: 'input', address: 2, type: 'uint16' });
    const source = newSource(device(port, [methane, neighbour, pressure]), rec.sink);
    expect(source.readPlan.map((b) => [b.table, b.address, b.count])).toEqual([
      ['holding', 10, 1],
      ['input', 0, 3],
    ]);
    await source.start();
    await until(() => rec.batches.length >= 1, 'a poll');
    expect(rec.batches[0]!.map((r) => [r.sensorId, r.value])).toEqual([
      ['PT-1', 25],
      ['GT-101', 12.5],
      ['GT-102', 0],
    ]);
  });

  it("marks tags bad 'comm lost' once when the server stops, and recovers when it returns", async () => {
    const port = await freePort();
    const plant = newPlant();
    const server = await startServer(port, plant);
    const rec = recorder();
    const source = newSource(device(port, [methane, pressure]), rec.sink);
    await source.start();
    await until(() => rec.of('GT-101').some((r) => r.quality === 'good'), 'a good value');

    await stopServer(server);
    await until(
      () => rec.of('GT-101').some((r) => r.reason?.startsWith('comm lost')),
      "'comm lost'",
    );
    // Let several reconnect attempts fail (backoff 50..200 ms).
    await until(() => source.counters.failedConnects >= 3, 'three failed reconnects');
    const lost = rec.all().filter((r) => r.reason?.startsWith('comm lost'));
    expect(lost.map((r) => r.sensorId).sort()).toEqual(['GT-101', 'PT-1']);
    expect(lost.every((r) => r.quality === 'bad' && r.value === null)).toBe(true);

    const before = rec.batches.length;
    plant.input.set(0, 0x41a0); // 20.0
    await startServer(port, plant);
    await until(
      () => rec.batches.slice(before).some((b) => b.some((r) => r.value === 20)),
      'a good value after the restart',
    );
    const after = rec.batches.slice(before).flat();
    expect(after.filter((r) => r.reason?.startsWith('comm lost'))).toEqual([]);
    expect(after.at(-1)).toMatchObject({ quality: 'good' });
    expect(source.counters.reconnects).toBe(1);
  });

  it("starts without waiting for an unreachable device, and reports 'comm lost' once", async () => {
    const port = await freePort(); // nothing listens here
    const rec = recorder();
    const statuses: DeviceStatusEvent[] = [];
    const source = newSource(device(port, [methane, pressure]), rec.sink, new ManualClock(), {
      onDeviceStatus: (e) => statuses.push(e),
    });
    await source.start();
    // start() resolved before the first connection attempt failed: nothing reported yet.
    expect(source.counters.failedConnects).toBe(0);
    expect(source.online).toBe(false);
    expect(statuses).toEqual([]);
    expect(rec.batches).toEqual([]);
    await until(() => source.counters.failedConnects >= 3, 'three failed connects');
    expect(statuses.map((e) => e.online)).toEqual([false]);
    expect(rec.batches).toHaveLength(1);
    expect(rec.batches[0]!.map((r) => [r.sensorId, r.quality, r.reason])).toEqual([
      ['GT-101', 'bad', `comm lost: connection refused by 127.0.0.1:${port}`],
      ['PT-1', 'bad', `comm lost: connection refused by 127.0.0.1:${port}`],
    ]);

    // The device appears later: the source connects without a restart.
    await startServer(port, newPlant());
    await until(() => rec.of('GT-101').some((r) => r.quality === 'good'), 'a good value');
    expect(statuses.map((e) => e.online)).toEqual([false, true]);
  });

  it("marks a Modbus exception as bad with 'exception <code>' and keeps other tables good", async () => {
    const port = await freePort();
    const plant = newPlant();
    plant.illegal.add(10);
    await startServer(port, plant);
    const rec = recorder();
    const source = newSource(device(port, [methane, pressure]), rec.sink);
    await source.start();
    await until(() => rec.batches.length >= 1, 'a poll');
    expect(rec.batches[0]!.map((r) => [r.sensorId, r.quality, r.reason ?? null, r.value])).toEqual([
      ['PT-1', 'bad', 'exception 2 (illegal data address)', null],
      ['GT-101', 'good', null, 12.5],
    ]);
  });

  it("marks a NaN float as bad 'not a number'", async () => {
    const port = await freePort();
    await startServer(port, newPlant());
    const rec = recorder();
    const broken = tag('GT-105', { table: 'input', address: 4, type: 'float32' });
    const source = newSource(device(port, [broken]), rec.sink);
    await source.start();
    await until(() => rec.batches.length >= 1, 'a poll');
    expect(rec.batches[0]).toEqual([
      expect.objectContaining({
        sensorId: 'GT-105',
        value: null,
        quality: 'bad',
        reason: 'not a number',
      }),
    ]);
  });

  it("marks an unanswered read bad 'timeout', then recycles the socket", async () => {
    const port = await freePort();
    const plant = newPlant();
    plant.mode = 'silent';
    await startServer(port, plant);
    const rec = recorder();
    const source = newSource(device(port, [methane], { timeoutMs: 100 }), rec.sink);
    await source.start();
    await until(() => rec.of('GT-101').length >= 1, 'a reading');
    expect(rec.batches[0]).toEqual([
      expect.objectContaining({
        sensorId: 'GT-101',
        quality: 'bad',
        reason: 'timeout: no reply from unit 1 within 100 ms',
      }),
    ]);
    // After three silent polls the connection counts as lost and is rebuilt.
    await until(
      () => rec.of('GT-101').some((r) => r.reason?.startsWith('comm lost')),
      "'comm lost'",
    );
    plant.mode = 'normal';
    await until(() => rec.of('GT-101').at(-1)?.quality === 'good', 'recovery');
    expect(source.counters.reconnects).toBeGreaterThanOrEqual(1);
  });

  it('skips a poll that falls due while the previous one still runs', async () => {
    const port = await freePort();
    const plant = newPlant();
    plant.mode = 'slow'; // 150 ms per reply, polls due every 50 ms
    await startServer(port, plant);
    const rec = recorder();
    const source = newSource(device(port, [methane], { timeoutMs: 1000 }), rec.sink);
    await source.start();
    await until(() => rec.batches.length >= 2, 'two polls');
    expect(source.counters.skippedPolls).toBeGreaterThanOrEqual(2);
    expect(source.counters.polls).toBeLessThanOrEqual(rec.batches.length + 1);
    expect(rec.all().every((r) => r.quality === 'good')).toBe(true);
  });

  it('stops cleanly: no reading reaches the sink after stop(), and stop() can be called twice', async () => {
    const port = await freePort();
    await startServer(port, newPlant());
    const rec = recorder();
    const source = newSource(device(port, [methane]), rec.sink);
    await source.start();
    await until(() => rec.batches.length >= 1, 'a poll');
    await source.stop();
    const count = rec.batches.length;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(rec.batches.length).toBe(count);
    await source.stop();
  });
});

describe('the acquisition registry', () => {
  it('creates one source per device by protocol name and starts them all', async () => {
    const port = await freePort();
    await startServer(port, newPlant());
    const rec = recorder();
    const clock = new ManualClock();
    expect(createSource(device(port, [methane]), rec.sink, { clock })).toBeInstanceOf(
      ModbusTcpSource,
    );
    expect(() =>
      createSource({ id: 'x', protocol: 'bacnet' } as never, rec.sink, { clock }),
    ).toThrow("device 'x': unknown protocol 'bacnet'");

    const acquisition = new Acquisition(
      [device(port, [methane]), { ...device(port, [pressure]), id: 'plc-2' }],
      rec.sink,
      { clock },
    );
    sources.push(acquisition);
    await acquisition.start();
    await until(() => rec.of('GT-101').length > 0 && rec.of('PT-1').length > 0, 'both devices');
    expect(acquisition.sources.map((s) => s.deviceId)).toEqual(['gas-controller-1', 'plc-2']);
  });
});
