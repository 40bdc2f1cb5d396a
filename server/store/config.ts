/**
 * The `store` section of the server config: its JSON Schema fragment (used by
 * server/config/schema.ts), its type, and the checks the schema cannot express.
 *
 * The SQLite file (`path`) is always used: it holds the alarm ledger and the
 * linkage deliveries. With `type: sqlite` the telemetry goes to a file of its
 * own beside it (`telemetryPath`, server/store/telemetry-file.ts). With
 * `type: influxdb` telemetry goes to InfluxDB (docs/influxdb.md).
 */

/** SAWS Order 40 art. 13: electronic monitoring records are kept at least 30 days. */
export const MIN_RETENTION_DAYS = 30;

export const STORE_TYPES = ['sqlite', 'influxdb'] as const;
export type StoreType = (typeof STORE_TYPES)[number];

export interface InfluxStoreConfig {
  /** Base URL of the InfluxDB server, e.g. http://influxdb:8086. */
  readonly url: string;
  /** Organisation (InfluxDB 2.x/3.x; ignored by 1.x). */
  readonly org: string;
  /** Bucket written to through /api/v2/write; for InfluxDB 1.8 `database/retention-policy`. */
  readonly bucket: string;
  /** API token; else HAZARDWATCH_INFLUX_TOKEN; for 1.x with auth `username:password`. */
  readonly token?: string;
  /** Database named in InfluxQL `/query` (the DBRP mapping on 2.x); default: the bucket. */
  readonly database?: string;
  /** Retention policy named in InfluxQL `/query`; default: the database's default policy. */
  readonly retentionPolicy?: string;
  readonly batchSize: number;
  readonly flushIntervalMs: number;
  readonly maxInFlight: number;
  readonly timeoutMs: number;
}

export interface StoreConfig {
  readonly type: StoreType;
  readonly path: string;
  /** The embedded telemetry file (type sqlite); default: beside `path` (telemetry-file.ts). */
  readonly telemetryPath?: string;
  readonly retentionDays: number;
  readonly maxSensorsPerGateway: number;
  readonly influxdb?: InfluxStoreConfig;
}

export const storeConfigSchema = {
  title: 'Telemetry store, alarm ledger and linkage deliveries',
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    type: {
      title: 'Telemetry backend',
      description:
        "'sqlite' is the embedded store (one file, WAL mode); 'influxdb' writes telemetry to InfluxDB (store.influxdb).",
      enum: STORE_TYPES,
      default: 'sqlite',
    },
    path: {
      title: 'SQLite file',
      description:
        "Alarm ledger and linkage deliveries (and telemetry with type sqlite). Relative paths resolve against the working directory; ':memory:' keeps everything in RAM (tests).",
      type: 'string',
      minLength: 1,
      default: 'data/hazardwatch.db',
    },
    telemetryPath: {
      title: 'SQLite telemetry file',
      description:
        "Readings with type sqlite. Default: beside the SQLite file, '-telemetry' added to its name (data/hazardwatch-telemetry.db), written by a thread of its own so telemetry never delays an alarm. The same path as the SQLite file keeps telemetry in it, written on the alarm thread (how a file made before this release is kept).",
      type: 'string',
      minLength: 1,
    },
    retentionDays: {
      title: 'Telemetry retention (days)',
      description:
        'SAWS Order 40 art. 13: at least 30 days. SQLite deletes older readings hourly; InfluxDB keeps what its bucket or retention policy keeps (docs/influxdb.md), and the server warns at start when that is shorter.',
      type: 'integer',
      minimum: MIN_RETENTION_DAYS,
      maximum: 36_500,
      default: MIN_RETENTION_DAYS,
    },
    maxSensorsPerGateway: {
      title: 'Sensors (series) per gateway',
      description:
        'Bounds series cardinality: readings of further new sensor ids from one gateway are dropped and counted.',
      type: 'integer',
      minimum: 1,
      maximum: 1_000_000,
      default: 10_000,
    },
    influxdb: {
      title: 'InfluxDB connection (type influxdb)',
      type: 'object',
      additionalProperties: false,
      required: ['url', 'bucket'],
      properties: {
        url: {
          title: 'InfluxDB URL',
          type: 'string',
          pattern: '^https?://[^\\s]+$',
        },
        org: {
          title: 'Organisation',
          description: 'InfluxDB 2.x/3.x organisation; any value for 1.8.',
          type: 'string',
          default: 'hazardwatch',
        },
        bucket: {
          title: 'Bucket',
          description:
            "Written through /api/v2/write; on InfluxDB 1.8 'database/retention-policy'.",
          type: 'string',
          minLength: 1,
        },
        token: {
          title: 'API token',
          description:
            "Else the HAZARDWATCH_INFLUX_TOKEN environment variable; on 1.x with auth 'username:password'.",
          type: 'string',
          minLength: 1,
        },
        database: {
          title: 'InfluxQL database',
          description: 'The database `/query` reads (a DBRP mapping on 2.x); default: the bucket.',
          type: 'string',
          minLength: 1,
        },
        retentionPolicy: {
          title: 'InfluxQL retention policy',
          description: "Default: the database's default policy.",
          type: 'string',
          minLength: 1,
        },
        batchSize: {
          title: 'Lines per write request at most',
          description: '5000 is the batch size InfluxData recommends.',
          type: 'integer',
          minimum: 1,
          maximum: 100_000,
          default: 5_000,
        },
        flushIntervalMs: {
          title: 'Flush interval (ms)',
          description:
            'Longest time a line waits in the client buffer (at most 1 s). Writes go out as soon as a write slot is free, so this is a backstop.',
          type: 'integer',
          minimum: 1,
          maximum: 1_000,
          default: 1_000,
        },
        maxInFlight: {
          title: 'Concurrent write requests',
          type: 'integer',
          minimum: 1,
          maximum: 64,
          default: 4,
        },
        timeoutMs: {
          title: 'Request timeout (ms)',
          type: 'integer',
          minimum: 100,
          maximum: 600_000,
          default: 10_000,
        },
      },
    },
  },
} as const;

/** Checks the schema cannot express; one line per problem, as the config loader prints them. */
export function storeConfigProblems(store: StoreConfig): string[] {
  const problems: string[] = [];
  if (store.type === 'influxdb' && !store.influxdb) {
    problems.push("store.influxdb: is required when store.type is 'influxdb'");
  }
  return problems;
}
