/**
 * Server nodes in external mode behind Debian's mosquitto 2, with the password and ACL files
 * generated from the users file: a real gateway streams through the broker, the nodes consume
 * through a shared subscription and acknowledge after their store committed, and the
 * gateway's outbox empties.
 */
import path from 'node:path';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import type { Gateway } from '../../gateway/gateway.js';
import { decodeTelemetryBatch, topicFor } from '../../protocol/index.js';
import { CentralServer } from '../../server/central-server.js';
import { ExternalBroker } from '../../server/cluster/external-broker.js';
import {
  type Cleanup,
  drained,
  nodeConfig,
  PASSWORDS,
  readingsFor,
  startGateway,
  startMosquitto,
  startNode,
  storedAcross,
  tempDir,
  testUsers,
  waitUntil,
} from './harness.js';

const cleanups: Cleanup[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const T0 = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;

/** Feeds `ticks` × `perTick` readings per sensor and one drill alarm pair every 10 ticks. */
async function stream(gateway: Gateway, ticks: number, perTick: number): Promise<string[]> {
  const alarmIds: string[] = [];
  for (let tick = 0; tick < ticks; tick++) {
    gateway.uplink.publishReadings(readingsFor(T0, tick * perTick, (tick + 1) * perTick));
    if (tick % 10 === 9) {
      const alarmId = `S000-gas.L2.${alarmIds.length}`;
      alarmIds.push(alarmId);
      const base = {
        alarmId,
        ruleId: 'S000-gas',
        sensorId: 'S000',
        level: 2 as const,
        unit: '%LEL',
        setpoint: 50, // GB/T 50493-2019 §5.5.3 item 1: level 2 <= 50 %LEL
        drill: true, // drills never page an emergency centre
      };
      gateway.uplink.publishAlarm({ ...base, transition: 'raised', value: 55, ts: Date.now() });
      gateway.uplink.publishAlarm({
        ...base,
        transition: 'cleared',
        value: 10,
        ts: Date.now() + 1,
      });
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return alarmIds;
}

async function alarmIdsOf(server: CentralServer): Promise<Set<string>> {
  return new Set((await server.ledger.list({ state: 'all', limit: 10_000 })).map((a) => a.alarmId));
}

describe('a server node in external mode', () => {
  it('takes a real gateway’s stream through mosquitto, acknowledges each committed item, and the outbox empties', async () => {
    const dir = tempDir(cleanups);
    const broker = await startMosquitto(cleanups, await testUsers());
    const storePath = path.join(dir, 'node-1.db');
    const node = await startNode(cleanups, broker.url, 'node-1', storePath);
    expect(node.transport).toBeInstanceOf(ExternalBroker);
    expect(node.mqttPort).toBe(0);
    expect(() => node.broker).toThrow(/external broker/);

    const gateway = await startGateway(cleanups, broker.url, dir, 2_000);
    await waitUntil(
      () => gateway.uplink.health!().connected,
      'the gateway to connect to mosquitto',
    );
    const alarmIds = await stream(gateway, 40, 5);
    await drained(gateway, 'every outbox item to be acknowledged');

    const report = await storedAcross([storePath], T0, 200);
    expect(report).toMatchObject({ missing: 0, duplicates: 0, extra: 0 });
    const stored = await alarmIdsOf(node);
    for (const id of alarmIds) expect(stored.has(id), id).toBe(true);
    // The gateway's identity on the node is the topic's gateway id (the broker enforced the ACL).
    expect(node.gateways.list().map((g) => g.gatewayId)).toContain('gw-01');
    expect(node.ingest.metrics().rejected).toBe(0);
  }, 60_000);

  it('two nodes on one shared subscription each take part of the traffic and together lose nothing', async () => {
    const dir = tempDir(cleanups);
    const broker = await startMosquitto(cleanups, await testUsers());
    const stores = [path.join(dir, 'node-1.db'), path.join(dir, 'node-2.db')];
    const nodes = [
      await startNode(cleanups, broker.url, 'node-1', stores[0]!),
      await startNode(cleanups, broker.url, 'node-2', stores[1]!),
    ];
    const gateway = await startGateway(cleanups, broker.url, dir, 5_000);
    await waitUntil(() => gateway.uplink.health!().connected, 'the gateway to connect');
    const alarmIds = await stream(gateway, 60, 5);
    await drained(gateway, 'every outbox item to be acknowledged');

    const report = await storedAcross(stores, T0, 300);
    expect(report).toMatchObject({ missing: 0, extra: 0 });
    // mosquitto hands the group's messages out in turn: both nodes stored readings.
    expect(report.perNode[0]).toBeGreaterThan(0);
    expect(report.perNode[1]).toBeGreaterThan(0);
    const stored = new Set([...(await alarmIdsOf(nodes[0]!)), ...(await alarmIdsOf(nodes[1]!))]);
    for (const id of alarmIds) expect(stored.has(id), id).toBe(true);
  }, 60_000);

  it('a node restarted cleanly gets the QoS 1 messages the broker kept for its session meanwhile, and acknowledges them once stored', async () => {
    const dir = tempDir(cleanups);
    const broker = await startMosquitto(cleanups, await testUsers());
    const storePath = path.join(dir, 'node-1.db');
    const first = await startNode(cleanups, broker.url, 'node-1', storePath);
    await first.stop();

    // A bare gateway client (MQTT 3.1.1, like the uplink) publishes while no node is connected.
    const gateway = await mqtt.connectAsync(broker.url, {
      clientId: 'gw-01',
      username: 'gw-01',
      password: PASSWORDS['gw-01'],
      reconnectPeriod: 0,
    });
    cleanups.push(() => gateway.endAsync(true));
    const acks: string[] = [];
    gateway.on('message', (_topic, payload) => acks.push(payload.toString()));
    await gateway.subscribeAsync(topicFor('ent-01', 'gw-01', 'ack'), { qos: 1 });
    const batch = JSON.stringify({
      v: 1,
      gatewayId: 'gw-01',
      enterpriseId: 'ent-01',
      seq: 1,
      sentAt: Date.now(),
      readings: [{ sensorId: 'S000', value: 0, quality: 'good', ts: T0 }],
    });
    expect(decodeTelemetryBatch(Buffer.from(batch)).ok).toBe(true);
    await gateway.publishAsync(topicFor('ent-01', 'gw-01', 'telemetry'), batch, { qos: 1 });

    const again = await startNode(cleanups, broker.url, 'node-1', storePath);
    await waitUntil(() => acks.length > 0, 'the StoreAck after the restart');
    expect(JSON.parse(acks[0]!)).toEqual({ v: 1, seqs: [1] });
    expect(again.ingest.metrics().batches).toBe(1);
    await again.stop();
    // The one reading of the batch (sensor S000, k = 0) is in the store.
    expect(await storedAcross([storePath], T0, 1)).toMatchObject({ perNode: [1], extra: 0 });
  }, 60_000);

  it('refuses to start, naming the broker and the identity, when the broker refuses the service password', async () => {
    const dir = tempDir(cleanups);
    const broker = await startMosquitto(cleanups, await testUsers());
    const config = nodeConfig(broker.url, 'node-1', path.join(dir, 'node-1.db'));
    const server = new CentralServer(
      { ...config, mqtt: { ...config.mqtt, password: 'not-the-service-password' } },
      { dashboard: false },
    );
    cleanups.push(() => server.stop());
    await expect(server.start()).rejects.toThrow(
      /external broker mqtt:\/\/127\.0\.0\.1:\d+ refused the service identity 'hazardwatch-node': .*Not authorized/,
    );
    expect(server.httpPort).toBe(0);
  });
});
