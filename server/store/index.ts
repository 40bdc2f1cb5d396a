/**
 * The one registry of telemetry store backends: `store.type` in the server
 * config picks one here.
 */
import type { Clock } from '../../common/clock.js';
import { createLogger } from '../../common/logger.js';
import type { StoreConfig } from './config.js';
import { InfluxTelemetryStore, type InfluxTelemetryStoreOptions } from './influx-store.js';
import { SqliteTelemetryStore } from './sqlite-store.js';
import { telemetryFileOf } from './telemetry-file.js';
import type { TelemetryStore } from './telemetry-store.js';

const log = createLogger('server.store');

export * from './config.js';
export { InfluxTelemetryStore } from './influx-store.js';
export { SqliteTelemetryStore } from './sqlite-store.js';
export { defaultTelemetryPath, type TelemetryFile, telemetryFileOf } from './telemetry-file.js';
export type {
  AggregateBucket,
  AggregateQuery,
  LatestQuery,
  LatestReading,
  RangeQuery,
  StoredReading,
  TelemetryStore,
} from './telemetry-store.js';

/**
 * Builds the configured backend (not started). The InfluxDB token comes from
 * the config, else from HAZARDWATCH_INFLUX_TOKEN in `env`.
 */
export function createTelemetryStore(
  config: StoreConfig,
  clock: Clock,
  env: NodeJS.ProcessEnv = process.env,
): TelemetryStore {
  switch (config.type) {
    case 'sqlite': {
      const file = telemetryFileOf(config);
      if (file.note) log.warn({ path: file.path }, file.note);
      return new SqliteTelemetryStore({
        path: file.path,
        writer: file.writer,
        clock,
        retentionDays: config.retentionDays,
        maxSensorsPerGateway: config.maxSensorsPerGateway,
      });
    }
    case 'influxdb': {
      const influx = config.influxdb;
      if (!influx) throw new Error("store.influxdb is required when store.type is 'influxdb'");
      const options: InfluxTelemetryStoreOptions = {
        url: influx.url,
        org: influx.org,
        bucket: influx.bucket,
        batchSize: influx.batchSize,
        flushIntervalMs: influx.flushIntervalMs,
        maxInFlight: influx.maxInFlight,
        timeoutMs: influx.timeoutMs,
        retentionDays: config.retentionDays,
        maxSensorsPerGateway: config.maxSensorsPerGateway,
        clock,
      };
      const token = influx.token ?? env.HAZARDWATCH_INFLUX_TOKEN;
      if (token) options.token = token;
      if (influx.database) options.database = influx.database;
      if (influx.retentionPolicy) options.retentionPolicy = influx.retentionPolicy;
      return new InfluxTelemetryStore(options);
    }
    default:
      throw new Error(`unknown store type '${(config as { type: string }).type}'`);
  }
}
