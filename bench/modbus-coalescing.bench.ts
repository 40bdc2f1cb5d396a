/**
 * `modbus.roundtrip_ratio`: requests per poll round with one read per tag ÷ requests per
 * poll round with coalescing, counted at the simulators (real Modbus TCP requests), on a
 * realistic map of 200 tags over 3 devices (target >= 10). Also reports how long one
 * coalesced round takes against one-read-per-tag.
 */
import { systemClock } from '../common/clock.js';
import { rootLogger } from '../common/logger.js';
import { ModbusSource } from '../gateway/acquisition/modbus/modbus-source.js';
import type {
  ModbusRegisterConfig,
  ModbusTagConfig,
  ModbusTcpDeviceConfig,
} from '../gateway/config/types.js';
import { ModbusDeviceSimulator } from '../simulators/modbus-device.js';
import type { Benchmark, Metric } from './metric.js';
import { round } from './metric.js';

/** Benchmarks own stdout: library logs are silenced. */
const quiet = rootLogger.child({}, { level: 'silent' });

const SETTINGS = {
  pollIntervalMs: 200, // 0.2 s per round
  measureMs: 3000, // 3 s per mode
};

function tag(
  sensorId: string,
  register: Partial<ModbusRegisterConfig> & Pick<ModbusRegisterConfig, 'table' | 'address'>,
): ModbusTagConfig {
  return {
    sensorId,
    name: sensorId,
    kind: 'other',
    unit: '',
    register: { type: 'uint16', wordOrder: 'ABCD', scale: 1, offset: 0, ...register },
  };
}

/**
 * The plant: a 32-channel gas controller (float32 values, 4–20 mA counts, status word bits,
 * relay coils), a PLC with scattered process values, and a tank gauge with int32 levels.
 */
export function realisticMap(): ModbusTagConfig[][] {
  const gas: ModbusTagConfig[] = [];
  for (let i = 0; i < 32; i++)
    gas.push(tag(`gas.v${i}`, { table: 'input', address: 2 * i, type: 'float32' }));
  for (let i = 0; i < 32; i++) gas.push(tag(`gas.ma${i}`, { table: 'holding', address: 100 + i }));
  for (let b = 0; b < 8; b++)
    gas.push(tag(`gas.st${b}`, { table: 'holding', address: 200, type: 'bool', bit: b }));
  for (let c = 0; c < 8; c++)
    gas.push(tag(`gas.relay${c}`, { table: 'coil', address: c, type: 'bool' }));

  const plc: ModbusTagConfig[] = [];
  // Process values in groups of 5 with small gaps, as PLC programmers lay them out.
  for (let i = 0; i < 60; i++) {
    const address = 1000 + Math.floor(i / 5) * 12 + (i % 5) * 2;
    plc.push(tag(`plc.pv${i}`, { table: 'holding', address, type: 'float32' }));
  }
  for (let i = 0; i < 10; i++)
    plc.push(tag(`plc.di${i}`, { table: 'discrete', address: i * 3, type: 'bool' }));

  const tank: ModbusTagConfig[] = [];
  for (let i = 0; i < 25; i++)
    tank.push(tag(`tank.level${i}`, { table: 'input', address: 300 + i * 4, type: 'int32' }));
  for (let i = 0; i < 25; i++)
    tank.push(tag(`tank.temp${i}`, { table: 'input', address: 302 + i * 4, type: 'int16' }));
  return [gas, plc, tank];
}

async function measure(oneReadPerTag: boolean): Promise<{ perRound: number; roundMs: number }> {
  const map = realisticMap();
  const sims = map.map(() => new ModbusDeviceSimulator({ units: [{ unitId: 1 }] }));
  await Promise.all(sims.map((sim) => sim.start()));
  const sources = map.map((tags, d) => {
    // One read per tag: every tag in a poll group of its own, so nothing is merged.
    const perTag = tags.map((t, i) => ({ ...t, pollGroup: `t${i}` }));
    const config: ModbusTcpDeviceConfig = {
      id: `dev${d}`,
      protocol: 'modbus-tcp',
      host: '127.0.0.1',
      port: sims[d]!.port,
      unitId: 1,
      pollIntervalMs: SETTINGS.pollIntervalMs,
      timeoutMs: 1000,
      maxRegistersPerRead: 125,
      tags: oneReadPerTag ? perTag : tags,
      ...(oneReadPerTag
        ? {
            pollGroups: tags.map((_, i) => ({
              name: `t${i}`,
              intervalMs: SETTINGS.pollIntervalMs,
            })),
          }
        : {}),
    };
    return new ModbusSource(config, () => {}, { clock: systemClock, logger: quiet });
  });
  const rounds = { count: 0 };
  await Promise.all(sources.map((s) => s.start()));
  await new Promise((resolve) => setTimeout(resolve, 500)); // connect and settle
  const before = sims.reduce((n, sim) => n + sim.counters.requests, 0);
  const pollsBefore = sources.reduce((n, s) => n + s.counters.polls, 0);
  await new Promise((resolve) => setTimeout(resolve, SETTINGS.measureMs));
  const requests = sims.reduce((n, sim) => n + sim.counters.requests, 0) - before;
  const polls = sources.reduce((n, s) => n + s.counters.polls, 0) - pollsBefore;
  const groups = oneReadPerTag ? map.reduce((n, tags) => n + tags.length, 0) : map.length;
  rounds.count = polls / groups;
  // Time of one full round, sequentially, over the same connections.
  await Promise.all(sources.map((s) => s.stop()));
  await Promise.all(sims.map((sim) => sim.stop()));
  const roundMs = await timeOneRound(oneReadPerTag);
  return { perRound: requests / rounds.count, roundMs };
}

/** Wall time of one poll round of all three devices (fresh sources, first full round). */
async function timeOneRound(oneReadPerTag: boolean): Promise<number> {
  const map = realisticMap();
  const sims = map.map(() => new ModbusDeviceSimulator({ units: [{ unitId: 1 }] }));
  await Promise.all(sims.map((sim) => sim.start()));
  const total = map.reduce((n, tags) => n + tags.length, 0);
  let seen = 0;
  let done = 0;
  let resolveFinished = () => {};
  const finished = new Promise<void>((resolve) => {
    resolveFinished = resolve;
  });
  const sink = (readings: unknown[]) => {
    seen += readings.length;
    if (seen >= total && !done) {
      done = performance.now();
      resolveFinished();
    }
  };
  const sources = map.map((tags, d) => {
    const perTag = tags.map((t, i) => ({ ...t, pollGroup: `t${i}` }));
    return new ModbusSource(
      {
        id: `dev${d}`,
        protocol: 'modbus-tcp',
        host: '127.0.0.1',
        port: sims[d]!.port,
        unitId: 1,
        pollIntervalMs: 60_000,
        timeoutMs: 1000,
        maxRegistersPerRead: 125,
        tags: oneReadPerTag ? perTag : tags,
        ...(oneReadPerTag
          ? { pollGroups: tags.map((_, i) => ({ name: `t${i}`, intervalMs: 60_000 })) }
          : {}),
      },
      sink,
      { clock: systemClock, logger: quiet },
    );
  });
  const started = performance.now();
  await Promise.all(sources.map((s) => s.start()));
  await finished;
  await Promise.all(sources.map((s) => s.stop()));
  await Promise.all(sims.map((sim) => sim.stop()));
  return done - started;
}

const bench: Benchmark = {
  name: 'modbus-coalescing',
  async *run(): AsyncIterable<Metric> {
    const single = await measure(true);
    const coalesced = await measure(false);
    const tags = realisticMap().reduce((n, t) => n + t.length, 0);
    yield {
      metric: 'modbus.roundtrip_ratio',
      value: round(single.perRound / coalesced.perRound, 1),
      unit: 'x',
      target: '>= 10',
      tags,
      devices: 3,
      requestsPerRoundOneReadPerTag: round(single.perRound, 1),
      requestsPerRoundCoalesced: round(coalesced.perRound, 1),
      countedAt: 'simulator (Modbus TCP requests received)',
    };
    yield {
      metric: 'modbus.round_ms',
      value: round(coalesced.roundMs, 1),
      unit: 'ms',
      oneReadPerTagMs: round(single.roundMs, 1),
      note: 'first full round of 200 tags incl. connect, loopback TCP',
    };
  },
};

export default bench;
