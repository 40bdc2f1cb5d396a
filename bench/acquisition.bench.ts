/**
 * Acquisition throughput and memory, with the simulated devices in a child process
 * (simulators/modbus-devices-main.ts) so they do not count against the gateway:
 *
 * - `acquisition.tags_per_s`: values delivered to the sink per second by one Acquisition
 *   polling 10 Modbus TCP devices of 1,000 float32 tags each at 100 ms (target >= 20,000).
 * - `gateway.rss_mb`: resident memory of this process while acquiring 5,000 tags at 1 s
 *   (5 devices x 1,000 tags; target < 150 MB).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { systemClock } from '../common/clock.js';
import { rootLogger } from '../common/logger.js';
import { Acquisition } from '../gateway/acquisition/index.js';
import type { ModbusTagConfig, ModbusTcpDeviceConfig } from '../gateway/config/types.js';
import type { Benchmark, Metric } from './metric.js';
import { round } from './metric.js';

const SETTINGS = {
  throughput: { devices: 10, tagsPerDevice: 1000, pollIntervalMs: 100, measureMs: 10_000 },
  memory: { devices: 5, tagsPerDevice: 1000, pollIntervalMs: 1000, measureMs: 15_000 },
  warmupMs: 2000, // connect and settle
};

const root = path.resolve(import.meta.dirname, '..');

async function startDevices(count: number): Promise<{ child: ChildProcess; ports: number[] }> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(root, 'simulators/modbus-devices-main.ts'),
      '--scenario',
      path.join(root, 'simulators/scenarios/bench-plant.yaml'),
      '--devices',
      String(count),
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, LOG_LEVEL: 'warn' } },
  );
  const ports = await new Promise<number[]>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n').find((l) => l.startsWith('{"ports"'));
      if (line) resolve((JSON.parse(line) as { ports: number[] }).ports);
    });
    child.once('exit', (code) => reject(new Error(`device simulator exited with ${code}`)));
  });
  return { child, ports };
}

function devices(
  ports: number[],
  tagsPerDevice: number,
  pollIntervalMs: number,
): ModbusTcpDeviceConfig[] {
  return ports.map((port, d) => {
    const tags: ModbusTagConfig[] = Array.from({ length: tagsPerDevice }, (_, i) => ({
      sensorId: `d${d}.t${i}`,
      name: `tag ${i}`,
      kind: 'other',
      unit: '',
      register: {
        table: 'holding',
        address: i * 2,
        type: 'float32',
        wordOrder: 'ABCD',
        scale: 1,
        offset: 0,
      },
    }));
    return {
      id: `dev${d}`,
      protocol: 'modbus-tcp',
      host: '127.0.0.1',
      port,
      unitId: 1,
      pollIntervalMs,
      timeoutMs: 2000,
      maxRegistersPerRead: 125,
      tags,
    };
  });
}

async function run(
  settings: (typeof SETTINGS)['throughput'],
): Promise<{ tagsPerS: number; good: number; rssMb: number; heapMb: number }> {
  const { child, ports } = await startDevices(settings.devices);
  let count = 0;
  let good = 0;
  const acquisition = new Acquisition(
    devices(ports, settings.tagsPerDevice, settings.pollIntervalMs),
    (readings) => {
      count += readings.length;
      for (const r of readings) if (r.quality === 'good') good++;
    },
    { clock: systemClock },
  );
  try {
    await acquisition.start();
    await new Promise((resolve) => setTimeout(resolve, SETTINGS.warmupMs));
    count = 0;
    good = 0;
    const started = performance.now();
    let rssMax = 0;
    const sampler = setInterval(() => {
      rssMax = Math.max(rssMax, process.memoryUsage().rss);
    }, 500);
    await new Promise((resolve) => setTimeout(resolve, settings.measureMs));
    clearInterval(sampler);
    const seconds = (performance.now() - started) / 1000;
    return {
      tagsPerS: count / seconds,
      good: count === 0 ? 0 : good / count,
      rssMb: rssMax / 2 ** 20,
      heapMb: process.memoryUsage().heapUsed / 2 ** 20,
    };
  } finally {
    await acquisition.stop();
    child.kill('SIGTERM');
  }
}

const bench: Benchmark = {
  name: 'acquisition',
  async *run(): AsyncIterable<Metric> {
    const level = rootLogger.level;
    rootLogger.level = 'warn';
    try {
      // Memory first, in a process that has not yet held the 10,000-tag throughput run.
      const m = SETTINGS.memory;
      const memory = await run(m);
      const t = SETTINGS.throughput;
      const throughput = await run(t);
      yield {
        metric: 'acquisition.tags_per_s',
        value: Math.round(throughput.tagsPerS),
        unit: 'tags/s',
        target: '>= 20000',
        devices: t.devices,
        tags: t.devices * t.tagsPerDevice,
        pollIntervalMs: t.pollIntervalMs,
        goodFraction: round(throughput.good, 4),
        transport: 'Modbus TCP loopback, devices in a child process',
      };
      yield {
        metric: 'gateway.rss_mb',
        value: round(memory.rssMb, 1),
        unit: 'MB',
        target: '< 150',
        tags: m.devices * m.tagsPerDevice,
        pollIntervalMs: m.pollIntervalMs,
        heapUsedMb: round(memory.heapMb, 1),
        tagsPerS: Math.round(memory.tagsPerS),
        note: 'peak RSS of the process running acquisition (the bench runner included)',
      };
    } finally {
      rootLogger.level = level;
    }
  },
};

export default bench;
