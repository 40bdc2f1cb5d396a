/**
 * Issue 19: telemetry must never delay an alarm. The embedded store's inserts ran on the
 * server's one event loop, the loop alarms arrive on: under 50,000 points/s it was busy 96 %
 * of the time and an alarm's `server_received` hop grew from p50 1.1 to 34.8 ms (e2e
 * bench). With a telemetry file of its own, the writes now run in a worker thread.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { parseServerConfig } from '../../server/config/index.js';
import {
  createTelemetryStore,
  defaultTelemetryPath,
  SqliteTelemetryStore,
  telemetryFileOf,
} from '../../server/store/index.js';
import { ThreadWriteLane } from '../../server/store/sqlite-write-lane.js';
import { batch, T0 } from './fixtures.js';

const BATCHES = 20;
const ROWS = 500;

function backlog(): ReturnType<typeof batch>[] {
  return Array.from({ length: BATCHES }, (_, b) =>
    batch(
      Array.from({ length: ROWS }, (_, r) => ({ sensorId: `S${r}`, value: b, ts: T0 + b })),
      { seq: b + 1 },
    ),
  );
}

/** Blocks this thread (no event-loop turn) until `done()` or `limitMs`; returns whether it was done. */
function blockUntil(done: () => boolean, limitMs: number): boolean {
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  const until = Date.now() + limitMs;
  while (Date.now() < until) {
    if (done()) return true;
    Atomics.wait(sleeper, 0, 0, 5);
  }
  return done();
}

describe('the telemetry writer thread', () => {
  let dir: string;
  let path: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hw-writer-thread-'));
    path = join(dir, 'hazardwatch-telemetry.db');
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    ['thread', true],
    ['inline', false],
  ] as const)(
    'telemetry commits held the alarm thread: writes %s progress while the main thread is busy: %s',
    async (writer, progresses) => {
      const store = new SqliteTelemetryStore({ path, writer, clock: new ManualClock(T0) });
      await store.start();
      const reader = new Database(path, { readonly: true });
      try {
        const writes = backlog().map((b) => store.writeBatch(b));
        // One turn for the store to hand its queue over, then this thread is busy (an alarm's
        // work, a long JSON parse): no event-loop turn until the backlog is in or 3 s passed.
        await new Promise((resolve) => setImmediate(resolve));
        const count = reader.prepare('SELECT COUNT(*) FROM readings').pluck();
        const storedWhileBusy = blockUntil(() => count.get() === BATCHES * ROWS, 3_000);
        expect(storedWhileBusy).toBe(progresses);
        await Promise.all(writes);
        expect(count.get()).toBe(BATCHES * ROWS);
        expect(store.latest().every((r) => r.value === BATCHES - 1)).toBe(true);
      } finally {
        reader.close();
        await store.stop();
      }
    },
  );

  it.each(['thread', 'inline'] as const)(
    'a batch written while the store stopped, by a writer its last commit resolved, was left waiting: it is committed (%s)',
    async (writer) => {
      const store = new SqliteTelemetryStore({ path, writer, clock: new ManualClock(T0) });
      await store.start();
      let second: Promise<void> | undefined;
      const first = store.writeBatch(batch([{ sensorId: 'S1', value: 1, ts: T0 }])).then(() => {
        second = store.writeBatch(batch([{ sensorId: 'S1', value: 2, ts: T0 + 1 }]));
      });
      await store.stop();
      await first;
      await expect(second).resolves.toBeUndefined();
      const reader = new Database(path, { readonly: true });
      try {
        expect(reader.prepare('SELECT COUNT(*) FROM readings').pluck().get()).toBe(2);
      } finally {
        reader.close();
      }
    },
  );

  it('stop() twice at once resolves both (the lane closes once)', async () => {
    const store = new SqliteTelemetryStore({ path, writer: 'thread', clock: new ManualClock(T0) });
    await store.start();
    await store.writeBatch(batch([{ sensorId: 'S1', value: 1, ts: T0 }]));
    await expect(Promise.all([store.stop(), store.stop()])).resolves.toEqual([
      undefined,
      undefined,
    ]);
  });

  it('a writer thread that died fails what it was asked, and the next write starts a new one', async () => {
    const lane = await ThreadWriteLane.start({ path });
    try {
      // The thread is private to the lane; reaching it stands in for a crash of the thread.
      const { worker } = lane as unknown as { worker: Worker };
      const asked = lane.commit([batch([{ sensorId: 'S1', value: 1, ts: T0 }])], T0);
      await worker.terminate();
      await expect(asked).rejects.toThrow(/telemetry writer thread exited/);
      const outcome = await lane.commit([batch([{ sensorId: 'S1', value: 2, ts: T0 + 1 }])], T0);
      expect(outcome.failures).toEqual([null]);
      expect(outcome.updated.map((r) => r.value)).toEqual([2]);
    } finally {
      await lane.close();
    }
  });

  it('a batch the writer thread cannot store fails alone, naming its gateway and seq', async () => {
    const store = new SqliteTelemetryStore({ path, writer: 'thread', clock: new ManualClock(T0) });
    await store.start();
    // A trigger refuses one gateway's rows: the group fails, each batch is retried alone.
    const db = new Database(path);
    db.exec(`CREATE TRIGGER refuse_gw_bad BEFORE INSERT ON series WHEN NEW.gateway_id = 'gw-bad'
             BEGIN SELECT RAISE(ABORT, 'refused by test'); END`);
    db.close();
    try {
      const good = store.writeBatch(batch([{ sensorId: 'S1', value: 1, ts: T0 }], { seq: 1 }));
      const bad = store.writeBatch(
        batch([{ sensorId: 'S1', value: 2, ts: T0 }], { seq: 7, gatewayId: 'gw-bad' }),
      );
      await expect(good).resolves.toBeUndefined();
      await expect(bad).rejects.toThrow("cannot store telemetry batch seq 7 of gateway 'gw-bad'");
      await expect(bad).rejects.toHaveProperty('cause.message', 'refused by test');
      expect(store.latest().map((r) => [r.gatewayId, r.value])).toEqual([['gw-01', 1]]);
    } finally {
      await store.stop();
    }
  });

  it('refuses a writer thread for an in-memory database', () => {
    expect(() => new SqliteTelemetryStore({ path: ':memory:', writer: 'thread' })).toThrow(
      "writer 'thread' needs a file",
    );
  });
});

describe('which file telemetry uses', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hw-telemetry-file-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('a file of its own beside the ledger, written by a thread', () => {
    const path = join(dir, 'hazardwatch.db');
    expect(telemetryFileOf({ path })).toEqual({
      path: join(dir, 'hazardwatch-telemetry.db'),
      writer: 'thread',
    });
    expect(defaultTelemetryPath('data/plant')).toBe('data/plant-telemetry.db');
  });

  it('a file made before keeps its telemetry in place, written inline, and says why', () => {
    const path = join(dir, 'hazardwatch.db');
    const old = new Database(path);
    old.exec('CREATE TABLE readings (series_id INTEGER, ts INTEGER)');
    old.close();
    const file = telemetryFileOf({ path });
    expect(file).toMatchObject({ path, writer: 'inline' });
    expect(file.note).toMatch(/holds telemetry beside the alarm ledger/);
  });

  it('store.telemetryPath: another file is written by a thread, the same file inline', () => {
    const path = join(dir, 'hazardwatch.db');
    const elsewhere = join(dir, 'fast', 'readings.db');
    expect(telemetryFileOf({ path, telemetryPath: elsewhere })).toEqual({
      path: elsewhere,
      writer: 'thread',
    });
    expect(telemetryFileOf({ path, telemetryPath: path })).toEqual({ path, writer: 'inline' });
    expect(telemetryFileOf({ path: ':memory:' })).toEqual({ path: ':memory:', writer: 'inline' });
  });

  it('the configured server stores readings in the telemetry file, not the ledger file', async () => {
    const path = join(dir, 'hazardwatch.db');
    const config = parseServerConfig({ store: { path } });
    const store = createTelemetryStore(config.store, new ManualClock(T0));
    await store.start();
    try {
      await store.writeBatch(batch([{ sensorId: 'S1', value: 3, ts: T0 }]));
    } finally {
      await store.stop();
    }
    const telemetry = new Database(join(dir, 'hazardwatch-telemetry.db'), { readonly: true });
    try {
      expect(telemetry.prepare('SELECT COUNT(*) FROM readings').pluck().get()).toBe(1);
    } finally {
      telemetry.close();
    }
  });
});
