/**
 * The whole server with `store.type: influxdb` writing into a real
 * VictoriaMetrics (through a proxy that holds each write's 204 back for
 * 300 ms): a gateway's batch is acknowledged on its ack topic only after the
 * time-series server confirmed the write, and the data is there.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeStoreAck, topicFor } from '../../protocol/index.js';
import { CentralServer } from '../../server/central-server.js';
import { parseServerConfig } from '../../server/config/index.js';
import { waitFor } from '../server/fixtures.js';
import { startVictoriaMetrics, startWriteCompatProxy } from '../server/influx-harness.js';

let vm: Awaited<ReturnType<typeof startVictoriaMetrics>>;
let proxy: Awaited<ReturnType<typeof startWriteCompatProxy>>;
let dir: string;

beforeAll(async () => {
  vm = await startVictoriaMetrics();
  proxy = await startWriteCompatProxy(vm.url, { rewriteToV1: false, delayMs: 300 });
  dir = mkdtempSync(join(tmpdir(), 'hw-central-influx-'));
});
afterAll(async () => {
  await proxy?.stop();
  await vm?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('central server on InfluxDB (VictoriaMetrics)', () => {
  it('acknowledges a batch only after the time-series server confirmed it', async () => {
    const server = new CentralServer(
      parseServerConfig({
        http: { port: 0 },
        mqtt: { port: 0 },
        store: {
          type: 'influxdb',
          path: join(dir, 'ledger.db'),
          influxdb: { url: proxy.url, bucket: 'telemetry', token: 'not-checked' },
        },
      }),
      { dashboard: false },
    );
    await server.start();
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, {
      clientId: 'gw-flux',
      reconnectPeriod: 0,
    });
    try {
      const ackTopic = topicFor('ent-01', 'gw-flux', 'ack');
      await client.subscribeAsync(ackTopic, { qos: 1 });
      const ackedAt = new Promise<number>((resolve) => {
        client.on('message', (topic, payload) => {
          const ack = decodeStoreAck(payload);
          if (topic === ackTopic && ack.ok && ack.value.seqs.includes(41)) {
            resolve(performance.now());
          }
        });
      });
      const ts = Date.now();
      await client.publishAsync(
        topicFor('ent-01', 'gw-flux', 'telemetry'),
        JSON.stringify({
          v: 1,
          gatewayId: 'gw-flux',
          enterpriseId: 'ent-01',
          seq: 41,
          sentAt: ts,
          readings: Array.from({ length: 25 }, (_, i) => ({
            sensorId: `S${i}`,
            value: i,
            quality: 'good',
            ts,
          })),
        }),
        { qos: 1 },
      );
      const acked = await ackedAt;
      const write = proxy.writes.find((w) => w.lines.some((l) => l.includes('gateway_id=gw-flux')));
      expect(write?.status).toBe(204);
      expect(write?.lines).toHaveLength(25);
      // The 204 reached the server before the gateway heard "stored".
      expect(write?.respondedAt).toBeLessThan(acked);
      expect(server.store.latest()).toHaveLength(25);
      await waitFor(async () => {
        const series = await vm.exportSeries('{__name__="reading_value",gateway_id="gw-flux"}');
        return series.reduce((n, x) => n + x.values.length, 0) === 25;
      }, 'the readings in VictoriaMetrics');
    } finally {
      await client.endAsync(true);
      await server.stop();
    }
  });
});
