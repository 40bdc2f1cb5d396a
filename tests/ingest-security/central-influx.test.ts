/**
 * The whole server with `store.type: influxdb` writing into a real
 * VictoriaMetrics: a gateway's batch is acknowledged on its ack topic only
 * once the time-series server holds it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeStoreAck, topicFor } from '../../protocol/index.js';
import { CentralServer } from '../../server/central-server.js';
import { parseServerConfig } from '../../server/config/index.js';
import { startVictoriaMetrics } from '../server/influx-harness.js';

let vm: Awaited<ReturnType<typeof startVictoriaMetrics>>;
let dir: string;

beforeAll(async () => {
  vm = await startVictoriaMetrics();
  dir = mkdtempSync(join(tmpdir(), 'hw-central-influx-'));
});
afterAll(async () => {
  await vm?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('central server on InfluxDB (VictoriaMetrics)', () => {
  it('acknowledges a batch only when the time-series server already holds it', async () => {
    const server = new CentralServer(
      parseServerConfig({
        http: { port: 0 },
        mqtt: { port: 0 },
        store: {
          type: 'influxdb',
          path: join(dir, 'ledger.db'),
          influxdb: { url: vm.url, bucket: 'telemetry', token: 'not-checked' },
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
      const seenAtAck = new Promise<number>((resolve) => {
        client.on('message', (topic, payload) => {
          const ack = decodeStoreAck(payload);
          if (topic !== ackTopic || !ack.ok || !ack.value.seqs.includes(41)) return;
          // At the moment of the ack, ask VictoriaMetrics what it holds.
          void vm
            .exportSeries('{__name__="reading_value",gateway_id="gw-flux"}')
            .then((series) => resolve(series.reduce((n, s) => n + s.values.length, 0)));
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
      expect(await seenAtAck).toBe(25);
      expect(server.store.latest()).toHaveLength(25);
    } finally {
      await client.endAsync(true);
      await server.stop();
    }
  });
});
