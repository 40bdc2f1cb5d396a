/**
 * Bad input through the whole server (password-authenticated gateway, real
 * MQTT): malformed, oversized, NaN/infinite values, wrong types, timestamps
 * ten years off. Each malformed item is rejected, counted and written to the
 * audit log, never stored, and the server keeps serving the same gateway. A
 * timestamp far off the server clock is not malformed: it is stored and flagged
 * (a rejection would make the gateway delete it, issue 13 review).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_READINGS_PER_BATCH, topicFor } from '../../protocol/index.js';
import { hashPassword } from '../../server/auth/password.js';
import { CentralServer } from '../../server/central-server.js';
import { parseServerConfig } from '../../server/config/index.js';
import { waitFor } from '../server/fixtures.js';

const TELEMETRY = topicFor('ent-01', 'gw-01', 'telemetry');
const YEAR_MS = 365.25 * 86_400_000;
const PASSWORD = 'gw-01-password-for-tests';

let seq = 1;
function batch(readings: unknown[], overrides: Record<string, unknown> = {}) {
  return {
    v: 1,
    gatewayId: 'gw-01',
    enterpriseId: 'ent-01',
    seq: seq++,
    sentAt: Date.now(),
    readings,
    ...overrides,
  };
}
const reading = (overrides: Record<string, unknown> = {}) => ({
  sensorId: 'GT-101',
  value: 12.5,
  quality: 'good',
  ts: Date.now(),
  ...overrides,
});

describe('bad input at the secured server', () => {
  let dir: string;
  let server: CentralServer;
  let client: MqttClient;

  const connect = () =>
    mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, {
      clientId: 'gw-01',
      username: 'gw-01',
      password: PASSWORD,
      reconnectPeriod: 0,
    });
  const send = (payload: unknown) =>
    client.publishAsync(
      TELEMETRY,
      typeof payload === 'string' ? payload : JSON.stringify(payload),
      {
        qos: 1,
      },
    );
  const audit = () =>
    readFileSync(join(dir, 'audit.jsonl'), 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hw-bad-input-'));
    server = new CentralServer(
      parseServerConfig({
        http: { port: 0 },
        mqtt: {
          port: 0,
          maxPacketBytes: 1_024 * 1_024,
          auth: {
            mode: 'password',
            users: [
              {
                username: 'gw-01',
                role: 'gateway',
                enterpriseId: 'ent-01',
                passwordHash: await hashPassword(PASSWORD),
              },
            ],
          },
        },
        store: { path: join(dir, 'hazardwatch.db') },
      }),
      { dashboard: false },
    );
    await server.start();
    client = await connect();
  });

  afterEach(async () => {
    await client?.endAsync(true);
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('rejects, counts and audits every kind of bad telemetry, stores none of it, and keeps serving', async () => {
    const now = Date.now();
    const valid = JSON.stringify(batch([reading({ value: 1 })]));
    await send('{"v":1,"gatewayId":"gw-01",'); // malformed JSON
    await send('{"v":1,"value":NaN}'); // NaN is not JSON
    await send(valid.replace('"value":1', '"value":1e999')); // parses to Infinity
    await send(batch([reading({ value: { nested: true } })])); // wrong type
    await send(batch([reading({ quality: 'great' })])); // not a quality
    await send(batch([reading({ ts: String(now) })])); // timestamp as a string
    await send(
      batch(Array.from({ length: MAX_READINGS_PER_BATCH + 1 }, (_, i) => reading({ ts: now - i }))),
    ); // more readings than one batch may carry
    await send(batch([reading({ value: 7 })])); // the one good batch

    await waitFor(() => server.ingest.metrics().batches === 1, 'the good batch');
    const metrics = server.ingest.metrics();
    expect(metrics.rejectedByReason).toMatchObject({ 'not-json': 2, schema: 5 });
    expect(metrics.rejected).toBe(7);
    expect(metrics.suspectTimestamps).toBe(0);
    expect(server.store.latest().map((r) => r.value)).toEqual([7]);

    const records = audit().filter((r) => r.category === 'ingest');
    expect(records).toHaveLength(7);
    expect(records.every((r) => r.event === 'rejected' && r.gatewayId === 'gw-01')).toBe(true);
    expect(records.map((r) => r.reason)).toEqual([
      'not-json',
      'not-json',
      ...Array(5).fill('schema'),
    ]);
    expect(String(records[6]!.detail)).toMatch(/\/readings must NOT have more than 10000 items/);
    expect(client.connected).toBe(true);
  });

  it('stores and flags telemetry whose clock is ten years off instead of rejecting it (the gateway would delete it)', async () => {
    const now = Date.now();
    await send(batch([reading({ value: 1, ts: now + 10 * YEAR_MS })])); // clock ten years ahead
    await send(batch([reading({ value: 2, ts: now - 10 * YEAR_MS })])); // clock ten years behind
    await send(batch([reading({ value: 3 })], { sentAt: now + 10 * YEAR_MS })); // sent "in the future"
    await waitFor(() => server.ingest.metrics().batches === 3, 'three flagged batches');
    const metrics = server.ingest.metrics();
    expect(metrics.rejected).toBe(0);
    expect(metrics.suspectTimestamps).toBe(3);
    const stored = await server.store.queryRange({
      gatewayId: 'gw-01',
      sensorId: 'GT-101',
      from: 0,
      to: now + 20 * YEAR_MS,
      limit: 100,
    });
    expect(stored.map((r) => r.value).sort()).toEqual([1, 2, 3]);
    const records = audit().filter((r) => r.category === 'ingest');
    expect(records.map((r) => r.event)).toEqual(Array(3).fill('suspect-timestamp'));
    const details = records.map((r) => String(r.detail));
    expect(details[0]).toMatch(/^\/readings\/0\/ts .* is 10 years ahead of the server clock/);
    expect(details[1]).toMatch(/^\/readings\/0\/ts .* is 10 years behind the server clock/);
    expect(details[2]).toMatch(/^\/sentAt .* is 10 years ahead of the server clock/);
  });

  it('drops a connection that sends an oversized packet, audits it, and takes the gateway back', async () => {
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.publish(TELEMETRY, Buffer.alloc(1_024 * 1_024 + 1, 0x20), { qos: 1 });
    await closed;
    client.end(true);
    client = await connect();
    await send(batch([reading({ value: 3 })]));
    await waitFor(() => server.ingest.metrics().batches === 1, 'the batch after reconnecting');
    expect(server.store.latest().map((r) => r.value)).toEqual([3]);
    expect(server.broker.securityCounts()['packet-too-large']).toBe(1);
    expect(audit()).toEqual([
      expect.objectContaining({
        category: 'broker',
        event: 'packet-too-large',
        clientId: 'gw-01',
        reason: expect.stringMatching(/exceeds 1048576$/),
      }),
    ]);
  });

  it('audits refused connections and publishes outside the identity', async () => {
    const intruder = mqtt.connect(`mqtt://127.0.0.1:${server.mqttPort}`, {
      clientId: 'gw-01',
      username: 'gw-01',
      password: 'guessed',
      reconnectPeriod: 0,
    });
    await new Promise<void>((resolve) => intruder.once('error', () => resolve()));
    intruder.end(true);
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.publish(topicFor('ent-02', 'gw-02', 'telemetry'), JSON.stringify(batch([reading()])), {
      qos: 1,
    });
    await closed;
    expect(server.ingest.metrics().batches).toBe(0);
    expect(audit().map((r) => [r.category, r.event, r.reason])).toEqual([
      ['broker', 'connect-refused', "wrong password for 'gw-01'"],
      ['broker', 'publish-refused', 'topic outside the identity'],
    ]);
  });
});
