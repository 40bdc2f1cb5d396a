/**
 * server.ingest_points_per_s: telemetry points per second from MQTT publishers
 * (4 simulated gateways, QoS 1, 1,000 readings per batch) through the embedded
 * aedes broker, payload validation and the SQLite store, until every point is
 * committed. Publishers and server share this process and its 2 cores.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { type TelemetryBatch, topicFor } from '../protocol/index.js';
import { CentralServer } from '../server/central-server.js';
import { parseServerConfig } from '../server/config/index.js';
import { type Benchmark, type Metric, round } from './metric.js';

const GATEWAYS = 4;
const BATCHES_PER_GATEWAY = 100;
const READINGS_PER_BATCH = 1_000;
const SENSORS_PER_GATEWAY = 200;

const bench: Benchmark = {
  name: 'server-ingest',
  async *run(): AsyncIterable<Metric> {
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'hw-bench-ingest-'));
    const server = new CentralServer(
      parseServerConfig({
        http: { port: 0 },
        mqtt: { port: 0 },
        store: { type: 'sqlite', path: path.join(tmp, 'hazardwatch.db') },
      }),
      { dashboard: false },
    );
    await server.start();
    const clients = await Promise.all(
      Array.from({ length: GATEWAYS }, (_, g) =>
        mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, { clientId: `bench-gw-${g}` }),
      ),
    );
    const total = GATEWAYS * BATCHES_PER_GATEWAY * READINGS_PER_BATCH;
    try {
      // Pre-serialise so the figure measures the server, not JSON.stringify in the publishers.
      const payloads = clients.map((_, g) => {
        const base = Date.now() - 3_600_000;
        return Array.from({ length: BATCHES_PER_GATEWAY }, (_, b) => {
          const readings = Array.from({ length: READINGS_PER_BATCH }, (_, r) => ({
            sensorId: `S-${(b * READINGS_PER_BATCH + r) % SENSORS_PER_GATEWAY}`,
            value: Math.round(Math.random() * 10_000) / 100,
            quality: 'good' as const,
            ts: base + b * READINGS_PER_BATCH + r,
          }));
          const batch: TelemetryBatch = {
            v: 1,
            gatewayId: `bench-gw-${g}`,
            enterpriseId: 'bench-ent',
            seq: b,
            sentAt: Date.now(),
            readings,
          };
          return JSON.stringify(batch);
        });
      });
      const started = performance.now();
      await Promise.all(
        clients.map(async (client, g) => {
          const topic = topicFor('bench-ent', `bench-gw-${g}`, 'telemetry');
          for (const payload of payloads[g]!) await client.publishAsync(topic, payload, { qos: 1 });
        }),
      );
      const deadline = Date.now() + 120_000;
      while (server.ingest.metrics().readings < total) {
        if (Date.now() > deadline) throw new Error('ingest did not finish within 120 s');
        await new Promise((r) => setTimeout(r, 5));
      }
      const seconds = (performance.now() - started) / 1000;
      yield {
        metric: 'server.ingest_points_per_s',
        value: round(total / seconds, 0),
        unit: 'points/s',
        points: total,
        gateways: GATEWAYS,
        batch: READINGS_PER_BATCH,
        store: 'sqlite',
      };
    } finally {
      await Promise.all(clients.map((c) => c.endAsync()));
      await server.stop();
      await rm(tmp, { recursive: true, force: true });
    }
  },
};

export default bench;
