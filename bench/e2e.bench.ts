/**
 * e2e.alarm_to_receiver_ms_{p50,p99}: from a register change in the Modbus
 * simulator to the signed notification recorded by the emergency-centre
 * receiver, through every real part of the demo plant (poll at 100 ms, edge
 * rules, MQTT uplink, broker, ingest, SQLite ledger, webhook). Each sample is a
 * fresh level-2 alarm occurrence: set 60 %LEL, wait for the page, set 1 %LEL,
 * wait for the clear, repeat.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DemoPlant } from '../bin/plant.js';
import { type Benchmark, type Metric, percentile, round } from './metric.js';

const SAMPLES = Number(process.env.BENCH_E2E_SAMPLES ?? 100);
const POLL_MS = 100;

const bench: Benchmark = {
  name: 'e2e',
  async *run(): AsyncIterable<Metric> {
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'hw-bench-e2e-'));
    const plant = new DemoPlant({
      httpPort: 0,
      mqttPort: 0,
      modbusPort: 0,
      opcuaPort: 0,
      receiverPort: 0,
      storePath: path.join(tmp, 'hazardwatch.db'),
      pkiDir: path.join(tmp, 'pki'),
      scenario: null,
      modbusPollIntervalMs: POLL_MS,
      ruleFiles: [fileURLToPath(new URL('./fixtures/no-delay-rules.yaml', import.meta.url))],
    });
    const latencies: number[] = [];
    try {
      await plant.start();
      const seen = new Set<string>();
      for (let i = 0; i < SAMPLES + 3; i++) {
        const changedAt = Date.now();
        plant.gasDetector.setValue(0, 60);
        const page = await plant.receiver.waitFor(
          (n) => n.level === 2 && !seen.has(n.alarmId),
          10_000,
        );
        seen.add(page.alarmId);
        if (i >= 3) latencies.push(Date.parse(page.receivedAt) - changedAt); // first 3: warm-up
        plant.gasDetector.setValue(0, 1);
        const ledger = plant.server!.ledger;
        const deadline = Date.now() + 10_000;
        while (
          ledger.get({
            enterpriseId: page.enterpriseId,
            gatewayId: page.gatewayId,
            alarmId: page.alarmId,
          })?.state !== 'cleared'
        ) {
          if (Date.now() > deadline) throw new Error(`alarm ${page.alarmId} did not clear`);
          await new Promise((r) => setTimeout(r, 20));
        }
        // Spread the change across the poll cycle so samples cover every phase.
        await new Promise((r) => setTimeout(r, Math.floor(Math.random() * POLL_MS)));
      }
    } finally {
      await plant.stop();
      await rm(tmp, { recursive: true, force: true });
    }
    latencies.sort((a, b) => a - b);
    const context = { samples: latencies.length, poll_interval_ms: POLL_MS, on_delay_ms: 0 };
    yield {
      metric: 'e2e.alarm_to_receiver_ms_p50',
      value: round(percentile(latencies, 50)),
      unit: 'ms',
      ...context,
    };
    yield {
      metric: 'e2e.alarm_to_receiver_ms_p99',
      value: round(percentile(latencies, 99)),
      unit: 'ms',
      target: '< 500',
      ...context,
    };
    yield {
      metric: 'e2e.alarm_to_receiver_ms_max',
      value: round(latencies.at(-1)!),
      unit: 'ms',
      ...context,
    };
  },
};

export default bench;
