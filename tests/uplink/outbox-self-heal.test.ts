/**
 * A corrupt local file stops the gateway (issue 13 item 4): a truncated or
 * garbled outbox database made the gateway exit with a raw SqliteError that
 * did not name the file, and crash-loop. Now the file is moved aside (kept as
 * `outbox.db.corrupt-<time>`), a fresh outbox takes its place and the fault is
 * reported. Real SQLite files, damaged on disk.
 */
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  statSync,
  truncateSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { Outbox, type OutboxStats, type OutboxStorageFault } from '../../gateway/outbox/outbox.js';
import type { OutboxEvent } from '../../gateway/uplink/mqtt-uplink.js';
import {
  createUplink,
  Producer,
  sensorIds,
  startServer,
  storedReport,
  tempDir,
  useCleanups,
  waitUntil,
} from './support.js';

const cleanups = useCleanups();
const clock = new ManualClock(Date.UTC(2026, 11, 6, 23, 20, 0));
const payload = (size: number) => (seq: number) => JSON.stringify({ seq, pad: 'x'.repeat(size) });

/** An outbox file with `items` telemetry items of `size` bytes each, closed. */
function filledOutbox(file: string, items: number, size = 2_000): number[] {
  const outbox = new Outbox({ path: file, clock, telemetrySync: 'normal' });
  outbox.open();
  const seqs: number[] = [];
  for (let i = 0; i < items; i++) seqs.push(outbox.appendTelemetry(payload(size), 1).seq);
  outbox.close();
  return seqs;
}

/** Overwrites `length` bytes at `offset` with a repeating junk pattern. */
function garble(file: string, offset: number, length: number): void {
  const fd = openSync(file, 'r+');
  try {
    writeSync(fd, Buffer.alloc(length, 0xa5), 0, length, offset);
  } finally {
    closeSync(fd);
  }
}

function openHealing(file: string) {
  const faults: { fault: OutboxStorageFault; stats: OutboxStats }[] = [];
  const outbox = new Outbox({
    path: file,
    clock,
    onStorageFault: (fault, stats) => faults.push({ fault, stats }),
  });
  outbox.open();
  cleanups.push(() => outbox.close());
  return { outbox, faults };
}

function expectMovedAside(file: string, fault: OutboxStorageFault): void {
  expect(fault.path).toBe(file);
  expect(fault.movedTo).toBe(`${file}.corrupt-20261206T232000Z`);
  expect(existsSync(fault.movedTo)).toBe(true);
  // The error names the file it is about.
  expect(fault.error).toContain(file);
  expect(fault.error).toMatch(/^SQLITE_(CORRUPT|NOTADB)/);
}

describe('outbox self-heal', () => {
  it('a truncated outbox is moved aside and a fresh one opened', () => {
    const file = path.join(tempDir(cleanups), 'outbox.db');
    filledOutbox(file, 300);
    const size = statSync(file).size;
    truncateSync(file, Math.floor(size / 2));

    const { outbox, faults } = openHealing(file);
    expect(faults).toHaveLength(1);
    expectMovedAside(file, faults[0]!.fault);
    expect(faults[0]!.stats.storageFaults).toBe(1);
    // Fresh, empty, usable.
    expect(outbox.stats()).toMatchObject({ telemetry: { items: 0 }, alarms: { items: 0 } });
    const entry = outbox.appendAlarm(payload(10));
    expect(JSON.parse(outbox.payload(entry.seq)!)).toMatchObject({ seq: entry.seq });
    expect(statSync(faults[0]!.fault.movedTo).size).toBe(Math.floor(size / 2));
  });

  it('an outbox with garbled pages is moved aside, with its epoch renewed', () => {
    const file = path.join(tempDir(cleanups), 'outbox.db');
    filledOutbox(file, 300);
    const before = new Database(file, { readonly: true });
    const epoch = before
      .prepare("SELECT value FROM meta WHERE key = 'epoch'")
      .pluck()
      .get() as string;
    const pageSize = before.pragma('page_size', { simple: true }) as number;
    before.close();
    // Pages 3..20: b-tree pages of the items table.
    garble(file, 2 * pageSize, 18 * pageSize);

    const { outbox, faults } = openHealing(file);
    expect(faults).toHaveLength(1);
    expectMovedAside(file, faults[0]!.fault);
    expect(outbox.epoch).not.toBe(epoch);
    expect(outbox.epoch).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it('a file whose header is garbled (not a database) is moved aside', () => {
    const file = path.join(tempDir(cleanups), 'outbox.db');
    filledOutbox(file, 10);
    garble(file, 0, 100);
    const { faults } = openHealing(file);
    expect(faults).toHaveLength(1);
    expectMovedAside(file, faults[0]!.fault);
    expect(faults[0]!.fault.error).toMatch(/^SQLITE_NOTADB/);
  });

  it('a file that turns corrupt while open is moved aside at the next read', () => {
    const file = path.join(tempDir(cleanups), 'outbox.db');
    const { outbox, faults } = openHealing(file);
    const seqs: number[] = [];
    // 30 MB: far beyond SQLite's page cache, so the first items are read from disk again.
    for (let i = 0; i < 600; i++) seqs.push(outbox.appendTelemetry(payload(50_000), 1).seq);
    const other = new Database(file);
    other.pragma('wal_checkpoint(TRUNCATE)');
    const pageSize = other.pragma('page_size', { simple: true }) as number;
    other.close();
    garble(file, 2 * pageSize, 200 * pageSize);

    expect(outbox.readBack(seqs[0]!)).toBeUndefined();
    expect(faults).toHaveLength(1);
    expect(faults[0]!.fault.path).toBe(file);
    // What was held and never acknowledged is named, so the storage-fault alarm can say it.
    expect(faults[0]!.fault.unsent).toEqual({ alarms: 0, readings: 600 });
    // The gateway goes on with a fresh outbox.
    const next = outbox.appendAlarm(payload(10));
    expect(next.seq).toBeGreaterThan(seqs.at(-1)!);
    expect(outbox.stats().alarms.items).toBe(1);
    expect(outbox.stats().telemetry.items).toBe(0);
  }, 30_000);

  it('an outbox that cannot be opened for another reason still throws, naming the file', () => {
    const dir = tempDir(cleanups);
    // A directory where the file should be: not corruption, nothing to move aside.
    const blocked = path.join(dir, 'is-a-dir');
    mkdirSync(blocked);
    const outbox = new Outbox({ path: blocked, clock });
    expect(() => outbox.open()).toThrow(/cannot open uplink outbox '.*is-a-dir'/);
    expect(readdirSync(dir).filter((f) => f.includes('corrupt'))).toEqual([]);
  });

  it('the uplink reports the fault as an event at start and keeps delivering', async () => {
    const dir = tempDir(cleanups);
    const file = path.join(dir, 'outbox.db');
    filledOutbox(file, 50);
    garble(file, 0, 100);
    const server = await startServer(path.join(dir, 'server.db'));
    cleanups.push(() => server.stop());
    const ids = sensorIds(2);
    const events: OutboxEvent[] = [];
    const uplink = createUplink(`mqtt://127.0.0.1:${server.mqttPort}`, file, ids, {
      onOutboxEvent: (event) => events.push(event),
    });
    await uplink.start();
    cleanups.push(() => uplink.stop());
    // Delivered at the end of start(), before the first stats event.
    expect(events.map((e) => e.type)).toEqual(['storage-fault', 'stats']);
    const fault = events[0]!;
    expect(fault.type === 'storage-fault' && fault.fault.movedTo).toMatch(/outbox\.db\.corrupt-/);
    expect(uplink.health().storageFaults).toBe(1);
    const producer = new Producer(uplink, ids, { tickMs: 50, perTick: 5 });
    producer.tick();
    uplink.flush();
    await waitUntil(
      () => uplink.health().backlog.telemetry.items === 0,
      'delivery after the fault',
    );
    expect((await storedReport(server, ids, producer.produced)).missing).toBe(0);
  }, 20_000);
});
