/**
 * broker.gateways_connected: concurrent gateway connections one server holds
 * while each gateway sends 20 points/s (one batch of 20 readings a second,
 * QoS 1, acknowledged by StoreAck), every one authenticated with its own
 * password (scrypt, production cost) on loopback; target >= 3,000.
 * server.rss_mb: the server process's resident memory at that load (the
 * simulated gateways run in a child process and are not counted).
 *
 * A gateway counts when it is connected at the end of the measurement and
 * its batches were stored and acknowledged during it; `keptUpFraction` says
 * how much of the offered 20 points/s per gateway was acknowledged (the
 * simulated gateways share the 2 cores with the server).
 */

import { GatewayLoad, makeGateways, sleep, startServer } from './ingest-support.js';
import { type Benchmark, type Metric, round } from './metric.js';

const LOAD = {
  gateways: 3_000,
  readingsPerBatch: 20, // 20 points/s per gateway
  intervalMs: 1_000,
  sensorsPerGateway: 20,
  connectConcurrency: 100,
  warmupMs: 5_000,
  measureMs: 20_000,
} as const;

const bench: Benchmark = {
  name: 'broker',
  async *run(): AsyncIterable<Metric> {
    const setupStarted = performance.now();
    const { gateways, users } = await makeGateways(LOAD.gateways);
    const hashSeconds = (performance.now() - setupStarted) / 1000;
    const target = await startServer({ users });
    const rssBefore = process.memoryUsage().rss;
    const load = new GatewayLoad({
      url: `mqtt://127.0.0.1:${target.server.mqttPort}`,
      gateways,
      mode: 'rate',
      readingsPerBatch: LOAD.readingsPerBatch,
      sensorsPerGateway: LOAD.sensorsPerGateway,
      intervalMs: LOAD.intervalMs,
      connectConcurrency: LOAD.connectConcurrency,
    });
    try {
      const { connectMs } = await load.connected();
      load.go();
      await sleep(LOAD.warmupMs);
      await load.sample();
      let peakRss = 0;
      const started = performance.now();
      const deadline = started + LOAD.measureMs;
      while (performance.now() < deadline) {
        await sleep(1_000);
        peakRss = Math.max(peakRss, process.memoryUsage().rss);
      }
      const stats = await load.sample();
      const seconds = (performance.now() - started) / 1000;
      const batchesPerGatewayPerS = stats.latenciesMs.length / seconds / LOAD.gateways;
      const sorted = stats.latenciesMs.sort((a, b) => a - b);
      const p99 = sorted[Math.max(0, Math.ceil(sorted.length * 0.99) - 1)] ?? Number.NaN;
      yield {
        metric: 'broker.gateways_connected',
        value: stats.served,
        unit: 'gateways',
        target: 3_000,
        offered: LOAD.gateways,
        connectedAtEnd: stats.connected,
        brokerConnections: target.server.broker.connectedClients,
        pointsPerGatewayPerS: LOAD.readingsPerBatch * (1_000 / LOAD.intervalMs),
        ackedPointsPerS: round(stats.ackedReadings / seconds, 0),
        ackedBatchesPerGatewayPerS: round(batchesPerGatewayPerS, 2),
        keptUpFraction: round(batchesPerGatewayPerS / (1_000 / LOAD.intervalMs), 2),
        ackLatencyP99Ms: round(p99, 1),
        connectAllSeconds: round(connectMs / 1000, 1),
        hashSetupSeconds: round(hashSeconds, 1),
        auth: 'password (scrypt N=1024 per gateway)',
        seconds: round(seconds, 1),
        note: 'loopback; gateways in a child process on the same 2 cores',
      };
      yield {
        metric: 'server.rss_mb',
        value: round(peakRss / 2 ** 20, 0),
        unit: 'MiB',
        gateways: stats.connected,
        pointsPerS: round(stats.ackedReadings / seconds, 0),
        rssBeforeGatewaysMb: round(rssBefore / 2 ** 20, 0),
        store: 'sqlite',
        note: 'peak RSS of the server process (broker, ingest, SQLite store, API) during the measurement',
      };
    } finally {
      await load.stop();
      await target.stop();
    }
  },
};

export default bench;
