/**
 * The gateway process is killed with kill -9 while it holds a backlog (the
 * server is down); restarted, it delivers the whole backlog.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../common/net.js';
import {
  GATEWAY,
  sensorIds,
  spawnScript,
  startServer,
  storedReport,
  T0,
  tempDir,
  useCleanups,
  waitUntil,
} from './support.js';

const cleanups = useCleanups();

describe('a gateway killed with kill -9', () => {
  it('delivers the backlog it held once it is restarted', async () => {
    const dir = tempDir(cleanups);
    const outbox = path.join(dir, 'outbox.db');
    const port = await freePort(); // nothing listens yet: the server is down
    const url = `mqtt://127.0.0.1:${port}`;

    const producer = spawnScript('gateway-child.ts', ['produce', url, outbox, String(T0)]);
    cleanups.push(() => void producer.child.kill('SIGKILL'));
    const durable = () =>
      Math.max(
        0,
        ...producer.lines.filter((l) => l.startsWith('durable ')).map((l) => Number(l.slice(8))),
      );
    await waitUntil(
      () => durable() >= 1_000,
      'the child to hold 1,000 readings per sensor',
      20_000,
    );
    producer.child.kill('SIGKILL');
    await producer.exited;
    const held = durable();
    const alarmIds = producer.lines.filter((l) => l.startsWith('alarm ')).map((l) => l.slice(6));
    expect(alarmIds.length).toBeGreaterThan(0);

    const server = await startServer(path.join(dir, 'server.db'), port);
    cleanups.push(() => server.stop());
    const restarted = spawnScript('gateway-child.ts', ['drain', url, outbox]);
    cleanups.push(() => void restarted.child.kill('SIGKILL'));
    await waitUntil(
      () => restarted.lines.includes('drained'),
      'the restarted gateway to drain',
      20_000,
    );

    const ids = sensorIds(10);
    const report = await storedReport(server, ids, held);
    expect(report.missing).toBe(0);
    expect(report.duplicates).toBe(0);
    expect(report.outOfOrder).toBe(0);
    const stored = new Set(
      (await server.ledger.list({ state: 'all', limit: 10_000 }))
        .filter((a) => a.gatewayId === GATEWAY)
        .map((a) => a.alarmId),
    );
    for (const id of alarmIds) expect(stored.has(id)).toBe(true);
  }, 60_000);
});
