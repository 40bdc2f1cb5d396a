/**
 * `opcua.change_to_reading_ms_p99`: from a value change in an OPC UA server (the tank
 * simulator, node-opcua) to the reading reaching the acquisition sink, at a 100 ms
 * sampling interval (target < 150 ms). Changes are made at random moments so they fall
 * anywhere in the publishing cycle.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { systemClock } from '../common/clock.js';
import { rootLogger } from '../common/logger.js';
import { OpcuaSource } from '../gateway/acquisition/opcua/opcua-source.js';
import { OpcuaTankSimulator } from '../simulators/opcua-tank.js';
import type { Benchmark, Metric } from './metric.js';
import { percentile, round } from './metric.js';

const SETTINGS = {
  samplingIntervalMs: 100, // 0.1 s, as the issue asks
  changes: 150,
  gapMinMs: 60, // random spacing between changes: 60..200 ms
  gapMaxMs: 200,
};

const quiet = rootLogger.child({}, { level: 'silent' });

const bench: Benchmark = {
  name: 'opcua-latency',
  async *run(): AsyncIterable<Metric> {
    const pki = mkdtempSync(path.join(tmpdir(), 'hw-bench-opcua-'));
    const sim = new OpcuaTankSimulator({
      port: 0,
      tanks: [{ id: 'Tank1' }],
      tickMs: 0,
      pkiDir: path.join(pki, 'server'),
    });
    await sim.start();
    const changedAt = new Map<number, number>();
    const latencies: number[] = [];
    const source = new OpcuaSource(
      {
        id: 'tank',
        protocol: 'opcua',
        endpointUrl: sim.endpointUrl,
        securityMode: 'None',
        securityPolicy: 'None',
        samplingIntervalMs: SETTINGS.samplingIntervalMs,
        tags: [
          {
            sensorId: 'TT-1',
            name: 'T',
            kind: 'temperature',
            unit: '°C',
            nodeId: sim.nodeId('Tank1', 'Temperature'),
          },
        ],
      },
      (readings) => {
        const now = performance.now();
        for (const r of readings) {
          const at = typeof r.value === 'number' ? changedAt.get(r.value) : undefined;
          if (at !== undefined) {
            latencies.push(now - at);
            changedAt.delete(r.value as number);
          }
        }
      },
      { clock: systemClock, pkiDir: path.join(pki, 'client'), logger: quiet },
    );
    try {
      await source.start();
      await new Promise((resolve) => setTimeout(resolve, 3000)); // connect, subscribe
      for (let i = 1; i <= SETTINGS.changes; i++) {
        const value = 1000 + i;
        changedAt.set(value, performance.now());
        sim.setValue('Tank1', 'Temperature', value);
        const gap = SETTINGS.gapMinMs + Math.random() * (SETTINGS.gapMaxMs - SETTINGS.gapMinMs);
        await new Promise((resolve) => setTimeout(resolve, gap));
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    } finally {
      await source.stop();
      await sim.stop();
      rmSync(pki, { recursive: true, force: true });
    }
    const sorted = [...latencies].sort((a, b) => a - b);
    yield {
      metric: 'opcua.change_to_reading_ms_p99',
      value: round(percentile(sorted, 99), 1),
      unit: 'ms',
      target: '< 150',
      p50: round(percentile(sorted, 50), 1),
      max: round(sorted[sorted.length - 1] ?? Number.NaN, 1),
      samplingIntervalMs: SETTINGS.samplingIntervalMs,
      changes: SETTINGS.changes,
      received: latencies.length,
    };
  },
};

export default bench;
