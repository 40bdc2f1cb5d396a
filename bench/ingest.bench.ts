/**
 * End-to-end ingest from simulated gateways (mqtt.js clients in a child
 * process, each with its own password, publishing protocol TelemetryBatches at
 * QoS 1) through the aedes broker, validation and the store, counted when the
 * gateway receives the StoreAck (application-level "stored"). 2 cores shared
 * by gateways, server and (for InfluxDB) VictoriaMetrics.
 *
 * - ingest.sqlite_points_per_s: target 100,000 (embedded SQLite store)
 * - ingest.influx_points_per_s: target 50,000 (InfluxDB store → VictoriaMetrics)
 * - ingest.latency_ms_p99 at 50,000 points/s, publish → StoreAck: target < 100 ms
 */

import {
  GatewayLoad,
  makeGateways,
  sleep,
  startServer,
  startVictoriaMetrics,
} from './ingest-support.js';
import { type Benchmark, type Metric, percentile, round } from './metric.js';

const THROUGHPUT = {
  gateways: 20,
  readingsPerBatch: 1_000,
  sensorsPerGateway: 100,
  window: 4, // unacknowledged batches per gateway
  warmupMs: 3_000,
  measureMs: 10_000,
} as const;

const LATENCY = {
  gateways: 50,
  readingsPerBatch: 500,
  intervalMs: 500, // 50 gateways × 2 batches/s × 500 readings = 50,000 points/s
  sensorsPerGateway: 50,
  warmupMs: 3_000,
  measureMs: 15_000,
} as const;

async function throughput(store: 'sqlite' | 'influxdb'): Promise<Metric> {
  const vm = store === 'influxdb' ? await startVictoriaMetrics() : null;
  const { gateways, users } = await makeGateways(THROUGHPUT.gateways);
  const target = await startServer({ users, ...(vm ? { influxUrl: vm.url } : {}) });
  const load = new GatewayLoad({
    url: `mqtt://127.0.0.1:${target.server.mqttPort}`,
    gateways,
    mode: 'max',
    readingsPerBatch: THROUGHPUT.readingsPerBatch,
    sensorsPerGateway: THROUGHPUT.sensorsPerGateway,
    window: THROUGHPUT.window,
  });
  try {
    await load.connected();
    load.go();
    await sleep(THROUGHPUT.warmupMs);
    await load.sample();
    const before = target.server.ingest.metrics().readings;
    const started = performance.now();
    await sleep(THROUGHPUT.measureMs);
    const stats = await load.sample();
    const seconds = (performance.now() - started) / 1000;
    const committed = target.server.ingest.metrics().readings - before;
    const sorted = stats.latenciesMs.sort((a, b) => a - b);
    return {
      metric: store === 'sqlite' ? 'ingest.sqlite_points_per_s' : 'ingest.influx_points_per_s',
      value: round(stats.ackedReadings / seconds, 0),
      unit: 'points/s',
      target: store === 'sqlite' ? 100_000 : 50_000,
      store:
        store === 'sqlite'
          ? 'sqlite (WAL, synchronous NORMAL)'
          : 'influxdb client → victoria-metrics',
      committedPointsPerS: round(committed / seconds, 0),
      gateways: THROUGHPUT.gateways,
      readingsPerBatch: THROUGHPUT.readingsPerBatch,
      windowPerGateway: THROUGHPUT.window,
      seconds: round(seconds, 1),
      ackLatencyP50Ms: round(percentile(sorted, 50), 1),
      ackLatencyP99Ms: round(percentile(sorted, 99), 1),
      rejected: target.server.ingest.metrics().rejected,
      errors: stats.errors.length,
      note: 'gateways in a child process on the same 2 cores; counted at StoreAck',
    };
  } finally {
    await load.stop();
    await target.stop();
    await vm?.stop();
  }
}

async function latency(store: 'sqlite' | 'influxdb'): Promise<Metric> {
  const vm = store === 'influxdb' ? await startVictoriaMetrics() : null;
  const { gateways, users } = await makeGateways(LATENCY.gateways);
  const target = await startServer({ users, ...(vm ? { influxUrl: vm.url } : {}) });
  const load = new GatewayLoad({
    url: `mqtt://127.0.0.1:${target.server.mqttPort}`,
    gateways,
    mode: 'rate',
    readingsPerBatch: LATENCY.readingsPerBatch,
    sensorsPerGateway: LATENCY.sensorsPerGateway,
    intervalMs: LATENCY.intervalMs,
  });
  try {
    await load.connected();
    load.go();
    await sleep(LATENCY.warmupMs);
    await load.sample();
    const started = performance.now();
    await sleep(LATENCY.measureMs);
    const stats = await load.sample();
    const seconds = (performance.now() - started) / 1000;
    const sorted = stats.latenciesMs.sort((a, b) => a - b);
    return {
      metric: 'ingest.latency_ms_p99',
      value: round(percentile(sorted, 99), 1),
      unit: 'ms',
      target: 100,
      store: store === 'sqlite' ? 'sqlite' : 'influxdb client → victoria-metrics',
      offeredPointsPerS: (LATENCY.gateways * LATENCY.readingsPerBatch * 1000) / LATENCY.intervalMs,
      achievedPointsPerS: round(stats.ackedReadings / seconds, 0),
      p50Ms: round(percentile(sorted, 50), 1),
      p90Ms: round(percentile(sorted, 90), 1),
      maxMs: round(sorted.at(-1) ?? Number.NaN, 1),
      batches: sorted.length,
      gateways: LATENCY.gateways,
      seconds: round(seconds, 1),
      note: 'publish → StoreAck at the gateway (broker, validation, store commit, ack)',
    };
  } finally {
    await load.stop();
    await target.stop();
    await vm?.stop();
  }
}

const bench: Benchmark = {
  name: 'ingest',
  async *run(): AsyncIterable<Metric> {
    yield await throughput('sqlite');
    yield await throughput('influxdb');
    yield await latency('sqlite');
    yield await latency('influxdb');
  },
};

export default bench;
