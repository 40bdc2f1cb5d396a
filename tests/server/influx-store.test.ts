/**
 * The InfluxDB store against a real InfluxDB 1.6.7 (Debian's influxdb): the
 * store writes through the client library (/api/v2/write, via the 1.8-style
 * compatibility proxy in influx-harness.ts) and reads with InfluxQL on /query.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import {
  InfluxTelemetryStore,
  type InfluxTelemetryStoreOptions,
  parseGoDuration,
} from '../../server/store/influx-store.js';
import type { TelemetryStore } from '../../server/store/telemetry-store.js';
import { batch, T0 } from './fixtures.js';
import { startInfluxDb1, startWriteCompatProxy } from './influx-harness.js';
import { type SuiteStoreOptions, telemetryStoreSuite } from './telemetry-store-suite.js';

let influx: Awaited<ReturnType<typeof startInfluxDb1>>;
let proxy: Awaited<ReturnType<typeof startWriteCompatProxy>>;
let databases = 0;

beforeAll(async () => {
  influx = await startInfluxDb1();
  proxy = await startWriteCompatProxy(influx.url);
});
afterAll(async () => {
  await proxy?.stop();
  await influx?.stop();
});

/** A store on a fresh database of its own (created at start). */
function freshStore(options: Partial<InfluxTelemetryStoreOptions> = {}): {
  store: InfluxTelemetryStore;
  database: string;
} {
  databases++;
  const database = `hw_test_${databases}`;
  const store = new InfluxTelemetryStore({
    url: proxy.url,
    bucket: `${database}/autogen`,
    database,
    token: 'test-token',
    clock: new ManualClock(T0 + 60_000),
    retentionDays: 3_650,
    ...options,
  });
  return { store, database };
}

function withDatabase(store: InfluxTelemetryStore, database: string): TelemetryStore {
  return {
    start: async () => {
      await influx.createDatabase(database);
      await store.start();
    },
    stop: () => store.stop(),
    writeBatch: (b) => store.writeBatch(b),
    latest: () => store.latest(),
    queryRange: (q) => store.queryRange(q),
    queryAggregate: (q) => store.queryAggregate(q),
    queryLatest: (q) => store.queryLatest(q),
  };
}

telemetryStoreSuite('InfluxTelemetryStore on InfluxDB 1.6.7', (options?: SuiteStoreOptions) => {
  const { store, database } = freshStore(options);
  return withDatabase(store, database);
});

describe('InfluxTelemetryStore on InfluxDB 1.6.7', () => {
  it('reads history seeded independently through the v1 /write endpoint', async () => {
    const { store, database } = freshStore();
    await influx.createDatabase(database);
    const tags = 'enterprise_id=ent-07,gateway_id=gw-07,sensor_id=PT-1';
    await influx.writeV1(database, [
      `reading,${tags} value=1.5,quality="good",seq=1i,received_at=${T0 + 5}i ${T0}`,
      `reading,${tags} value=2.5,quality="good",seq=1i,received_at=${T0 + 5}i ${T0 + 30_000}`,
      `reading,${tags} value=9,quality="uncertain",reason="ne43 suspect",seq=2i,received_at=${T0 + 65_000}i ${T0 + 61_000}`,
      `reading,${tags} quality="bad",reason="timeout",seq=3i,received_at=${T0 + 125_000}i ${T0 + 120_000}`,
    ]);
    await store.start();
    try {
      const latest = store.latest();
      expect(latest).toEqual([
        {
          gatewayId: 'gw-07',
          enterpriseId: 'ent-07',
          sensorId: 'PT-1',
          value: null,
          quality: 'bad',
          reason: 'timeout',
          ts: T0 + 120_000,
          receivedAt: T0 + 125_000,
        },
      ]);
      const q = { gatewayId: 'gw-07', sensorId: 'PT-1', from: T0, to: T0 + 120_000 };
      const raw = await store.queryRange({ ...q, limit: 10 });
      expect(raw.map((r) => [r.ts, r.value, r.quality, r.reason, r.seq])).toEqual([
        [T0, 1.5, 'good', undefined, 1],
        [T0 + 30_000, 2.5, 'good', undefined, 1],
        [T0 + 61_000, 9, 'uncertain', 'ne43 suspect', 2],
        [T0 + 120_000, null, 'bad', 'timeout', 3],
      ]);
      expect(raw[0]?.enterpriseId).toBe('ent-07');
      expect(await store.queryAggregate({ ...q, intervalMs: 60_000 })).toEqual([
        { ts: T0, mean: 2, min: 1.5, max: 2.5, count: 2 },
        { ts: T0 + 60_000, mean: 9, min: 9, max: 9, count: 1 },
      ]);
      expect((await store.queryLatest({ ...q, at: T0 + 60_000 }))?.value).toBe(2.5);
    } finally {
      await store.stop();
    }
  });

  it('remembers the latest values across a restart', async () => {
    const { store, database } = freshStore();
    await influx.createDatabase(database);
    await store.start();
    await store.writeBatch(batch([{ sensorId: 'S1', value: 'RUN', ts: T0 }]));
    await store.stop();
    await store.stop(); // safe twice
    const { store: reopened } = freshStore({ bucket: `${database}/autogen`, database });
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
    } finally {
      await reopened.stop();
    }
  });

  it('gzips its writes, sends the token, and merges concurrent batches into few requests', async () => {
    const { store, database } = freshStore({ maxInFlight: 1 });
    await influx.createDatabase(database);
    await store.start();
    try {
      const before = proxy.writes.length;
      await Promise.all(
        Array.from({ length: 20 }, (_, g) =>
          store.writeBatch(
            batch(
              Array.from({ length: 50 }, (_, i) => ({ sensorId: `S${i}`, value: i, ts: T0 + g })),
              { gatewayId: `gw-${g}` },
            ),
          ),
        ),
      );
      const writes = proxy.writes.slice(before);
      expect(writes.reduce((n, w) => n + w.lines.length, 0)).toBe(1_000);
      // One slot: the first batch goes alone, the other 19 wait and go together.
      expect(writes.length).toBe(2);
      expect(writes.every((w) => w.contentEncoding === 'gzip')).toBe(true);
      expect(writes[0]?.authorization).toBe('Token test-token');
      expect(writes[0]?.lines[0]).toBe(
        `reading,enterprise_id=ent-01,gateway_id=gw-0,sensor_id=S0 value=0,quality="good",seq=${
          writes[0]?.lines[0]?.match(/seq=(\d+)i/)?.[1]
        }i,received_at=${T0 + 60_000}i ${T0}`,
      );
      const stored = await store.queryRange({
        gatewayId: 'gw-19',
        sensorId: 'S49',
        from: T0,
        to: T0 + 100,
        limit: 10,
      });
      expect(stored.map((r) => r.value)).toEqual([49]);
    } finally {
      await store.stop();
    }
  });

  it('rejects a batch the server refuses and keeps it out of the latest values', async () => {
    const { store } = freshStore({ bucket: 'no_such_db/autogen', database: 'no_such_db' });
    // start() reads /query; a missing database is an InfluxQL error there too.
    await expect(store.start()).rejects.toThrow(/cannot load the latest values/);
    const { store: writer, database } = freshStore();
    await influx.createDatabase(database);
    await writer.start();
    try {
      await influx.writeV1(database, []).catch(() => undefined);
      // Drop the database under the running store: its next write fails with 404.
      await fetch(`${influx.url}/query`, {
        method: 'POST',
        body: new URLSearchParams({ q: `DROP DATABASE "${database}"` }),
      });
      await expect(writer.writeBatch(batch([{ sensorId: 'S1', value: 1 }]))).rejects.toThrow(
        /cannot store telemetry batch seq \d+ of gateway 'gw-01' in InfluxDB/,
      );
      expect(writer.latest()).toEqual([]);
    } finally {
      await writer.stop();
    }
  });

  it('refuses to write or query before start', async () => {
    const { store } = freshStore();
    await expect(store.writeBatch(batch())).rejects.toThrow('telemetry store is not started');
    await expect(store.queryLatest({ gatewayId: 'gw-01', sensorId: 'S1' })).rejects.toThrow(
      'telemetry store is not started',
    );
  });

  it('reads retention policy durations as InfluxDB prints them', () => {
    expect(parseGoDuration('720h0m0s')).toBe(30 * 86_400_000);
    expect(parseGoDuration('0s')).toBe(0);
    expect(parseGoDuration('1h30m')).toBe(5_400_000);
    expect(parseGoDuration('forever')).toBeNull();
  });
});
