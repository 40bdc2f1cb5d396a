/**
 * What survives an outbox restored from a backup, a gateway cloned from an
 * image, and an outbox recreated with the clock behind (docs/durability.md):
 * all three reuse sequence numbers the server has already acknowledged. With
 * the real gateway outbox and uplink, the real server ingest through aedes.
 */
import { copyFileSync, existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { freePort } from '../../common/net.js';
import type { MqttUplink, MqttUplinkOptions } from '../../gateway/uplink/mqtt-uplink.js';
import type { AlarmTransitionPayload } from '../../gateway/uplink/uplink.js';
import type { Reading } from '../../protocol/index.js';
import type { CentralServer } from '../../server/central-server.js';
import {
  createUplink,
  GATEWAY,
  Producer,
  sensorIds,
  startServer,
  storedReport,
  tempDir,
  useCleanups,
  waitUntil,
} from './support.js';

const cleanups = useCleanups();
const ids = sensorIds(3);

/** Copies an outbox file (closed: its WAL is checkpointed) and drops any stale -wal/-shm at the target. */
function copyOutbox(from: string, to: string): void {
  for (const suffix of ['-wal', '-shm']) rmSync(to + suffix, { force: true });
  copyFileSync(from, to);
  for (const suffix of ['-wal', '-shm']) {
    if (existsSync(from + suffix)) copyFileSync(from + suffix, to + suffix);
  }
}

async function setup() {
  const dir = tempDir(cleanups);
  const port = await freePort();
  const server = await startServer(path.join(dir, 'server.db'), port);
  cleanups.push(() => server.stop());
  // One producer across gateway runs: readings count on, so each run's are new.
  const producer = new Producer(sink, ids, { tickMs: 50, perTick: 10 });
  return { dir, server, url: `mqtt://127.0.0.1:${port}`, producer };
}

/** Forwards the producer's output to whichever uplink runs now. */
const sink = {
  target: null as MqttUplink | null,
  publishReadings(readings: Reading[]) {
    sink.target!.publishReadings(readings);
  },
  publishAlarm(alarm: AlarmTransitionPayload) {
    sink.target!.publishAlarm(alarm);
  },
};

/**
 * One gateway run on `outboxPath`: 5 ticks of 10 readings per sensor and one
 * alarm pair, everything acknowledged, then a clean stop.
 */
async function run(
  url: string,
  outboxPath: string,
  producer: Producer,
  overrides: Partial<MqttUplinkOptions> = {},
): Promise<void> {
  const uplink = createUplink(url, outboxPath, ids, overrides);
  await uplink.start();
  try {
    await waitUntil(() => uplink.connected, 'the uplink to connect');
    sink.target = uplink;
    for (let i = 0; i < 5; i++) producer.tick();
    producer.alarm();
    uplink.flush();
    await waitUntil(() => {
      const h = uplink.health();
      return h.backlog.telemetry.items + h.backlog.alarms.items === 0;
    }, 'every item to be acknowledged');
  } finally {
    await uplink.stop();
  }
}

async function expectAllStored(server: CentralServer, producer: Producer): Promise<void> {
  const report = await storedReport(server, ids, producer.produced);
  expect(report).toEqual({ missing: 0, duplicates: 0, outOfOrder: 0, extra: 0 });
  const alarms = (await server.ledger.list({ state: 'all', limit: 10_000 })).filter(
    (a) => a.gatewayId === GATEWAY && a.ruleId === 'S000-gas',
  );
  expect(alarms.map((a) => a.alarmId).sort()).toEqual([...producer.alarmIds].sort());
}

describe('outbox epochs: restore, clone and rollback reuse sequence numbers', () => {
  it('a restored outbox is acknowledged but never stored', async () => {
    const { dir, server, url, producer } = await setup();
    const outbox = path.join(dir, 'outbox.db');
    const backup = path.join(dir, 'outbox.backup.db');
    await run(url, outbox, producer);
    copyOutbox(outbox, backup); // last night's backup

    await run(url, outbox, producer);
    copyOutbox(backup, outbox); // the gateway is restored from it
    await run(url, outbox, producer);

    // The third run reused every number of the second, with other readings.
    await expectAllStored(server, producer);
    expect(server.ingest.metrics().reusedSeqs).toBeGreaterThan(0);
  }, 30_000);

  it('a restored outbox that still held unacknowledged items stores them once', async () => {
    const { dir, server, url, producer } = await setup();
    const outbox = path.join(dir, 'outbox.db');
    const backup = path.join(dir, 'outbox.backup.db');
    // Items queued while the server is unreachable, then a backup of that outbox.
    const offline = createUplink('mqtt://127.0.0.1:1', outbox, ids, { reconnectPeriodMs: 60_000 });
    await offline.start();
    sink.target = offline;
    producer.tick();
    offline.flush();
    await offline.stop();
    copyOutbox(outbox, backup);

    await run(url, outbox, producer); // sends the held items and new ones
    copyOutbox(backup, outbox); // the held items come back with the backup ...
    await run(url, outbox, producer); // ... and are sent again: true duplicates, plus new ones

    await expectAllStored(server, producer);
    expect(server.ingest.metrics().duplicates).toBeGreaterThan(0);
  }, 30_000);

  it('two gateways cloned from one image (same id, same outbox) both get stored', async () => {
    const { dir, server, url, producer } = await setup();
    const image = path.join(dir, 'image-outbox.db');
    await run(url, image, producer); // the gateway the image was taken from
    const first = path.join(dir, 'first.db');
    const second = path.join(dir, 'second.db');
    copyOutbox(image, first);
    copyOutbox(image, second);

    // Same gateway id, so the broker lets one connect at a time: they take turns.
    await run(url, first, producer);
    await run(url, second, producer);
    await run(url, first, producer);
    await run(url, second, producer);

    await expectAllStored(server, producer);
    expect(server.ingest.metrics().reusedSeqs).toBeGreaterThan(0);
  }, 40_000);

  it('an outbox recreated with the clock set back (new epoch, same numbers) gets stored', async () => {
    const { dir, server, url, producer } = await setup();
    const outbox = path.join(dir, 'outbox.db');
    // A new outbox numbers from the wall clock: the same clock reading gives the same numbers.
    const clock = { clock: new ManualClock(Date.now() - 60_000) };
    await run(url, outbox, producer, clock);
    for (const suffix of ['', '-wal', '-shm']) rmSync(outbox + suffix, { force: true });
    await run(url, outbox, producer, clock);

    await expectAllStored(server, producer);
    // A new epoch: nothing to compare, nothing flagged, nothing deduplicated away.
    expect(server.ingest.metrics().reusedSeqs).toBe(0);
  }, 30_000);
});
