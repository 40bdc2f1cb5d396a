import { createServer, type Server } from 'node:http';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { topicFor } from '../../protocol/index.js';
import { CentralServer } from '../../server/central-server.js';
import { parseServerConfig } from '../../server/config/index.js';
import type { CommittedItem } from '../../server/ingest.js';
import { alarmEvent, batch, SECRET, SENSORS, status, T0, waitFor } from './fixtures.js';

const TELEMETRY = topicFor('ent-01', 'gw-01', 'telemetry');
const ALARM = topicFor('ent-01', 'gw-01', 'alarm');
const STATUS = topicFor('ent-01', 'gw-01', 'status');

describe('ingest over a real MQTT connection', () => {
  let server: CentralServer;
  let client: MqttClient;
  let centre: Server;
  let centreRequests: number;
  let committed: { item: CommittedItem; storedReadings: number }[];

  beforeEach(async () => {
    centreRequests = 0;
    centre = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        centreRequests++;
        res.writeHead(202).end();
      });
    });
    await new Promise<void>((resolve) => centre.listen(0, '127.0.0.1', resolve));
    const address = centre.address();
    const centrePort = typeof address === 'object' && address ? address.port : 0;

    committed = [];
    server = new CentralServer(
      parseServerConfig({
        http: { port: 0 },
        mqtt: { port: 0 },
        store: { path: ':memory:' },
        emergencyCentres: [
          { id: 'ec-1', name: 'City', url: `http://127.0.0.1:${centrePort}/hook`, secret: SECRET },
        ],
        linkage: { retryInitialMs: 10, retryMaxMs: 50 },
      }),
      {
        dashboard: false,
        afterCommit: (item) => {
          // Runs after the commit: what the hook is told about is already stored.
          committed.push({ item, storedReadings: server.store.latest().length });
        },
      },
    );
    await server.start();
    client = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, {
      clientId: 'gw-01',
      reconnectPeriod: 0,
      will: {
        topic: STATUS,
        payload: Buffer.from(JSON.stringify(status({ state: 'offline' }))),
        qos: 1,
        retain: true,
      },
    });
  });

  afterEach(async () => {
    await client?.endAsync(true);
    await server.stop();
    await new Promise<void>((resolve) => centre.close(() => resolve()));
  });

  const publish = (topic: string, payload: unknown, retain = false) =>
    client.publishAsync(topic, typeof payload === 'string' ? payload : JSON.stringify(payload), {
      qos: 1,
      retain,
    });

  it('stores a valid batch and tells the after-commit hook its seq', async () => {
    const sent = batch([
      { sensorId: 'GT-101', value: 12.5 },
      { sensorId: 'TT-201', value: 81.2 },
    ]);
    await publish(TELEMETRY, sent);
    await waitFor(() => server.ingest.metrics().batches === 1, 'the batch');
    expect(
      server.store
        .latest()
        .map((r) => [r.sensorId, r.value])
        .sort(),
    ).toEqual([
      ['GT-101', 12.5],
      ['TT-201', 81.2],
    ]);
    expect(committed).toEqual([
      {
        item: { channel: 'telemetry', gatewayId: 'gw-01', enterpriseId: 'ent-01', seq: sent.seq },
        storedReadings: 2,
      },
    ]);
    expect(server.gateways.get('gw-01')?.state).toBe('online');
  });

  it('rejects malformed payloads, counts them by reason, and keeps serving', async () => {
    const valid = batch();
    const validJson = JSON.stringify(valid);
    await publish(TELEMETRY, 'this is not JSON');
    await publish(TELEMETRY, { ...valid, readings: undefined });
    await publish(TELEMETRY, validJson.replace('"value":10', '"value":1e999')); // JSON's Infinity
    await publish(TELEMETRY, batch([{ value: { nested: 1 } as unknown as number }]));
    await publish(TELEMETRY, batch([{ ts: 12 }])); // a broken clock, not a reading
    await publish(TELEMETRY, { ...valid, gatewayId: 'gw-99' });
    await publish('hazardwatch/v1/ent-01/gw-01/firmware', validJson);
    await publish(TELEMETRY, validJson);

    await waitFor(
      () => server.ingest.metrics().batches === 1,
      'the valid batch after the bad ones',
    );
    const metrics = server.ingest.metrics();
    expect(metrics.rejectedByReason).toEqual({
      'bad-topic': 1,
      'not-json': 1,
      schema: 4,
      'id-mismatch': 1,
    });
    expect(metrics.rejected).toBe(7);
    expect(server.store.latest()).toHaveLength(1);
    expect(client.connected).toBe(true);

    const response = await fetch(`http://127.0.0.1:${server.httpPort}/api/v1/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      status: 'ok',
      ingest: { batches: 1, readings: 1, alarmEvents: 0, rejected: 7 },
    });
  });

  it('records a redelivered alarm once and pages the emergency centre once', async () => {
    const raised = alarmEvent();
    await publish(ALARM, raised);
    await publish(ALARM, raised);
    await waitFor(() => server.ingest.metrics().alarmEvents === 2, 'both alarm events');
    await waitFor(
      async () => (await server.notifier.counts()).delivered === 1,
      'the linkage delivery',
    );
    expect(await server.ledger.list({ state: 'all' })).toHaveLength(1);
    expect(centreRequests).toBe(1);
    expect(committed.map((c) => c.item.channel)).toEqual(['alarm', 'alarm']);

    await publish(ALARM, alarmEvent({ alarmId: 'drill-1', drill: true }));
    await publish(ALARM, alarmEvent({ alarmId: 'warn-1', level: 1, setpoint: 25 }));
    await waitFor(() => server.ingest.metrics().alarmEvents === 4, 'drill and level-1 events');
    expect(await server.notifier.counts()).toEqual({ pending: 0, delivered: 1 });
    expect(await server.ledger.list({ state: 'active' })).toHaveLength(3);
  });

  it("keeps another gateway's use of an alarm id apart: it never touches the first gateway's alarm", async () => {
    // Issue 13 item 1: alarm identity is (enterprise, gateway, alarm id); a gateway
    // squatting on an id is recorded under its own identity, never refused, never merged.
    await publish(ALARM, alarmEvent());
    await waitFor(() => server.ingest.metrics().alarmEvents === 1, 'the first alarm');
    const other = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, {
      clientId: 'gw-02',
      reconnectPeriod: 0,
    });
    try {
      await other.publishAsync(
        topicFor('ent-01', 'gw-02', 'alarm'),
        JSON.stringify(alarmEvent({ gatewayId: 'gw-02', transition: 'cleared' })),
        { qos: 1 },
      );
      await waitFor(() => server.ingest.metrics().alarmEvents === 2, 'the second gateway');
    } finally {
      await other.endAsync(true);
    }
    expect(server.ingest.metrics().rejected).toBe(0);
    const first = { enterpriseId: 'ent-01', gatewayId: 'gw-01', alarmId: 'GT-101-gas.L2.1' };
    expect((await server.ledger.get(first))?.state).toBe('active');
  });

  it('follows presence from the birth message to the last will, ignoring cleared retained messages', async () => {
    await publish(STATUS, status({ sensors: SENSORS, software: 'hazardwatch-gw 0.1' }), true);
    await waitFor(() => server.gateways.get('gw-01')?.sensors.length === 2, 'the birth message');
    expect(server.gateways.sensor('gw-01', 'TT-201')?.name).toBe('Tank 2 temperature');

    await publish(STATUS, '', true); // clears the retained status [MQTT-3.3.1-10]
    await server.broker.publish(topicFor('ent-01', 'gw-01', 'ack'), '{"v":1,"seqs":[1]}');
    await publish(STATUS, status({ ts: T0 + 15_000 }), true); // heartbeat: no catalogue
    await waitFor(() => server.ingest.metrics().statusMessages === 2, 'the heartbeat');
    expect(server.ingest.metrics().rejected).toBe(0);
    expect(server.gateways.get('gw-01')?.sensors).toHaveLength(2);

    client.stream.destroy(); // the gateway vanishes: the broker publishes its will
    await waitFor(() => server.gateways.get('gw-01')?.state === 'offline', 'the last will');
    expect(server.gateways.online()).toEqual([]);
  });
});
