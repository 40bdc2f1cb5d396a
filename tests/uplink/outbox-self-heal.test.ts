/**
 * A corrupt local file stops the gateway (issue 13 item 4): a truncated or
 * garbled outbox database made the gateway exit with a raw SqliteError that
 * did not name the file, and crash-loop. Now the file is moved aside (kept as
 * `outbox.db.corrupt-<time>`), a fresh outbox takes its place and the fault is
 * reported. When that happens while running, what the gateway still held
 * unacknowledged is salvaged from the moved file and sent again. Real SQLite
 * files, damaged on disk.
 */
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  truncateSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { freePort } from '../../common/net.js';
import {
  describeStorageFault,
  Outbox,
  type OutboxStats,
  type OutboxStorageFault,
} from '../../gateway/outbox/outbox.js';
import type { OutboxEvent } from '../../gateway/uplink/mqtt-uplink.js';
import { topicFor } from '../../protocol/index.js';
import { collectMessages, startTestBroker } from '../support/broker.js';
import {
  createUplink,
  ENTERPRISE,
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

/**
 * Damages pages of a file an outbox holds open, so that its next access meets them: the file is
 * checkpointed (the WAL emptied into it), each page of `pages(db)` (1-based numbers) overwritten
 * with junk, and then another connection commits one row to `meta`. That commit makes the
 * outbox's connection drop its page cache at its next transaction (SQLite's WAL change check),
 * so it reads the damaged pages from disk instead of serving them from memory.
 */
function garbleWhileOpen(file: string, pages: (db: Database.Database) => number[]): number[] {
  const other = new Database(file);
  try {
    other.pragma('wal_checkpoint(TRUNCATE)');
    const pageSize = other.pragma('page_size', { simple: true }) as number;
    const victims = pages(other);
    for (const page of victims) garble(file, (page - 1) * pageSize, pageSize);
    other
      .prepare(
        "INSERT INTO meta (key, value) VALUES ('test-touch', 1) ON CONFLICT (key) DO UPDATE SET value = value + 1",
      )
      .run();
    return victims;
  } finally {
    other.close();
  }
}

/** The page (1-based) holding the one copy of `text` in the checkpointed file. */
function pageOf(db: Database.Database, file: string, text: string): number {
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  const bytes = readFileSync(file);
  const at = bytes.indexOf(text);
  expect(at, `'${text}' in ${file}`).toBeGreaterThanOrEqual(0);
  expect(bytes.indexOf(text, at + 1), `a second '${text}' in ${file}`).toBe(-1);
  return Math.floor(at / pageSize) + 1;
}

/** The b-tree leaf pages of the items table in key order (dbstat), with their cell counts. */
function itemLeaves(db: Database.Database): { pageno: number; ncell: number }[] {
  return db
    .prepare<[], { pageno: number; ncell: number }>(
      "SELECT pageno, ncell FROM dbstat WHERE name = 'items' AND pagetype = 'leaf' ORDER BY path",
    )
    .all();
}

function openHealing(file: string, ownClock = clock) {
  const faults: { fault: OutboxStorageFault; stats: OutboxStats }[] = [];
  /** The final reports of salvages that copied telemetry over later turns. */
  const ends: { fault: OutboxStorageFault; stats: OutboxStats }[] = [];
  const outbox = new Outbox({
    path: file,
    clock: ownClock,
    onStorageFault: (fault, stats) => faults.push({ fault, stats }),
    onSalvageEnd: (fault, stats) => ends.push({ fault, stats }),
  });
  outbox.open();
  cleanups.push(() => outbox.close());
  return { outbox, faults, ends };
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

  it('a file that turns corrupt while open is moved aside at the next read', async () => {
    const file = path.join(tempDir(cleanups), 'outbox.db');
    const { outbox, faults, ends } = openHealing(file);
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
    // Reported at once, before the telemetry is copied: no alarm was held, all of it is pending.
    expect(faults[0]!.fault).toMatchObject({
      path: file,
      salvaged: { alarms: 0, readings: 0 },
      unsent: { alarms: 0, readings: 0 },
      pending: { readings: 600 },
    });
    expect(outbox.salvaging).toBe(true);
    await outbox.salvageSettled();
    expect(ends).toHaveLength(1);
    const { fault } = ends[0]!;
    expect(fault.path).toBe(file);
    expect(fault.pending).toBeUndefined();
    // What was held and never acknowledged is either salvaged or named as lost, so the
    // storage-fault alarm can say both.
    expect(fault.unsent!.alarms + fault.salvaged!.alarms).toBe(0);
    expect(fault.unsent!.readings + fault.salvaged!.readings).toBe(600);
    expect(fault.unsent!.readings).toBeGreaterThan(0); // the rows on the garbled pages
    expect(fault.salvaged!.readings).toBeGreaterThan(0); // the rows behind them
    expect(outbox.stats().telemetry.items).toBe(fault.salvaged!.readings);
    // The gateway goes on with a fresh outbox, numbers above everything handed out before.
    const next = outbox.appendAlarm(payload(10));
    expect(next.seq).toBeGreaterThan(seqs.at(-1)!);
    expect(outbox.stats().alarms.items).toBe(1);
  }, 30_000);

  it('a file that turned corrupt while running kept its unacknowledged alarms unsent: they are salvaged into the fresh outbox, ahead of the telemetry', async () => {
    const file = path.join(tempDir(cleanups), 'outbox.db');
    const time = new ManualClock(clock.now());
    const { outbox, faults, ends } = openHealing(file, time);
    const alarm = (alarmId: string) => (seq: number) =>
      JSON.stringify({ v: 1, seq, epoch: outbox.epoch, alarmId, transition: 'raised' });
    const raised = outbox.appendAlarms([alarm('gas.L1'), alarm('gas.L2')]);
    const createdAt = time.now();
    time.advance(5_000); // the salvage comes later: the items keep their own time
    const batches: number[] = [];
    // 3,000 bytes each: one batch per leaf page, whole (no overflow pages).
    for (let i = 0; i < 40; i++) batches.push(outbox.appendTelemetry(payload(3_000), 10).seq);
    const epoch = outbox.epoch;
    // One leaf in the middle and the last one (the next append reads it, and meets the damage).
    const damaged = garbleWhileOpen(file, (db) => {
      const middle = pageOf(db, file, `{"seq":${batches[19]},`);
      const last = pageOf(db, file, `{"seq":${batches[39]},`);
      const alarmPages = raised.map((e) => pageOf(db, file, `"seq":${e.seq},`));
      expect(alarmPages).not.toContain(middle);
      expect(alarmPages).not.toContain(last);
      expect(itemLeaves(db).at(-1)!.pageno).toBe(last);
      return [middle, last];
    });
    expect(damaged).toHaveLength(2);

    const after = outbox.appendTelemetry(payload(10), 1);
    expect(faults).toHaveLength(1);
    // At the fault: the alarms are salvaged, the telemetry is still to be copied.
    const atFault = faults[0]!.fault;
    expect(atFault).toMatchObject({
      salvaged: { alarms: 2, readings: 0 },
      unsent: { alarms: 0, readings: 0 },
      pending: { readings: 400 },
    });
    expect(describeStorageFault(atFault)).toBe(
      `${atFault.error}; 2 unacknowledged alarm transition(s) and 0 reading(s) salvaged from the moved file and sent again; 400 unacknowledged reading(s) still being salvaged from the moved file (the final count is logged when done)`,
    );
    expect(ends).toHaveLength(0);
    await outbox.salvageSettled();
    expect(ends).toHaveLength(1);
    const { fault, stats } = ends[0]!;
    expect(fault.pending).toBeUndefined();
    expect(fault.salvaged).toEqual({ alarms: 2, readings: 380 });
    expect(fault.unsent).toEqual({ alarms: 0, readings: 20 }); // the two batches on the damaged pages
    expect(describeStorageFault(fault)).toBe(
      `${fault.error}; 2 unacknowledged alarm transition(s) and 380 reading(s) salvaged from the moved file and sent again; 0 unacknowledged alarm transition(s) and 20 reading(s) could not be read and stay in the moved file, not sent`,
    );
    // The 38 salvaged batches and the one appended after the fault.
    expect(stats).toMatchObject({ alarms: { items: 2 }, telemetry: { items: 39, readings: 381 } });

    // Salvaged under a new epoch and new numbers: the alarms first, then what was appended after
    // the fault (here the append that met it), then the telemetry in its original order, copied
    // over the following turns.
    expect(outbox.epoch).not.toBe(epoch);
    const alarms = [...outbox.entries('alarm')];
    const telemetry = [...outbox.entries('telemetry')];
    expect(alarms.map((e) => e.createdAt)).toEqual([createdAt, createdAt]);
    expect(alarms.map((e) => JSON.parse(outbox.readBack(e.seq)!))).toEqual(
      alarms.map((e, i) => ({
        v: 1,
        seq: e.seq,
        epoch: outbox.epoch,
        alarmId: ['gas.L1', 'gas.L2'][i],
        transition: 'raised',
      })),
    );
    const seqs = [...alarms, ...telemetry].map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(seqs[0]!).toBeGreaterThan(batches.at(-1)!);
    expect(telemetry[0]!.seq).toBe(after.seq);
    for (const entry of telemetry) expect(outbox.readBack(entry.seq)).toBeDefined();
    expect(outbox.stats().quarantined).toBe(0);
    // The moved file is left as found (opened read-only), for forensics.
    expect(existsSync(fault.movedTo)).toBe(true);
  });

  it('a file that turned corrupt while running kept its unacknowledged alarm unsent: it is salvaged into the fresh outbox and sent', async () => {
    const dir = tempDir(cleanups);
    const file = path.join(dir, 'outbox.db');
    const port = await freePort(); // nothing listens yet: the alarm waits in the outbox
    const ids = sensorIds(2);
    const events: OutboxEvent[] = [];
    const uplink = createUplink(`mqtt://127.0.0.1:${port}`, file, ids, {
      onOutboxEvent: (event) => events.push(event),
    });
    await uplink.start();
    cleanups.push(() => uplink.stop());
    const producer = new Producer(uplink, ids, { tickMs: 50, perTick: 20 });
    producer.alarm(); // raised and cleared, committed before any telemetry
    for (let i = 0; i < 10; i++) {
      producer.tick();
      uplink.flush(); // one batch of 40 readings (about 2.6 kB: one leaf page each)
    }
    // The last batch's leaf: the next append reads it and meets the damage.
    garbleWhileOpen(file, (db) => {
      const last = itemLeaves(db).at(-1)!;
      expect(last.ncell).toBe(1);
      return [last.pageno];
    });
    producer.tick();
    uplink.flush();
    expect(events.filter((e) => e.type === 'storage-fault')).toHaveLength(1);
    await waitUntil(() => events.some((e) => e.type === 'salvage-end'), 'the salvage to end');
    const ends = events.filter((e) => e.type === 'salvage-end');
    expect(ends).toHaveLength(1);
    const fault = ends[0]!.type === 'salvage-end' ? ends[0]!.fault : undefined;
    expect(fault?.salvaged).toEqual({ alarms: 2, readings: 9 * 40 });
    expect(fault?.unsent).toEqual({ alarms: 0, readings: 40 });

    const server = await startServer(path.join(dir, 'server.db'), port);
    cleanups.push(() => server.stop());
    await waitUntil(() => {
      const h = uplink.health();
      return h.backlog.telemetry.items === 0 && h.backlog.alarms.items === 0;
    }, 'the salvaged backlog to drain');
    const alarms = (await server.ledger.list({ state: 'all', limit: 100 })).filter(
      (a) => a.gatewayId === GATEWAY && a.ruleId === 'S000-gas',
    );
    expect(alarms.map((a) => [a.alarmId, a.state])).toEqual([[producer.alarmIds[0], 'cleared']]);
    // Only the batch on the damaged page is missing: ticks 9 (readings k = 180..199) of 11.
    // outOfOrder counts seq going back along a sensor's timestamps: the batch appended after the
    // fault (tick 11) has a lower seq than the telemetry salvaged in the turns after it, once per
    // sensor. The server stores each reading by (gateway, sensor, ts), so that order is harmless.
    expect(await storedReport(server, ids, producer.produced)).toEqual({
      missing: 40,
      duplicates: 0,
      outOfOrder: ids.length,
      extra: 0,
    });
  }, 30_000);

  it('a file that turns corrupt while connected: the salvaged alarm is sent again at once, under the new epoch', async () => {
    const dir = tempDir(cleanups);
    const file = path.join(dir, 'outbox.db');
    // A bare broker: items are published but never acknowledged, so they stay held.
    const broker = await startTestBroker();
    cleanups.push(() => broker.close());
    const alarms = await collectMessages(broker.url, topicFor(ENTERPRISE, GATEWAY, 'alarm'));
    cleanups.push(() => alarms.client.endAsync());
    const ids = sensorIds(2);
    const uplink = createUplink(broker.url, file, ids, { ackTimeoutMs: 60_000 });
    await uplink.start();
    cleanups.push(() => uplink.stop());
    const producer = new Producer(uplink, ids, { tickMs: 50, perTick: 20 });
    const alarmId = producer.alarm();
    type Sent = { alarmId?: string; transition?: string; seq: number; epoch: string };
    const raises = () =>
      alarms.messages
        .map((m) => m.payload as Sent)
        .filter((p) => p.alarmId === alarmId && p.transition === 'raised');
    await alarms.waitFor(() => raises().length === 1);
    for (let i = 0; i < 10; i++) {
      producer.tick();
      uplink.flush();
    }
    garbleWhileOpen(file, (db) => [itemLeaves(db).at(-1)!.pageno]);
    producer.tick();
    uplink.flush(); // meets the damage: moved aside, salvaged, requeued

    // Long before any ack timeout (60 s): the salvaged copy leaves under the fresh outbox's epoch.
    await alarms.waitFor(() => raises().length === 2);
    const [first, again] = raises();
    expect(again!.epoch).not.toBe(first!.epoch);
    expect(again!.epoch).toBe(uplink.health().epoch);
    expect(again!.seq).toBeGreaterThan(first!.seq);
    expect(uplink.health().storageFaults).toBe(1);
    // The old file's in-flight items no longer hold the windows: what is in flight is exactly
    // what the fresh outbox holds (2 alarms, 9 salvaged batches, the batch after the fault).
    await waitUntil(() => {
      const h = uplink.health();
      return h.inFlight === 12 && h.backlog.alarms.items + h.backlog.telemetry.items === 12;
    }, 'every held item in flight once');
  }, 20_000);

  it("salvaging a large telemetry backlog held the gateway's loop: alarms raised meanwhile are appended before the salvage ends", async () => {
    const file = path.join(tempDir(cleanups), 'outbox.db');
    const { outbox, faults, ends } = openHealing(file);
    const alarm = (alarmId: string) => (seq: number) =>
      JSON.stringify({ v: 1, seq, epoch: outbox.epoch, alarmId, transition: 'raised' });
    outbox.appendAlarms([alarm('gas.L1'), alarm('gas.L2')]);
    // 2,500 batches: more than one salvage chunk (1,000 items) holds, so the copy needs at least
    // three turns on any machine, whatever its speed.
    const batches: number[] = [];
    for (let i = 0; i < 2_500; i++) batches.push(outbox.appendTelemetry(payload(100), 1).seq);
    garbleWhileOpen(file, (db) => [itemLeaves(db).at(-1)!.pageno]);

    outbox.appendTelemetry(payload(10), 1); // meets the damage
    // The fault (and the gateway's storage-fault alarm) is reported at once, the alarms salvaged.
    expect(faults).toHaveLength(1);
    expect(faults[0]!.fault.salvaged).toEqual({ alarms: 2, readings: 0 });
    const pending = faults[0]!.fault.pending!.readings;
    expect(pending).toBeGreaterThan(2_000);

    // The gateway's loop meanwhile: one callback per turn, the first one raising a gas alarm.
    let turnsDuringSalvage = 0;
    let raised: { seq: number; salvaging: boolean; ends: number } | undefined;
    const turn = () => {
      if (!outbox.salvaging) return;
      turnsDuringSalvage++;
      if (!raised) {
        const entry = outbox.appendAlarm(alarm('gas.L2.again'));
        raised = { seq: entry.seq, salvaging: outbox.salvaging, ends: ends.length };
      }
      setImmediate(turn);
    };
    setImmediate(turn);
    await outbox.salvageSettled();

    expect(turnsDuringSalvage).toBeGreaterThanOrEqual(2);
    expect(raised).toMatchObject({ salvaging: true, ends: 0 });
    expect(ends).toHaveLength(1);
    const { fault } = ends[0]!;
    expect(fault.salvaged!.alarms).toBe(2);
    expect(fault.salvaged!.readings + fault.unsent!.readings).toBe(2_500);
    expect(fault.salvaged!.readings).toBeGreaterThan(2_000);
    // The alarm raised during the salvage sits after the salvaged alarms and ahead of the
    // telemetry salvaged after it: it did not wait for the copy.
    const alarms = [...outbox.entries('alarm')].map((e) => e.seq);
    expect(alarms).toHaveLength(3);
    expect(alarms.at(-1)).toBe(raised!.seq);
    const telemetry = [...outbox.entries('telemetry')].map((e) => e.seq);
    expect(telemetry.at(-1)!).toBeGreaterThan(raised!.seq);
    expect(JSON.parse(outbox.readBack(raised!.seq)!)).toMatchObject({ alarmId: 'gas.L2.again' });
    expect(outbox.stats().telemetry.readings).toBe(fault.salvaged!.readings + 1);
  }, 30_000);

  it("salvaging a large telemetry backlog held the gateway's loop: alarms raised meanwhile are sent before the salvage ends", async () => {
    const dir = tempDir(cleanups);
    const file = path.join(dir, 'outbox.db');
    // A bare broker: items are published but never acknowledged, so they stay held.
    const broker = await startTestBroker();
    cleanups.push(() => broker.close());
    const ids = sensorIds(1);
    const order: string[] = [];
    const uplink = createUplink(broker.url, file, ids, {
      ackTimeoutMs: 60_000,
      maxBatchReadings: 1, // one batch per reading: a backlog of many items
      onOutboxEvent: (event) => {
        if (event.type === 'storage-fault' || event.type === 'salvage-end') order.push(event.type);
      },
    });
    uplink.observeAlarms((hop, alarmId) => {
      if (hop === 'published') order.push(`published ${alarmId}`);
    });
    await uplink.start();
    cleanups.push(() => uplink.stop());
    await waitUntil(() => uplink.connected, 'the uplink to connect');
    const producer = new Producer(uplink, ids, { tickMs: 50, perTick: 2_500 });
    producer.alarm();
    producer.tick(); // 2,500 batches, more than two salvage chunks
    garbleWhileOpen(file, (db) => [itemLeaves(db).at(-1)!.pageno]);
    order.length = 0;
    producer.tick(); // meets the damage
    let during: string | undefined;
    setImmediate(() => {
      during = producer.alarm(); // the gateway raises a gas alarm while the salvage copies
    });
    await waitUntil(() => order.includes('salvage-end'), 'the salvage to end');
    expect(during).toBeDefined();
    // Reported at once; the alarm raised meanwhile left (raise and clear) before the copy ended.
    expect(order).toEqual([
      'storage-fault',
      `published ${during}`,
      `published ${during}`,
      'salvage-end',
    ]);
  }, 30_000);

  /** An open outbox holding 2 alarms and `batches` telemetry batches (`{ n }`, 1 reading each). */
  function heldBacklog(file: string, batches: number) {
    const healing = openHealing(file);
    const { outbox } = healing;
    const alarm = (alarmId: string) => (seq: number) =>
      JSON.stringify({ v: 1, seq, epoch: outbox.epoch, alarmId, transition: 'raised' });
    outbox.appendAlarms([alarm('gas.L1'), alarm('gas.L2')]);
    const seqs: number[] = [];
    for (let n = 0; n < batches; n++) {
      const { seq } = outbox.appendTelemetry(
        (seq) => JSON.stringify({ seq, n, pad: 'x'.repeat(100) }),
        1,
      );
      seqs.push(seq);
    }
    return { ...healing, seqs };
  }

  const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

  it('an outbox closed during a salvage stops it: what was not copied stays in the moved file, counted unsent', async () => {
    const file = path.join(tempDir(cleanups), 'outbox.db');
    const { outbox, faults, ends, seqs } = heldBacklog(file, 2_500);
    garbleWhileOpen(file, (db) => [itemLeaves(db).at(-1)!.pageno]);
    outbox.appendTelemetry(payload(10), 1); // meets the damage
    expect(faults).toHaveLength(1);
    await nextTurn(); // the salvage's first turn (queued at the fault) runs before this one
    expect(outbox.salvaging).toBe(true);
    outbox.close();

    expect(outbox.salvaging).toBe(false);
    expect(ends).toHaveLength(1);
    const { fault } = ends[0]!;
    expect(fault.salvaged!.alarms).toBe(2);
    expect(fault.salvaged!.readings).toBeGreaterThan(0); // the first turn's chunk
    expect(fault.salvaged!.readings).toBeLessThanOrEqual(1_000);
    expect(fault.salvaged!.readings + fault.unsent!.readings).toBe(2_500);
    expect(fault.unsent!.readings).toBeGreaterThan(1_400);
    await nextTurn();
    await nextTurn(); // no turn runs on a closed outbox
    expect(ends).toHaveLength(1);
    await outbox.salvageSettled();
    // The moved file is as found: an item the first turn did not reach is still in it.
    const moved = new Database(fault.movedTo, { readonly: true });
    try {
      const uncopied = moved
        .prepare('SELECT payload FROM items WHERE seq = ?')
        .pluck()
        .get(seqs[2_000]!) as string;
      expect(JSON.parse(uncopied)).toMatchObject({ seq: seqs[2_000], n: 2_000 });
    } finally {
      moved.close();
    }
  }, 30_000);

  it('a second fault during a salvage: both salvages run to the end, no reading copied twice', async () => {
    const file = path.join(tempDir(cleanups), 'outbox.db');
    const { outbox, faults, ends } = heldBacklog(file, 2_500);
    garbleWhileOpen(file, (db) => [itemLeaves(db).at(-1)!.pageno]);
    outbox.appendTelemetry((seq) => JSON.stringify({ seq, n: 'trigger-1' }), 1);
    expect(faults).toHaveLength(1);
    await nextTurn(); // the first salvage copied one chunk into the fresh file
    expect(outbox.salvaging).toBe(true);
    // A batch at the end of the fresh file; its last leaf (this batch, and maybe the end of the
    // first salvage's chunk) is damaged, so the next append meets it.
    outbox.appendTelemetry((seq) => JSON.stringify({ seq, n: 'sacrificed' }), 1);
    garbleWhileOpen(file, (db) => [itemLeaves(db).at(-1)!.pageno]);
    outbox.appendTelemetry((seq) => JSON.stringify({ seq, n: 'trigger-2' }), 1);
    expect(faults).toHaveLength(2);
    const [first, second] = faults.map((f) => f.fault);
    expect(second!.movedTo).not.toBe(first!.movedTo);
    expect(second!.salvaged!.alarms).toBe(2); // the alarms the first salvage had copied

    await outbox.salvageSettled();
    expect(ends).toHaveLength(2);
    const end = (movedTo: string) => ends.find((e) => e.fault.movedTo === movedTo)!.fault;
    const end1 = end(first!.movedTo);
    const end2 = end(second!.movedTo);
    expect(end1.salvaged!.readings + end1.unsent!.readings).toBe(2_500);
    expect(end1.salvaged!.readings).toBeGreaterThan(2_400);
    // What the second file held on its damaged leaf: the sacrificed batch, and maybe copies the
    // first salvage had put there (the originals stay in the first moved file, not sent).
    expect(end2.unsent!.alarms).toBe(0);
    expect(end2.unsent!.readings).toBeGreaterThanOrEqual(1);
    const lostCopies = end2.unsent!.readings - 1;
    // Each original batch is in the outbox once, whichever file its copy went through.
    const ns = [...outbox.entries('telemetry')].map(
      (e) => (JSON.parse(outbox.readBack(e.seq)!) as { n: number | string }).n,
    );
    const originals = ns.filter((n) => typeof n === 'number');
    expect(new Set(originals).size).toBe(originals.length);
    expect(originals).toHaveLength(end1.salvaged!.readings - lostCopies);
    expect(ns.filter((n) => typeof n === 'string').sort()).toEqual(['trigger-1', 'trigger-2']);
    const alarms = [...outbox.entries('alarm')].map(
      (e) => (JSON.parse(outbox.readBack(e.seq)!) as { alarmId: string }).alarmId,
    );
    expect(alarms).toEqual(['gas.L1', 'gas.L2']);
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
