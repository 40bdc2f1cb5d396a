/**
 * The server is killed (kill -9) after the broker sent the MQTT PUBACK for a
 * batch and before the store committed it: nothing is lost, because the
 * gateway deletes an item only on the application-level StoreAck.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../common/net.js';
import type { CentralServer } from '../../server/central-server.js';
import {
  createUplink,
  Producer,
  sensorIds,
  spawnScript,
  startServer,
  storedReport,
  tempDir,
  useCleanups,
  waitUntil,
} from './support.js';

const cleanups = useCleanups();

describe('a server killed between PUBACK and store commit', () => {
  it('loses nothing: the gateway resends what was never acknowledged', async () => {
    const dir = tempDir(cleanups);
    const storePath = path.join(dir, 'server.db');
    const port = await freePort();
    const child = spawnScript('server-child.ts', [String(port), storePath, '20']);
    cleanups.push(() => void child.child.kill('SIGKILL'));
    await waitUntil(() => child.lines.includes('listening'), 'the server process', 20_000);

    const ids = sensorIds(10);
    const uplink = createUplink(`mqtt://127.0.0.1:${port}`, path.join(dir, 'outbox.db'), ids, {
      ackTimeoutMs: 1_000,
    });
    await uplink.start();
    cleanups.push(() => uplink.stop());
    const producer = new Producer(uplink, ids, { tickMs: 50, perTick: 10, alarmEvery: 5 });
    producer.start();
    cleanups.push(() => producer.stop());

    await waitUntil(
      () => child.lines.some((l) => l.startsWith('blocked ')),
      'a batch PUBACKed but not committed',
    );
    await new Promise((r) => setTimeout(r, 300)); // more batches pile up behind it
    child.child.kill('SIGKILL');
    await child.exited;
    expect(uplink.health().backlog.telemetry.items).toBeGreaterThan(0);

    let server: CentralServer | null = null;
    server = await startServer(storePath, port);
    cleanups.push(() => server?.stop());
    await new Promise((r) => setTimeout(r, 500));
    producer.stop();
    uplink.flush();
    await waitUntil(() => {
      const h = uplink.health();
      return h.backlog.telemetry.items + h.backlog.alarms.items === 0;
    }, 'the backlog to drain');

    const report = await storedReport(server, ids, producer.produced);
    expect(report).toEqual({ missing: 0, duplicates: 0, outOfOrder: 0, extra: 0 });
    const alarms = new Set(
      (await server.ledger.list({ state: 'all', limit: 10_000 })).map((a) => a.alarmId),
    );
    for (const id of producer.alarmIds) expect(alarms.has(id)).toBe(true);
  }, 40_000);
});
