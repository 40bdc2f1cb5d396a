/**
 * The behaviour every TelemetryStore backend must show (SQLite today,
 * InfluxDB later): run it from each backend's test file.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TelemetryStore } from '../../server/store/telemetry-store.js';
import { batch, T0 } from './fixtures.js';

export function telemetryStoreSuite(name: string, create: () => TelemetryStore): void {
  describe(`${name} (TelemetryStore contract)`, () => {
    let store: TelemetryStore;

    beforeEach(async () => {
      store = create();
      await store.start();
    });
    afterEach(async () => {
      await store.stop();
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
  });
}
