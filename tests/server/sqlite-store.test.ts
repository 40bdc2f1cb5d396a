import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { SqliteTelemetryStore } from '../../server/store/sqlite-store.js';
import { batch, T0 } from './fixtures.js';
import { telemetryStoreSuite } from './telemetry-store-suite.js';

telemetryStoreSuite(
  'SqliteTelemetryStore in memory',
  (options) => new SqliteTelemetryStore({ path: ':memory:', ...options }),
);

// The server's default: a telemetry file of its own, written by a worker thread (issue 19).
const threadSuiteDir = mkdtempSync(join(tmpdir(), 'hw-store-thread-'));
let threadSuiteFiles = 0;
afterAll(() => rmSync(threadSuiteDir, { recursive: true, force: true }));
telemetryStoreSuite(
  'SqliteTelemetryStore with a writer thread',
  (options) =>
    new SqliteTelemetryStore({
      path: join(threadSuiteDir, `telemetry-${++threadSuiteFiles}.db`),
      writer: 'thread',
      ...options,
    }),
);

describe.each(['inline', 'thread'] as const)(
  'SqliteTelemetryStore on disk, writes %s',
  (writer) => {
    let dir: string;
    let path: string;
    let store: SqliteTelemetryStore;

    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'hw-store-'));
      path = join(dir, 'sub', 'hazardwatch.db');
      store = new SqliteTelemetryStore({ path, writer, clock: new ManualClock(T0 + 60_000) });
    });
    afterEach(async () => {
      await store.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('creates the directory, uses WAL, and records the server receive time', async () => {
      await store.start();
      await store.writeBatch(batch([{ sensorId: 'S1', value: 7, ts: T0 }]));
      const db = new Database(path, { readonly: true });
      try {
        expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
        expect(
          db.prepare('SELECT sensor_id, value, quality, received_at FROM readings_view').all(),
        ).toEqual([{ sensor_id: 'S1', value: 7, quality: 'good', received_at: T0 + 60_000 }]);
      } finally {
        db.close();
      }
    });

    it('remembers the latest values across a restart', async () => {
      await store.start();
      await store.writeBatch(batch([{ sensorId: 'S1', value: 'RUN', ts: T0 }]));
      await store.stop();
      await store.stop(); // safe twice
      const reopened = new SqliteTelemetryStore({ path, writer });
      await reopened.start();
      try {
        expect(reopened.latest()).toEqual([
          {
            gatewayId: 'gw-01',
            enterpriseId: 'ent-01',
            sensorId: 'S1',
            value: 'RUN',
            quality: 'good',
            ts: T0,
            receivedAt: T0 + 60_000,
          },
        ]);
        await reopened.writeBatch(batch([{ sensorId: 'S1', value: 'STOP', ts: T0 + 1 }]));
        expect(reopened.latest()[0]?.value).toBe('STOP');
      } finally {
        await reopened.stop();
      }
    });

    it('stores 100k readings in 20 batches, each once, and reads a range through the primary key', async () => {
      await store.start();
      // Reading n (0..99,999) is sensor S<n % 500>, ts T0 + 10 n, value (n % 5,000) / 10.
      for (let b = 0; b < 20; b++) {
        await store.writeBatch(
          batch(
            Array.from({ length: 5_000 }, (_, i) => ({
              sensorId: `S${i % 500}`,
              value: i * 0.1,
              ts: T0 + (b * 5_000 + i) * 10,
            })),
          ),
        );
      }
      expect(store.latest()).toHaveLength(500);

      // The statement queryRange runs, captured as it runs (no copy of its SQL here).
      const scratch = new Database(':memory:');
      const statementPrototype = Object.getPrototypeOf(scratch.prepare('SELECT 1')) as {
        all(...params: unknown[]): unknown[];
      };
      scratch.close();
      const all = vi.spyOn(statementPrototype, 'all');
      let rows: Awaited<ReturnType<SqliteTelemetryStore['queryRange']>>;
      let executed: { statement: { source: string }; params: unknown[] }[];
      try {
        rows = await store.queryRange({
          gatewayId: 'gw-01',
          sensorId: 'S7',
          from: T0 + 20_000 * 10,
          to: T0 + 30_000 * 10,
          limit: 1_000,
        });
        executed = all.mock.calls.map((params, i) => ({
          statement: all.mock.contexts[i] as unknown as { source: string },
          params,
        }));
      } finally {
        all.mockRestore();
      }
      const expected = Array.from({ length: 20 }, (_, k) => 20_007 + k * 500);
      expect(rows.map((r) => [r.sensorId, r.ts, r.value])).toEqual(
        expected.map((n) => ['S7', T0 + n * 10, (n % 5_000) * 0.1]),
      );
      expect(executed).toHaveLength(1);
      const range = executed[0]!;

      const db = new Database(path, { readonly: true });
      try {
        // Every reading committed, none twice: no batch lost to a failed group commit.
        expect(db.prepare('SELECT COUNT(*) FROM readings').pluck().get()).toBe(100_000);
        const plan = db
          .prepare<unknown[], { detail: string }>(`EXPLAIN QUERY PLAN ${range.statement.source}`)
          .all(...range.params)
          .map((step) => step.detail);
        // A seek on (series_id, ts) and an index lookup of the series; no full table scan.
        expect(plan).toContainEqual(
          expect.stringMatching(
            /^SEARCH r USING PRIMARY KEY \(series_id=\? AND ts>\? AND ts<\?\)$/,
          ),
        );
        expect(plan).toContainEqual(expect.stringMatching(/^SEARCH s USING (COVERING )?INDEX /));
        expect(plan.filter((detail) => /^SCAN /.test(detail))).toEqual([]);
      } finally {
        db.close();
      }
    });

    it('keeps 30 days of readings and deletes older ones at start and on each pass', async () => {
      const day = 86_400_000;
      const clock = new ManualClock(T0);
      const first = new SqliteTelemetryStore({ path, writer, clock, pruneIntervalMs: 0 });
      await first.start();
      await first.writeBatch(
        batch([
          { sensorId: 'S1', value: 1, ts: T0 - 31 * day },
          { sensorId: 'S1', value: 2, ts: T0 - 29 * day },
          { sensorId: 'S1', value: 3, ts: T0 - day },
        ]),
      );
      await first.stop();
      clock.set(T0 + 0); // restart: the pass at start deletes the 31-day-old reading
      const reopened = new SqliteTelemetryStore({ path, writer, clock, pruneIntervalMs: 0 });
      await reopened.start();
      try {
        const all = { gatewayId: 'gw-01', sensorId: 'S1', from: 0, to: T0, limit: 10 };
        expect((await reopened.queryRange(all)).map((r) => r.value)).toEqual([2, 3]);
        clock.advance(2 * day); // the 29-day-old reading is now 31 days old
        expect(await reopened.pruneExpired()).toBe(1);
        expect((await reopened.queryRange(all)).map((r) => r.value)).toEqual([3]);
        expect(reopened.latest()[0]?.value).toBe(3);
      } finally {
        await reopened.stop();
      }
    });

    it('refuses a retention shorter than the 30 days SAWS Order 40 art. 13 asks for', () => {
      expect(() => new SqliteTelemetryStore({ path, writer, retentionDays: 7 })).toThrow(
        'retentionDays must be at least 30 (SAWS Order 40 art. 13) (got 7)',
      );
    });

    it('refuses to write before start', async () => {
      await expect(store.writeBatch(batch())).rejects.toThrow('telemetry store is not started');
    });
  },
);
