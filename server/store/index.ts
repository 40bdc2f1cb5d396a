/**
 * The one registry of telemetry store backends: `store.type` in the server
 * config picks one here. An InfluxDB backend is added as one more case.
 */
import type { Clock } from '../../common/clock.js';
import type { ServerConfig } from '../config/index.js';
import { SqliteTelemetryStore } from './sqlite-store.js';
import type { TelemetryStore } from './telemetry-store.js';

export { SqliteTelemetryStore } from './sqlite-store.js';
export type {
  LatestReading,
  RangeQuery,
  StoredReading,
  TelemetryStore,
} from './telemetry-store.js';

export function createTelemetryStore(config: ServerConfig['store'], clock: Clock): TelemetryStore {
  switch (config.type) {
    case 'sqlite':
      return new SqliteTelemetryStore({ path: config.path, clock });
    default:
      throw new Error(`unknown store type '${(config as { type: string }).type}'`);
  }
}
