import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import type { Reading } from '../../protocol/index.js';
import { HOUR_MS } from '../../server/store/sqlite-rollups.js';
import { SqliteTelemetryStore } from '../../server/store/sqlite-store.js';
import type { AggregateBucket, AggregateQuery } from '../../server/store/telemetry-store.js';
import { batch } from './fixtures.js';

const H0 = Date.UTC(2026, 0, 1, 0, 0, 0); // an hour boundary
const sensor = { gatewayId: 'gw-01', sensorId: 'GT-101' };

/** The aggregate computed here from the raw readings (the oracle the rollups must equal). */
async function rawAggregate(store: SqliteTelemetryStore, q: AggregateQuery) {
  const readings = await store.queryRange({ ...q, limit: 1_000_000 });
  const buckets = new Map<number, AggregateBucket>();
  for (const r of readings) {
    if (typeof r.value !== 'number' || r.quality === 'bad') continue;
    const ts = r.ts - (r.ts % q.intervalMs);
    const b = buckets.get(ts);
    if (!b) buckets.set(ts, { ts, mean: r.value, min: r.value, max: r.value, count: 1 });
    else {
      b.mean = (b.mean * b.count + r.value) / (b.count + 1);
      b.min = Math.min(b.min, r.value);
      b.max = Math.max(b.max, r.value);
      b.count++;
    }
  }
  return [...buckets.values()].sort((a, b) => a.ts - b.ts);
}

function expectSameBuckets(actual: AggregateBucket[], expected: AggregateBucket[]) {
  expect(actual.map(({ ts, min, max, count }) => ({ ts, min, max, count }))).toEqual(
    expected.map(({ ts, min, max, count }) => ({ ts, min, max, count })),
  );
  for (const [i, b] of actual.entries()) expect(b.mean).toBeCloseTo(expected[i]!.mean, 9);
}

/** Readings every `stepMs` over `hours` hours from H0, with a wave, a bad one and a string one. */
function readings(hours: number, stepMs: number): Partial<Reading>[] {
  const out: Partial<Reading>[] = [];
  for (let ts = H0; ts < H0 + hours * HOUR_MS; ts += stepMs) {
    const i = (ts - H0) / stepMs;
    if (i % 97 === 5) out.push({ ts, value: 999, quality: 'bad' });
    else if (i % 89 === 7) out.push({ ts, value: 'RUN' });
    else out.push({ ts, value: Math.round(Math.sin(i / 13) * 1000) / 10 + 20 });
  }
  return out;
}

async function writeAll(store: SqliteTelemetryStore, rs: Partial<Reading>[]) {
  for (let i = 0; i < rs.length; i += 500) await store.writeBatch(batch(rs.slice(i, i + 500)));
}

describe.each(['inline', 'thread'] as const)(
  'SqliteTelemetryStore hourly rollups, writes %s',
  (writer) => {
    let dir: string;
    let path: string;
    let store: SqliteTelemetryStore;
    let clock: ManualClock;

    beforeEach(async () => {
      clock = new ManualClock(H0 + 24 * HOUR_MS);
      dir = mkdtempSync(join(tmpdir(), 'hw-rollup-'));
      path = join(dir, 'hazardwatch.db');
      store = new SqliteTelemetryStore({ path, writer, clock, pruneIntervalMs: 0 });
      await store.start();
    });
    afterEach(async () => {
      await store.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('answers hour and day buckets equal to the raw aggregate, partial hours at both ends included', async () => {
      await writeAll(store, readings(30, 10_000));
      for (const q of [
        { ...sensor, from: H0, to: H0 + 30 * HOUR_MS, intervalMs: HOUR_MS },
        { ...sensor, from: H0 + 1_234_567, to: H0 + 27 * HOUR_MS - 4_321, intervalMs: HOUR_MS },
        { ...sensor, from: H0 + 600_000, to: H0 + 29 * HOUR_MS, intervalMs: 6 * HOUR_MS },
        { ...sensor, from: H0 - HOUR_MS, to: H0 + 40 * HOUR_MS, intervalMs: 24 * HOUR_MS },
        { ...sensor, from: H0 + 60_000, to: H0 + 120_000, intervalMs: HOUR_MS }, // inside one hour
      ]) {
        const expected = await rawAggregate(store, q);
        expect(expected.length).toBeGreaterThan(0);
        expectSameBuckets(await store.queryAggregate(q), expected);
      }
    });

    it('keeps the rollup table in step: one row per hour with numeric good readings', async () => {
      await writeAll(store, readings(5, 60_000));
      const db = new Database(path, { readonly: true });
      try {
        const rows = db.prepare('SELECT ts, n FROM rollup_hour ORDER BY ts').all() as {
          ts: number;
          n: number;
        }[];
        expect(rows.map((r) => r.ts)).toEqual([0, 1, 2, 3, 4].map((h) => H0 + h * HOUR_MS));
        const counted = readings(5, 60_000).filter(
          (r) => typeof r.value === 'number' && r.quality !== 'bad',
        ).length;
        expect(rows.reduce((sum, r) => sum + r.n, 0)).toBe(counted);
      } finally {
        db.close();
      }
    });

    it('a late reading updates its hour', async () => {
      await writeAll(store, readings(3, 60_000));
      const q = { ...sensor, from: H0, to: H0 + 3 * HOUR_MS - 1, intervalMs: HOUR_MS };
      const before = await store.queryAggregate(q);
      // Two hours later, a reading of the first hour arrives (a gateway emptying its outbox).
      await store.writeBatch(batch([{ ts: H0 + 30_500, value: 500 }]));
      const after = await store.queryAggregate(q);
      expect(after[0]!.count).toBe(before[0]!.count + 1);
      expect(after[0]!.max).toBe(500);
      expect(after.slice(1)).toEqual(before.slice(1));
      expectSameBuckets(after, await rawAggregate(store, q));
    });

    it('a redelivered batch is not counted twice (whole, partly, and twice in one commit)', async () => {
      const rs = readings(2, 30_000);
      const first = batch(rs.slice(0, 150));
      await store.writeBatch(first);
      await store.writeBatch(first); // whole redelivery
      await store.writeBatch(batch(rs.slice(100, 200))); // half already stored
      const tail = batch(rs.slice(200));
      await Promise.all([store.writeBatch(tail), store.writeBatch(tail)]); // same group commit
      const q = { ...sensor, from: H0, to: H0 + 2 * HOUR_MS, intervalMs: HOUR_MS };
      const aggregate = await store.queryAggregate(q);
      expectSameBuckets(aggregate, await rawAggregate(store, q));
      expect(aggregate.reduce((n, b) => n + b.count, 0)).toBe(
        rs.filter((r) => typeof r.value === 'number' && r.quality !== 'bad').length,
      );
    });

    it('backfills a file written before rollups existed, once, at start', async () => {
      await writeAll(store, readings(4, 60_000));
      await store.stop();
      const db = new Database(path);
      db.exec('DROP TABLE rollup_hour');
      db.close();
      store = new SqliteTelemetryStore({ path, writer, clock, pruneIntervalMs: 0 });
      await store.start();
      const q = { ...sensor, from: H0, to: H0 + 4 * HOUR_MS, intervalMs: HOUR_MS };
      const aggregate = await store.queryAggregate(q);
      expect(aggregate).toHaveLength(4);
      expectSameBuckets(aggregate, await rawAggregate(store, q));
    });

    it('retention drops whole hours and recomputes the hour it cuts through', async () => {
      await writeAll(store, readings(3, 60_000));
      // Retention is 30 days: put the limit 90 minutes after H0.
      clock.set(H0 + 30 * 24 * HOUR_MS + 90 * 60_000);
      expect(await store.pruneExpired()).toBeGreaterThan(0);
      const q = { ...sensor, from: H0, to: H0 + 3 * HOUR_MS - 1, intervalMs: HOUR_MS };
      const aggregate = await store.queryAggregate(q);
      expect(aggregate.map((b) => b.ts)).toEqual([H0 + HOUR_MS, H0 + 2 * HOUR_MS]);
      expectSameBuckets(aggregate, await rawAggregate(store, q));
    });
  },
);
