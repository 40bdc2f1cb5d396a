/**
 * Two server nodes in external mode share the gateway traffic through mosquitto; one of them
 * is killed with SIGKILL mid-stream (no clean shutdown: no DISCONNECT, no last StoreAcks).
 * Nothing is lost: whatever the dead node took and never acknowledged stays in the gateway's
 * outbox, and the gateway's resends reach the surviving node.
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  backlog,
  type Cleanup,
  drained,
  readingsFor,
  spawnNode,
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
const PER_TICK = 5;

describe('a node killed mid-stream', () => {
  it('loses nothing once the gateway resends what was not acknowledged', async () => {
    const dir = tempDir(cleanups);
    const broker = await startMosquitto(cleanups, await testUsers());
    const stores = [path.join(dir, 'node-1.db'), path.join(dir, 'node-2.db')];
    const doomed = await spawnNode(cleanups, broker.url, 'node-1', stores[0]!);
    await startNode(cleanups, broker.url, 'node-2', stores[1]!);
    const gateway = await startGateway(cleanups, broker.url, dir, 1_000);
    await waitUntil(() => gateway.uplink.health!().connected, 'the gateway to connect');

    let k = 0;
    const tick = () => {
      gateway.uplink.publishReadings(readingsFor(T0, k, k + PER_TICK));
      k += PER_TICK;
    };
    for (let i = 0; i < 30; i++) {
      tick();
      await new Promise((r) => setTimeout(r, 20));
    }
    doomed.child.kill('SIGKILL');
    await doomed.exited;
    // The stream goes on while the broker still counts the dead node in the group.
    for (let i = 0; i < 30; i++) {
      tick();
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(backlog(gateway)).toBeGreaterThan(0);
    await drained(gateway, 'the gateway’s resends to be acknowledged', 60_000);

    const report = await storedAcross(stores, T0, k);
    expect(report).toMatchObject({ missing: 0, extra: 0 });
    // The killed node had stored its share before it died; the survivor took the rest.
    expect(report.perNode[0]).toBeGreaterThan(0);
    expect(report.perNode[1]).toBeGreaterThan(0);
  }, 90_000);
});
