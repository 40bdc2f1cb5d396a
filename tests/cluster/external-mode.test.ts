/**
 * Server nodes in external mode behind Debian's mosquitto 2, with the password and ACL files
 * generated from the users file: a real gateway streams through the broker, the nodes consume
 * through a shared subscription and acknowledge after their store committed, and the
 * gateway's outbox empties.
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Gateway } from '../../gateway/gateway.js';
import type { CentralServer } from '../../server/central-server.js';
import { ExternalBroker } from '../../server/cluster/external-broker.js';
import {
  backlog,
  type Cleanup,
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

function alarmIdsOf(server: CentralServer): Set<string> {
  return new Set(server.ledger.list({ state: 'all', limit: 10_000 }).map((a) => a.alarmId));
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
    await waitUntil(() => backlog(gateway) === 0, 'every outbox item to be acknowledged');

    const report = await storedAcross([storePath], T0, 200);
    expect(report).toMatchObject({ missing: 0, duplicates: 0, extra: 0 });
    const stored = alarmIdsOf(node);
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
    await waitUntil(() => backlog(gateway) === 0, 'every outbox item to be acknowledged');

    const report = await storedAcross(stores, T0, 300);
    expect(report).toMatchObject({ missing: 0, extra: 0 });
    // mosquitto hands the group's messages out in turn: both nodes stored readings.
    expect(report.perNode[0]).toBeGreaterThan(0);
    expect(report.perNode[1]).toBeGreaterThan(0);
    const stored = new Set([...alarmIdsOf(nodes[0]!), ...alarmIdsOf(nodes[1]!)]);
    for (const id of alarmIds) expect(stored.has(id), id).toBe(true);
  }, 60_000);
});
