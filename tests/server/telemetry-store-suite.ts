/**
 * The behaviour every TelemetryStore backend must show (SQLite, InfluxDB):
 * run it from each backend's test file. `create` receives the options a case
 * needs (a small per-gateway sensor limit) and must honour them.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TelemetryStore } from '../../server/store/telemetry-store.js';
import { batch, T0 } from './fixtures.js';

export interface SuiteStoreOptions {
  maxSensorsPerGateway?: number;
}

export function telemetryStoreSuite(
  name: string,
  create: (options?: SuiteStoreOptions) => TelemetryStore,
): void {
  describe(`${name} (TelemetryStore contract)`, () => {
    let store: TelemetryStore;
    const extra: TelemetryStore[] = [];

    beforeEach(async () => {
      store = create();
      await store.start();
    });
    afterEach(async () => {
      await store.stop();
      for (const other of extra.splice(0)) await other.stop();
    });

    it('reads back every value type of a written batch, oldest first', async () => {
      await store.writeBatch(
        batch([
          { sensorId: 'S1', value: 12.5, ts: T0 },
          { sensorId: 'S1', value: true, ts: T0 + 1 },
          { sensorId: 'S1', value: 'RUN', ts: T0 + 2 },
          { sensorId: 'S1', value: null, quality: 'bad', reason: 'timeout', ts: T0 + 3 },
          {
            sensorId: 'S1',
            value: false,
            quality: 'uncertain',
            reason: 'ne43 suspect',
            ts: T0 + 4,
          },
        ]),
      );
      const readings = await store.queryRange({
        gatewayId: 'gw-01',
        sensorId: 'S1',
        from: T0,
        to: T0 + 10,
        limit: 100,
      });
      expect(readings.map((r) => [r.ts, r.value, r.quality, r.reason])).toEqual([
        [T0, 12.5, 'good', undefined],
        [T0 + 1, true, 'good', undefined],
        [T0 + 2, 'RUN', 'good', undefined],
        [T0 + 3, null, 'bad', 'timeout'],
        [T0 + 4, false, 'uncertain', 'ne43 suspect'],
      ]);
      expect(readings[0]).toMatchObject({
        gatewayId: 'gw-01',
        enterpriseId: 'ent-01',
        sensorId: 'S1',
      });
      expect(typeof readings[0]?.receivedAt).toBe('number');
      expect(typeof readings[0]?.seq).toBe('number');
    });

    it('keeps the newest reading per sensor by source time, even when an older batch comes later', async () => {
      await store.writeBatch(
        batch([
          { sensorId: 'S1', value: 1, ts: T0 + 5_000 },
          { sensorId: 'S2', value: 2, ts: T0 + 5_000 },
        ]),
      );
      await store.writeBatch(batch([{ sensorId: 'S1', value: 0, ts: T0 }]));
      await store.writeBatch(batch([{ sensorId: 'S2', value: 3, ts: T0 + 6_000 }]));
      const latest = store.latest().sort((a, b) => a.sensorId.localeCompare(b.sensorId));
      expect(latest.map((r) => [r.sensorId, r.value, r.ts])).toEqual([
        ['S1', 1, T0 + 5_000],
        ['S2', 3, T0 + 6_000],
      ]);
    });

    it('stores each reading of a redelivered batch once', async () => {
      const once = batch([
        { sensorId: 'S1', ts: T0 },
        { sensorId: 'S1', ts: T0 + 1 },
      ]);
      await store.writeBatch(once);
      await store.writeBatch(once);
      const readings = await store.queryRange({
        gatewayId: 'gw-01',
        sensorId: 'S1',
        from: 0,
        to: T0 + 10,
        limit: 100,
      });
      expect(readings).toHaveLength(2);
    });

    it('returns the newest `limit` readings of one sensor within an inclusive range', async () => {
      await store.writeBatch(
        batch([
          ...Array.from({ length: 10 }, (_, i) => ({ sensorId: 'S1', value: i, ts: T0 + i })),
          { sensorId: 'S2', value: 99, ts: T0 + 5 },
        ]),
      );
      await store.writeBatch(
        batch([{ sensorId: 'S1', value: 42, ts: T0 + 5 }], { gatewayId: 'gw-02' }),
      );
      const readings = await store.queryRange({
        gatewayId: 'gw-01',
        sensorId: 'S1',
        from: T0 + 2,
        to: T0 + 8,
        limit: 3,
      });
      expect(readings.map((r) => r.value)).toEqual([6, 7, 8]);
    });

    it('aggregates numeric good and uncertain readings into epoch-aligned buckets', async () => {
      await store.writeBatch(
        batch([
          { sensorId: 'S1', value: 10, ts: T0 },
          { sensorId: 'S1', value: 20, ts: T0 + 10_000 },
          { sensorId: 'S1', value: 'RUN', ts: T0 + 20_000 },
          {
            sensorId: 'S1',
            value: 999,
            quality: 'bad',
            reason: 'ne43 fault high',
            ts: T0 + 30_000,
          },
          { sensorId: 'S1', value: 5, quality: 'uncertain', ts: T0 + 61_000 },
          { sensorId: 'S1', value: true, ts: T0 + 62_000 },
          { sensorId: 'S1', value: 7, ts: T0 + 200_000 },
          { sensorId: 'S2', value: 1_000, ts: T0 + 1_000 },
        ]),
      );
      const buckets = await store.queryAggregate({
        gatewayId: 'gw-01',
        sensorId: 'S1',
        from: T0,
        to: T0 + 119_999,
        intervalMs: 60_000,
      });
      expect(buckets).toEqual([
        { ts: T0, mean: 15, min: 10, max: 20, count: 2 },
        { ts: T0 + 60_000, mean: 5, min: 5, max: 5, count: 1 },
      ]);
    });

    it('reads the newest stored reading of a sensor, optionally at or before a time', async () => {
      await store.writeBatch(
        batch([
          { sensorId: 'S1', value: 1, ts: T0 },
          { sensorId: 'S1', value: 'RUN', ts: T0 + 1_000 },
          { sensorId: 'S1', value: null, quality: 'bad', reason: 'timeout', ts: T0 + 2_000 },
        ]),
      );
      const newest = await store.queryLatest({ gatewayId: 'gw-01', sensorId: 'S1' });
      expect(newest).toMatchObject({
        gatewayId: 'gw-01',
        enterpriseId: 'ent-01',
        sensorId: 'S1',
        value: null,
        quality: 'bad',
        reason: 'timeout',
        ts: T0 + 2_000,
      });
      const earlier = await store.queryLatest({
        gatewayId: 'gw-01',
        sensorId: 'S1',
        at: T0 + 1_500,
      });
      expect([earlier?.ts, earlier?.value, earlier?.quality]).toEqual([T0 + 1_000, 'RUN', 'good']);
    });

    it('answers history queries about an unknown sensor with nothing', async () => {
      await store.writeBatch(batch([{ sensorId: 'S1', value: 1, ts: T0 }]));
      const q = { gatewayId: 'gw-01', sensorId: 'NOPE', from: T0 - 1_000, to: T0 + 1_000 };
      expect(await store.queryRange({ ...q, limit: 10 })).toEqual([]);
      expect(await store.queryAggregate({ ...q, intervalMs: 1_000 })).toEqual([]);
      expect(await store.queryLatest(q)).toBeNull();
    });

    it('drops readings of sensors beyond the per-gateway limit and stores the rest', async () => {
      const limited = create({ maxSensorsPerGateway: 2 });
      extra.push(limited);
      await limited.start();
      await limited.writeBatch(
        batch([
          { sensorId: 'A', value: 1, ts: T0 },
          { sensorId: 'B', value: 2, ts: T0 },
          { sensorId: 'C', value: 3, ts: T0 },
          { sensorId: 'A', value: 4, ts: T0 + 1 },
        ]),
      );
      await limited.writeBatch(
        batch([{ sensorId: 'D', value: 5, ts: T0 }], { gatewayId: 'gw-02' }),
      );
      const stored = limited
        .latest()
        .map((r) => `${r.gatewayId}/${r.sensorId}=${r.value}`)
        .sort();
      expect(stored).toEqual(['gw-01/A=4', 'gw-01/B=2', 'gw-02/D=5']);
      const q = { gatewayId: 'gw-01', sensorId: 'C', from: T0 - 1, to: T0 + 1, limit: 10 };
      expect(await limited.queryRange(q)).toEqual([]);
    });
  });
}
