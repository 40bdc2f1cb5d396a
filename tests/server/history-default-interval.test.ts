/**
 * The history API's default aggregate interval: a 30-day query without `intervalMs` was split
 * into 500 buckets of 86.4 min, which the SQLite store can only answer by scanning every reading
 * (2.6 million for a 1 s sensor); from 45 min up the default is now whole hours, answered from
 * the hourly rollups, with the same buckets a scan of the raw readings gives.
 */
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import type { Reading } from '../../protocol/index.js';
import { buildApp } from '../../server/api/app.js';
import { defaultInterval } from '../../server/api/history-routes.js';
import { HOUR_MS, HourlyRollups } from '../../server/store/sqlite-rollups.js';
import type { SqliteTelemetryStore } from '../../server/store/sqlite-store.js';
import type { AggregateBucket } from '../../server/store/telemetry-store.js';
import { type ServerParts, startServerParts } from '../support/server-parts.js';
import { batch } from './fixtures.js';

const MIN = 60_000;
const DAY = 24 * HOUR_MS;
const END = Date.UTC(2026, 1, 1, 0, 0, 0);

let clock: ManualClock;
let parts: ServerParts;
let store: SqliteTelemetryStore;
let app: FastifyInstance;

beforeEach(async () => {
  clock = new ManualClock(END);
  parts = await startServerParts({ clock });
  const { ledger, gateways, notifier, ingest, events } = parts;
  store = parts.store;
  app = buildApp({ store, ledger, gateways, notifier, ingest, events, clock, dashboard: false });
  await app.ready();
});

afterEach(async () => {
  vi.restoreAllMocks();
  await app.close();
  await parts.stop();
});

/** Readings every 7 min over 31 days up to END: integers (sums exact), a bad one and a string one now and then. */
function readings(): Partial<Reading>[] {
  const out: Partial<Reading>[] = [];
  for (let ts = END - 31 * DAY, i = 0; ts <= END; ts += 7 * MIN, i++) {
    if (i % 97 === 5) out.push({ ts, value: 999, quality: 'bad' });
    else if (i % 89 === 7) out.push({ ts, value: 'RUN' });
    else out.push({ ts, value: (i * 37) % 101, quality: i % 13 === 0 ? 'uncertain' : 'good' });
  }
  return out;
}

/** The aggregate computed here from the raw readings (what the rollups must equal). */
function rawAggregate(rs: Partial<Reading>[], from: number, to: number, intervalMs: number) {
  const buckets = new Map<number, AggregateBucket & { sum: number }>();
  for (const r of rs) {
    const ts = r.ts ?? 0;
    if (ts < from || ts > to || typeof r.value !== 'number' || r.quality === 'bad') continue;
    const start = ts - (ts % intervalMs);
    const b = buckets.get(start);
    if (!b)
      buckets.set(start, {
        ts: start,
        sum: r.value,
        mean: 0,
        min: r.value,
        max: r.value,
        count: 1,
      });
    else {
      b.sum += r.value;
      b.min = Math.min(b.min, r.value);
      b.max = Math.max(b.max, r.value);
      b.count++;
    }
  }
  return [...buckets.values()]
    .sort((a, b) => a.ts - b.ts)
    .map(({ sum, ...b }) => ({ ...b, mean: sum / b.count }));
}

describe('history aggregate without an interval', () => {
  it('a 30-day query without an interval took 86.4 min buckets and scanned every reading: now whole hours from the rollups, equal to the raw aggregate', async () => {
    const rs = readings();
    for (let i = 0; i < rs.length; i += 500) await store.writeBatch(batch(rs.slice(i, i + 500)));
    const fromRollups = vi.spyOn(HourlyRollups.prototype, 'aggregate');
    const from = END - 30 * DAY + 17 * MIN; // not on an hour: the cut hour is read from the readings
    const to = END;

    const res = await app.inject({
      method: 'GET',
      url: `/api/v1/history/aggregate?gatewayId=gw-01&sensorId=GT-101&from=${from}&to=${to}`,
    });
    expect(res.statusCode).toBe(200);
    const body = res.json() as { intervalMs: number; buckets: AggregateBucket[] };
    expect(body.intervalMs).toBe(HOUR_MS);
    expect(fromRollups).toHaveBeenCalledTimes(1);
    const expected = rawAggregate(rs, from, to, HOUR_MS);
    expect(body.buckets.length).toBe(expected.length);
    expect(body.buckets.map(({ ts, min, max, count }) => ({ ts, min, max, count }))).toEqual(
      expected.map(({ ts, min, max, count }) => ({ ts, min, max, count })),
    );
    for (const [i, b] of body.buckets.entries()) expect(b.mean).toBeCloseTo(expected[i]!.mean, 9);
  });

  it('keeps short windows at whole seconds and rounds from 45 min up to whole hours', () => {
    expect(defaultInterval(0, HOUR_MS)).toBe(8_000); // 1 h in 500 buckets: 7.2 s, up to 8 s
    expect(defaultInterval(0, DAY)).toBe(173_000); // 24 h: 172.8 s
    expect(defaultInterval(0, 500 * 44 * MIN)).toBe(44 * MIN); // below 45 min: kept
    expect(defaultInterval(0, 500 * 45 * MIN)).toBe(HOUR_MS); // 45 min: 1 h
    expect(defaultInterval(0, 30 * DAY)).toBe(HOUR_MS); // 86.4 min: 1 h
    expect(defaultInterval(0, 60 * DAY)).toBe(3 * HOUR_MS); // 172.8 min: 2.88 h, to the nearest hour
  });
});
