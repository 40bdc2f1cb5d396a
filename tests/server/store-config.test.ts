import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { ConfigError, parseServerConfig } from '../../server/config/index.js';
import {
  createTelemetryStore,
  InfluxTelemetryStore,
  SqliteTelemetryStore,
} from '../../server/store/index.js';

const problemsOf = (raw: unknown): readonly string[] => {
  try {
    parseServerConfig(raw);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
};

describe('store config', () => {
  it('defaults to SQLite keeping 30 days and 10,000 sensors per gateway', () => {
    expect(parseServerConfig({}).store).toEqual({
      type: 'sqlite',
      path: 'data/hazardwatch.db',
      retentionDays: 30,
      maxSensorsPerGateway: 10_000,
    });
  });

  it('fills in the InfluxDB write defaults and builds the InfluxDB store', () => {
    const config = parseServerConfig({
      store: {
        type: 'influxdb',
        influxdb: { url: 'http://influxdb:8086', bucket: 'telemetry', token: 'abc' },
      },
    });
    expect(config.store.influxdb).toEqual({
      url: 'http://influxdb:8086',
      org: 'hazardwatch',
      bucket: 'telemetry',
      token: 'abc',
      batchSize: 5_000,
      flushIntervalMs: 1_000,
      maxInFlight: 4,
      timeoutMs: 10_000,
    });
    expect(createTelemetryStore(config.store, new ManualClock())).toBeInstanceOf(
      InfluxTelemetryStore,
    );
    expect(createTelemetryStore(parseServerConfig({}).store, new ManualClock())).toBeInstanceOf(
      SqliteTelemetryStore,
    );
  });

  it('names every store problem: a short retention, a slow flush, a missing InfluxDB section', () => {
    expect(
      problemsOf({ store: { retentionDays: 7, influxdb: { url: 'ftp://x', bucket: 'b' } } }),
    ).toEqual([
      'store.retentionDays: must be >= 30 (got 7)',
      'store.influxdb.url: must match pattern "^https?://[^\\s]+$" (got \'ftp://x\')',
    ]);
    expect(
      problemsOf({
        store: { influxdb: { url: 'http://x', bucket: 'b', flushIntervalMs: 60_000 } },
      }),
    ).toEqual(['store.influxdb.flushIntervalMs: must be <= 1000 (got 60000)']);
    expect(problemsOf({ store: { type: 'influxdb' } })).toEqual([
      "store.influxdb: is required when store.type is 'influxdb'",
    ]);
    expect(problemsOf({ store: { type: 'mongodb' } })).toEqual([
      "store.type: must be one of 'sqlite', 'influxdb' (got 'mongodb')",
    ]);
  });
});
