/**
 * Issue 13: alarm identity is (enterprise, gateway, alarm id), end to end through the real
 * broker (password auth and ACLs), ingest, ledger, disposal and emergency linkage; and the chain
 * head is anchored on an MQTT topic that a witness reads and no gateway may write.
 */
import { createServer, type Server } from 'node:http';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type StoreAck, topicFor } from '../../protocol/index.js';
import type { LedgerAnchor } from '../../server/alarms/ledger-anchors.js';
import { hashPassword } from '../../server/auth/password.js';
import { CentralServer } from '../../server/central-server.js';
import { parseServerConfig } from '../../server/config/index.js';
import { alarmEvent, SECRET, waitFor } from './fixtures.js';

const PASSWORDS = { 'gw-a': 'gw-a-secret', 'gw-b': 'gw-b-secret', witness: 'witness-secret' };
const ANCHOR_TOPIC = 'hazardwatch/ledger/anchor';

describe('alarm identity across enterprises, through the real broker', () => {
  let users: object[];
  let server: CentralServer;
  let centre: Server;
  let paged: { enterpriseId: string; gatewayId: string; alarmId: string }[];
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    users = [
      {
        username: 'gw-a',
        role: 'gateway',
        enterpriseId: 'ent-a',
        passwordHash: await hashPassword(PASSWORDS['gw-a']),
      },
      {
        username: 'gw-b',
        role: 'gateway',
        enterpriseId: 'ent-b',
        passwordHash: await hashPassword(PASSWORDS['gw-b']),
      },
      {
        username: 'witness',
        role: 'client',
        passwordHash: await hashPassword(PASSWORDS.witness),
        subscribe: [ANCHOR_TOPIC],
      },
    ];
  });

  beforeEach(async () => {
    paged = [];
    centre = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      req.on('end', () => {
        paged.push(JSON.parse(body) as (typeof paged)[number]);
        res.writeHead(202).end();
      });
    });
    await new Promise<void>((resolve) => centre.listen(0, '127.0.0.1', resolve));
    const address = centre.address();
    const centrePort = typeof address === 'object' && address ? address.port : 0;
    server = new CentralServer(
      parseServerConfig({
        http: { port: 0 },
        mqtt: { port: 0, auth: { mode: 'password', users } },
        store: { path: ':memory:' },
        enterprises: [
          { id: 'ent-a', name: 'A Chemical' },
          { id: 'ent-b', name: 'B Chemical' },
        ],
        emergencyCentres: [
          { id: 'ec-1', name: 'City', url: `http://127.0.0.1:${centrePort}/hook`, secret: SECRET },
        ],
        linkage: { retryInitialMs: 10, retryMaxMs: 50 },
      }),
      { dashboard: false },
    );
    await server.start();
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) await client.endAsync(true);
    await server.stop();
    await new Promise<void>((resolve) => centre.close(() => resolve()));
  });

  const connect = async (username: keyof typeof PASSWORDS) => {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, {
      clientId: username,
      username,
      password: PASSWORDS[username],
      reconnectPeriod: 0,
    });
    clients.push(client);
    return client;
  };

  /** A gateway that listens to its StoreAcks. */
  const gateway = async (enterpriseId: string, gatewayId: 'gw-a' | 'gw-b') => {
    const client = await connect(gatewayId);
    const acks: StoreAck[] = [];
    client.on('message', (_topic, payload) =>
      acks.push(JSON.parse(payload.toString()) as StoreAck),
    );
    await client.subscribeAsync(topicFor(enterpriseId, gatewayId, 'ack'), { qos: 1 });
    const publishAlarm = (event: ReturnType<typeof alarmEvent>) =>
      client.publishAsync(topicFor(enterpriseId, gatewayId, 'alarm'), JSON.stringify(event), {
        qos: 1,
      });
    return { client, acks, publishAlarm };
  };

  it("alarm-id squatting across enterprises silences another plant's alarm", async () => {
    const a = await gateway('ent-a', 'gw-a');
    const b = await gateway('ent-b', 'gw-b');
    // Ids are predictable (rule.L{level}.{ts}): A publishes the id B will use next, first.
    const nextIdOfB = 'GT-101-gas.L2.1767254400000';
    const squat = alarmEvent({
      enterpriseId: 'ent-a',
      gatewayId: 'gw-a',
      alarmId: nextIdOfB,
      seq: 1,
    });
    await a.publishAlarm(squat);
    await waitFor(() => a.acks.some((ack) => ack.seqs.includes(1)), "A's StoreAck");

    const real = alarmEvent({
      enterpriseId: 'ent-b',
      gatewayId: 'gw-b',
      alarmId: nextIdOfB,
      seq: 41,
    });
    await b.publishAlarm(real);
    // B's gateway hears "stored" (it deletes the item only then), never "rejected".
    await waitFor(() => b.acks.some((ack) => ack.seqs.includes(41)), "B's StoreAck");
    expect(b.acks.flatMap((ack) => ack.rejected ?? [])).toEqual([]);

    const keyB = { enterpriseId: 'ent-b', gatewayId: 'gw-b', alarmId: nextIdOfB };
    expect(await server.ledger.get(keyB)).toMatchObject({ state: 'active', sensorId: 'GT-101' });
    expect(await server.platform.disposal.disposition(keyB)).toMatchObject({ status: 'open' });
    // Both plants are paged, each for its own alarm.
    await waitFor(() => paged.length === 2, 'both emergency notifications');
    expect(paged.map((n) => `${n.enterpriseId}/${n.gatewayId}/${n.alarmId}`).sort()).toEqual([
      `ent-a/gw-a/${nextIdOfB}`,
      `ent-b/gw-b/${nextIdOfB}`,
    ]);
    expect(server.ingest.metrics().rejected).toBe(0); // a squatted id is recorded, never refused

    // A's clear of "its" alarm cannot clear B's.
    await a.publishAlarm({ ...squat, seq: 2, transition: 'cleared', ts: squat.ts + 1 });
    await waitFor(() => a.acks.some((ack) => ack.seqs.includes(2)), "A's clear acknowledged");
    expect((await server.ledger.get(keyB))?.state).toBe('active');
  });

  it('acknowledging at the server reaches only the gateway that owns the alarm', async () => {
    const a = await gateway('ent-a', 'gw-a');
    const b = await gateway('ent-b', 'gw-b');
    const commands: { gateway: string; alarmId: string }[] = [];
    for (const [client, ent, gw] of [
      [a.client, 'ent-a', 'gw-a'],
      [b.client, 'ent-b', 'gw-b'],
    ] as const) {
      client.on('message', (topic, payload) => {
        if (topic.endsWith('/command'))
          commands.push({
            gateway: gw,
            alarmId: (JSON.parse(payload.toString()) as { alarmId: string }).alarmId,
          });
      });
      await client.subscribeAsync(topicFor(ent, gw, 'command'), { qos: 1 });
    }
    const id = 'same-id';
    await a.publishAlarm(
      alarmEvent({ enterpriseId: 'ent-a', gatewayId: 'gw-a', alarmId: id, seq: 5 }),
    );
    await b.publishAlarm(
      alarmEvent({ enterpriseId: 'ent-b', gatewayId: 'gw-b', alarmId: id, seq: 6 }),
    );
    await waitFor(() => b.acks.some((ack) => ack.seqs.includes(6)), "B's StoreAck");
    const keyB = { enterpriseId: 'ent-b', gatewayId: 'gw-b', alarmId: id };
    await server.platform.dispositionOf((await server.ledger.get(keyB))!);
    server.platform.disposalChanged(await server.platform.disposal.acknowledge(keyB, 'reg-b'));
    await waitFor(() => commands.length > 0, 'the acknowledge command');
    expect(commands).toEqual([{ gateway: 'gw-b', alarmId: id }]);
    expect(
      (
        await server.platform.disposal.disposition({
          ...keyB,
          enterpriseId: 'ent-a',
          gatewayId: 'gw-a',
        })
      )?.status,
    ).toBe('open');
  });

  it('publishes the chain head as a retained anchor that a witness reads and no gateway can overwrite', async () => {
    const a = await gateway('ent-a', 'gw-a');
    await a.publishAlarm(alarmEvent({ enterpriseId: 'ent-a', gatewayId: 'gw-a', seq: 9 }));
    await waitFor(() => a.acks.some((ack) => ack.seqs.includes(9)), "A's StoreAck");
    const anchor = await server.platform.integrity.anchorNow();
    expect(anchor).toMatchObject({ seq: 1 });

    // A gateway tries to overwrite the retained anchor: refused by the ACL (it may lose its
    // connection for it, [MQTT-3.3.5-2] leaves that to the server).
    a.client.publish(ANCHOR_TOPIC, JSON.stringify({ ...anchor, seq: 999 }), {
      qos: 1,
      retain: true,
    });
    await waitFor(
      () =>
        server.audit
          .recent()
          .some((r) => r.event === 'publish-refused' && r.topic === ANCHOR_TOPIC),
      'the refused publish in the audit log',
    );

    // A witness subscribing later still gets the newest anchor (retained).
    const witness = await connect('witness');
    const seen: LedgerAnchor[] = [];
    witness.on('message', (_topic, payload) =>
      seen.push(JSON.parse(payload.toString()) as LedgerAnchor),
    );
    await witness.subscribeAsync(ANCHOR_TOPIC, { qos: 1 });
    await waitFor(() => seen.length > 0, 'the retained anchor');
    expect(seen[0]).toEqual(anchor);
    expect(server.ingest.metrics().rejected).toBe(0); // the server's own anchor never reached ingest
  });
});
