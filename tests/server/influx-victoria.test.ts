/**
 * What the InfluxDB store writes through @influxdata/influxdb-client, checked
 * end to end in a real VictoriaMetrics (Debian's victoria-metrics), which
 * accepts the InfluxDB v2 write API and shows what it stored through its
 * export API (each field becomes a `reading_<field>` series with the tags).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { InfluxTelemetryStore } from '../../server/store/influx-store.js';
import { batch, T0 } from './fixtures.js';
import { startVictoriaMetrics, type VmSeries } from './influx-harness.js';

let vm: Awaited<ReturnType<typeof startVictoriaMetrics>>;

beforeAll(async () => {
  vm = await startVictoriaMetrics();
});
afterAll(async () => {
  await vm?.stop();
});

function store(url = vm.url): InfluxTelemetryStore {
  return new InfluxTelemetryStore({
    url,
    org: 'hazardwatch',
    bucket: 'telemetry',
    token: 'vm-ignores-tokens',
    clock: new ManualClock(T0 + 60_000),
  });
}

const byName = (series: VmSeries[]) =>
  Object.fromEntries(
    series.map((s) => [
      s.metric.__name__,
      { tags: { ...s.metric, __name__: undefined }, values: s.values, timestamps: s.timestamps },
    ]),
  );

describe('InfluxTelemetryStore writing to VictoriaMetrics', () => {
  it('stores one series per sensor with the documented tags and fields at millisecond precision', async () => {
    const s = store();
    await s.start();
    try {
      const sent = batch(
        [
          { sensorId: 'GT-101', value: 12.5, ts: T0 + 1 },
          { sensorId: 'GT-101', value: 13, ts: T0 + 1_001 },
          { sensorId: 'XV-1', value: true, ts: T0 + 2 },
          { sensorId: 'GT-101', value: null, quality: 'bad', reason: 'timeout', ts: T0 + 2_001 },
        ],
        { gatewayId: 'gw-vm', enterpriseId: 'ent-vm' },
      );
      await s.writeBatch(sent);
      const series = byName(
        await vm.exportSeries('{__name__=~"reading_.*",gateway_id="gw-vm",sensor_id="GT-101"}'),
      );
      const tags = { enterprise_id: 'ent-vm', gateway_id: 'gw-vm', sensor_id: 'GT-101' };
      expect(series.reading_value).toEqual({
        tags: { ...tags, __name__: undefined },
        values: [12.5, 13],
        timestamps: [T0 + 1, T0 + 1_001],
      });
      expect(series.reading_seq?.values).toEqual([sent.seq, sent.seq, sent.seq]);
      expect(series.reading_received_at?.values).toEqual([T0 + 60_000, T0 + 60_000, T0 + 60_000]);
      expect(series.reading_seq?.timestamps).toEqual([T0 + 1, T0 + 1_001, T0 + 2_001]);
      const valve = byName(
        await vm.exportSeries('{__name__="reading_value_bool",sensor_id="XV-1"}'),
      );
      expect(valve.reading_value_bool?.values).toEqual([1]);
      // quality, reason are tags nowhere: one series per sensor whatever the quality.
      const labels = (await (await fetch(`${vm.url}/api/v1/labels`)).json()) as { data: string[] };
      expect(labels.data.sort()).toEqual(['__name__', 'enterprise_id', 'gateway_id', 'sensor_id']);
    } finally {
      await s.stop();
    }
  });

  it('stores a redelivered batch once', async () => {
    const s = store();
    await s.start();
    try {
      const once = batch(
        [
          { sensorId: 'S1', value: 1, ts: T0 + 10 },
          { sensorId: 'S1', value: 2, ts: T0 + 20 },
        ],
        { gatewayId: 'gw-redo' },
      );
      await s.writeBatch(once);
      await s.writeBatch(once);
      const [value] = await vm.exportSeries('{__name__="reading_value",gateway_id="gw-redo"}');
      // VictoriaMetrics keeps duplicate samples until deduplication; the timestamps are the key.
      expect(new Set(value?.timestamps)).toEqual(new Set([T0 + 10, T0 + 20]));
    } finally {
      await s.stop();
    }
  });

  it('takes 50,000 readings from 100 concurrent batches and confirms each', async () => {
    const s = store();
    await s.start();
    try {
      await Promise.all(
        Array.from({ length: 100 }, (_, g) =>
          s.writeBatch(
            batch(
              Array.from({ length: 500 }, (_, i) => ({
                sensorId: `S${i % 50}`,
                value: i,
                ts: T0 + 100_000 + Math.floor(i / 50),
              })),
              { gatewayId: `gw-load-${g}` },
            ),
          ),
        ),
      );
      expect(s.latest().filter((r) => r.gatewayId.startsWith('gw-load-'))).toHaveLength(5_000);
      const series = await vm.exportSeries('{__name__="reading_value",gateway_id=~"gw-load-.*"}');
      expect(series.reduce((n, x) => n + x.values.length, 0)).toBe(50_000);
    } finally {
      await s.stop();
    }
  });

  it('fails a batch (so the gateway is not acked) when the server goes away, and refuses to start without it', async () => {
    const doomed = await startVictoriaMetrics();
    const s = store(doomed.url);
    await s.start();
    await s.writeBatch(batch([{ sensorId: 'S1', value: 1, ts: T0 }], { gatewayId: 'gw-gone' }));
    await doomed.stop();
    await expect(
      s.writeBatch(batch([{ sensorId: 'S1', value: 2, ts: T0 + 1 }], { gatewayId: 'gw-gone' })),
    ).rejects.toThrow(/cannot store telemetry batch seq \d+ of gateway 'gw-gone' in InfluxDB/);
    expect(s.latest().map((r) => r.value)).toEqual([1]);
    await s.stop();
    await expect(store(doomed.url).start()).rejects.toThrow(/cannot load the latest values/);
  });
});
