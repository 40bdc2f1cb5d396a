import path from 'node:path';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import {
  decodeStoreAck,
  type StoreAck,
  type TelemetryBatch,
  topicFor,
} from '../../protocol/index.js';
import {
  createUplink,
  ENTERPRISE,
  GATEWAY,
  startServer,
  T0,
  tempDir,
  waitUntil,
} from './support.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const batch = (seq: number, readings: TelemetryBatch['readings']): TelemetryBatch => ({
  v: 1,
  gatewayId: GATEWAY,
  enterpriseId: ENTERPRISE,
  seq,
  sentAt: T0,
  readings,
});

async function setup() {
  const dir = tempDir(cleanups);
  const server = await startServer(path.join(dir, 'server.db'));
  cleanups.push(() => server.stop());
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, {
    clientId: GATEWAY,
  });
  cleanups.push(() => client.endAsync(true));
  const acks: StoreAck[] = [];
  client.on('message', (_topic, payload) => {
    const decoded = decodeStoreAck(payload);
    if (decoded.ok) acks.push(decoded.value);
  });
  await client.subscribeAsync(topicFor(ENTERPRISE, GATEWAY, 'ack'), { qos: 1 });
  const telemetry = topicFor(ENTERPRISE, GATEWAY, 'telemetry');
  const publish = (payload: unknown) =>
    client.publishAsync(
      telemetry,
      typeof payload === 'string' ? payload : JSON.stringify(payload),
      { qos: 1 },
    );
  return { dir, server, acks, publish };
}

const acked = (acks: StoreAck[]) => acks.flatMap((a) => a.seqs);
const rejected = (acks: StoreAck[]) => acks.flatMap((a) => a.rejected ?? []);

describe('application-level acknowledgements from the server', () => {
  it('acknowledges after the commit, and a redelivery is acknowledged again but stored and announced once', async () => {
    const { server, acks, publish } = await setup();
    let announced = 0;
    server.events.on('readings', () => announced++);
    const item = batch(7, [{ sensorId: 'GT-101', value: 1, quality: 'good', ts: T0 }]);
    await publish(item);
    await waitUntil(() => acked(acks).includes(7), 'the first ack');
    expect(server.store.latest()).toHaveLength(1);
    await publish(item);
    await waitUntil(() => acked(acks).filter((s) => s === 7).length === 2, 'the second ack');
    expect(server.ingest.metrics().duplicates).toBe(1);
    expect(announced).toBe(1);
  });

  it('lists invalid items whose sequence number it can read as rejected, so they are not resent forever', async () => {
    const { acks, publish } = await setup();
    await publish(
      batch(8, [{ sensorId: 'GT-101', value: 1, quality: 'excellent' as 'good', ts: T0 }]),
    );
    await publish({ ...batch(9, []), gatewayId: 'someone-else' });
    await publish('not JSON at all');
    await publish(batch(10, [{ sensorId: 'GT-101', value: 2, quality: 'good', ts: T0 + 1 }]));
    await waitUntil(() => acked(acks).includes(10), 'the valid item');
    expect(rejected(acks).sort()).toEqual([8, 9]);
    expect(acked(acks)).toEqual([10]);
  });

  it('coalesces acknowledgements of items committed close together', async () => {
    const { acks, publish } = await setup();
    await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        publish(batch(100 + i, [{ sensorId: 'GT-101', value: i, quality: 'good', ts: T0 + i }])),
      ),
    );
    await waitUntil(() => acked(acks).length === 100, 'all acks');
    expect(acks.length).toBeLessThan(100);
  });

  it('makes the uplink drop (and count) an item the server rejected', async () => {
    const { dir, server } = await setup();
    const uplink = createUplink(
      `mqtt://127.0.0.1:${server.mqttPort}`,
      path.join(dir, 'outbox.db'),
      ['GT-101'],
      {
        gatewayId: 'gw-other',
        heartbeatMs: 200,
      },
    );
    await uplink.start();
    cleanups.push(() => uplink.stop());
    uplink.publishReadings([
      { sensorId: 'GT-101', value: 'x'.repeat(300), quality: 'good', ts: T0 },
    ]);
    uplink.publishReadings([{ sensorId: 'GT-101', value: 3, quality: 'good', ts: T0 + 1 }]);
    uplink.flush();
    uplink.publishReadings([{ sensorId: 'GT-101', value: 4, quality: 'good', ts: T0 + 2 }]);
    await waitUntil(() => uplink.health().backlog.telemetry.items === 0, 'the outbox to empty');
    expect(uplink.health().rejected).toBe(1);
    expect(server.store.latest().find((r) => r.gatewayId === 'gw-other')?.value).toBe(4);
    // The heartbeat tells the server (and the regulators' view) what the outbox holds and lost.
    await waitUntil(() => server.gateways.get('gw-other')?.uplink?.rejected === 1, 'a heartbeat');
    expect(server.gateways.get('gw-other')?.uplink).toMatchObject({
      backlogItems: 0,
      droppedReadings: 0,
      rejected: 1,
    });
  });
});
