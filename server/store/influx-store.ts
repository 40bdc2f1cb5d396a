/**
 * InfluxDB telemetry store: writes line protocol through
 * @influxdata/influxdb-client (`/api/v2/write`: InfluxDB 1.8+, 2.x, 3.x and
 * VictoriaMetrics accept it), reads with InfluxQL on `/query` (influxql.ts).
 * Schema, precision and cardinality: docs/influxdb.md.
 *
 * Write path ("group commit"): every `writeBatch` queues its lines and a
 * promise. As soon as one of `maxInFlight` write slots is free, everything
 * queued (up to `batchSize` lines, whole batches only) goes out as one gzipped
 * request and each batch's promise settles with that request. So a batch is
 * acknowledged only after InfluxDB answered 204 for its lines (the server acks
 * the gateway after that), at low load a batch goes out at once, and at high
 * load requests grow towards `batchSize` by themselves. No line waits for a
 * timer; the client library's own flushInterval (<= 1 s) is only a backstop.
 *
 * The library's retry buffer is switched off (`maxRetries: 0`): it keeps lines
 * in memory and drops the oldest on overflow. A failed write rejects its
 * batches instead; the gateway keeps them in its disk outbox and redelivers.
 * InfluxDB keys a point by series and timestamp, so a redelivered reading
 * overwrites itself: each reading is stored once.
 *
 * Downsampling: `queryAggregate` is InfluxQL `GROUP BY time()`, evaluated by
 * the InfluxDB server; only the buckets (720 for a 30-day trend) cross the
 * network, so this backend needs no rollups of ours (the embedded store keeps
 * hourly ones: sqlite-rollups.ts). A site that keeps far more than the 30 days
 * adds InfluxDB's own continuous query (1.x) or downsampling task (2.x); the
 * platform reads whatever `/query` answers.
 */
import { InfluxDB, setLogger, type WriteApi } from '@influxdata/influxdb-client';
import type { Clock } from '../../common/clock.js';
import { systemClock } from '../../common/clock.js';
import { createLogger } from '../../common/logger.js';
import {
  isValidId,
  MAX_READINGS_PER_BATCH,
  QUALITIES,
  type Quality,
  type Reading,
  type TelemetryBatch,
} from '../../protocol/index.js';
import { MIN_RETENTION_DAYS } from './config.js';
import {
  InfluxQlClient,
  type InfluxQlSeries,
  quoteIdent,
  quoteString,
  rowsOf,
  timeMs,
} from './influxql.js';
import { SeriesLimiter } from './series-limit.js';
import {
  type AggregateBucket,
  type AggregateQuery,
  type LatestQuery,
  type LatestReading,
  latestReadingOf,
  type RangeQuery,
  type ReadingValue,
  type StoredReading,
  type TelemetryStore,
} from './telemetry-store.js';

const log = createLogger('server.store.influx');

// The library logs write failures on the console; ours are logged (once) by
// the store, so the library's go to debug.
setLogger({
  error: (message, error) => log.debug({ err: error }, message),
  warn: (message, error) => log.debug({ err: error }, message),
});

export const INFLUX_STORE_DEFAULTS = {
  org: 'hazardwatch',
  measurement: 'reading',
  batchSize: 5_000, // lines per request at most (InfluxData's recommended batch size)
  flushIntervalMs: 1_000, // 1 s: library backstop; writes go out when a slot is free
  maxInFlight: 4, // concurrent write requests
  timeoutMs: 10_000, // 10 s per HTTP request
  gzipThresholdBytes: 1_024, // bodies above 1 KiB are gzipped
  retentionDays: MIN_RETENTION_DAYS, // 30 d, SAWS Order 40 art. 13 (checked, not enforced)
  maxSensorsPerGateway: 10_000, // series cardinality bound (series-limit.ts)
} as const;

const DAY_MS = 86_400_000;

export interface InfluxTelemetryStoreOptions {
  url: string;
  /** InfluxDB 2.x/3.x organisation. */
  org?: string;
  /** Write target; InfluxDB 1.8: `database/retention-policy`. */
  bucket: string;
  token?: string;
  /** InfluxQL database for `/query` (2.x: DBRP mapping); default: the bucket. */
  database?: string;
  retentionPolicy?: string;
  batchSize?: number;
  flushIntervalMs?: number;
  maxInFlight?: number;
  timeoutMs?: number;
  gzipThresholdBytes?: number;
  /**
   * Retention the operator promised (at least 30 days, SAWS Order 40 art. 13):
   * start() warns when the retention policy keeps less, and loads latest values
   * from this far back.
   */
  retentionDays?: number;
  maxSensorsPerGateway?: number;
  clock?: Clock;
  fetch?: typeof fetch;
}

// --- line protocol -----------------------------------------------------------

/** Tag keys and values: escape comma, equals sign and space (protocol ids never contain them). */
function escapeTag(value: string): string {
  return /[,= \\]/.test(value) ? value.replace(/([,= \\])/g, '\\$1') : value;
}

/** String field values: quote, escape backslash and double quote; no newlines in line protocol. */
function stringField(value: string): string {
  return `"${value.replace(/[\r\n]+/g, ' ').replace(/(["\\])/g, '\\$1')}"`;
}

/**
 * One point per reading. Tags (sorted, as InfluxDB stores them):
 * enterprise_id, gateway_id, sensor_id. Fields: exactly one of value (float),
 * value_bool, value_text (none for a null value), quality, reason (when
 * given), seq and received_at (integers). Timestamp: source time, ms.
 */
export function toLine(
  measurement: string,
  seriesKey: string,
  reading: Reading,
  seq: number,
  receivedAt: number,
): string {
  let fields: string;
  const value = reading.value;
  if (typeof value === 'number') fields = `value=${value},`;
  else if (typeof value === 'boolean') fields = `value_bool=${value},`;
  else if (typeof value === 'string') fields = `value_text=${stringField(value)},`;
  else fields = '';
  fields += `quality="${reading.quality}"`;
  if (reading.reason !== undefined) fields += `,reason=${stringField(reading.reason)}`;
  fields += `,seq=${seq}i,received_at=${receivedAt}i`;
  return `${measurement},${seriesKey} ${fields} ${reading.ts}`;
}

function seriesKeyOf(enterpriseId: string, gatewayId: string, sensorId: string): string {
  return `enterprise_id=${escapeTag(enterpriseId)},gateway_id=${escapeTag(gatewayId)},sensor_id=${escapeTag(sensorId)}`;
}

// --- group commit writer -------------------------------------------------------

interface QueuedBatch {
  lines: string[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Sends queued line groups as soon as a slot is free, whole groups only, up
 * to `maxLines` per request (a single larger group goes alone); each group's
 * promise settles with the request that carried it.
 */
class GroupCommitWriter {
  private queue: QueuedBatch[] = [];
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly send: (lines: string[]) => Promise<void>,
    private readonly maxLines: number,
    private readonly maxInFlight: number,
  ) {}

  write(lines: string[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ lines, resolve, reject });
      this.pump();
    });
  }

  /** Resolves when nothing is queued or in flight. */
  idle(): Promise<void> {
    if (this.inFlight === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
      let count = 0;
      let take = 0;
      for (const group of this.queue) {
        if (take > 0 && count + group.lines.length > this.maxLines) break;
        count += group.lines.length;
        take++;
      }
      const groups = this.queue.splice(0, take);
      const lines = groups.length === 1 ? groups[0]!.lines : groups.flatMap((g) => g.lines);
      this.inFlight++;
      this.send(lines)
        .then(
          () => {
            for (const group of groups) group.resolve();
          },
          (err: unknown) => {
            for (const group of groups) group.reject(err);
          },
        )
        .finally(() => {
          this.inFlight--;
          this.pump();
          if (this.inFlight === 0 && this.queue.length === 0) {
            for (const resolve of this.idleWaiters.splice(0)) resolve();
          }
        });
    }
  }
}

// --- reading rows back ----------------------------------------------------------

const FIELDS = ['value', 'value_bool', 'value_text', 'quality', 'reason', 'seq', 'received_at'];
const SELECT_FIELDS = FIELDS.map(quoteIdent).join(', ');

function readingValueOf(row: Record<string, unknown>): ReadingValue {
  if (typeof row.value === 'number') return row.value;
  if (typeof row.value_bool === 'boolean') return row.value_bool;
  if (typeof row.value_text === 'string') return row.value_text;
  return null;
}

function qualityOf(row: Record<string, unknown>): Quality {
  return QUALITIES.includes(row.quality as Quality) ? (row.quality as Quality) : 'bad';
}

function storedReading(
  row: Record<string, unknown>,
  ids: { gatewayId: string; enterpriseId: string; sensorId: string },
): StoredReading {
  const reading: StoredReading = {
    ...ids,
    value: readingValueOf(row),
    quality: qualityOf(row),
    ts: Number(row.time),
    receivedAt: typeof row.received_at === 'number' ? row.received_at : Number(row.time),
    seq: typeof row.seq === 'number' ? row.seq : 0,
  };
  if (typeof row.reason === 'string') reading.reason = row.reason;
  return reading;
}

/** Go duration as InfluxDB prints it ("720h0m0s", "0s" = infinite) → ms; null if unreadable. */
export function parseGoDuration(text: string): number | null {
  const units: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1, us: 0, ns: 0 };
  let total = 0;
  let rest = text.trim();
  if (rest === '') return null;
  while (rest.length > 0) {
    const match = /^(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)/.exec(rest);
    if (!match) return null;
    total += Number(match[1]) * (units[match[2] === 'µs' ? 'us' : match[2]!] ?? 0);
    rest = rest.slice(match[0].length);
  }
  return total;
}

const latestKey = (gatewayId: string, sensorId: string) => `${gatewayId}\u0000${sensorId}`;

/**
 * InfluxDB implementation of {@link TelemetryStore}; lifecycle and guarantees
 * as in the interface. `start()` loads the newest reading of every series
 * written within the retention period (InfluxQL) and checks the retention
 * policy; it throws when `/query` cannot be read.
 */
export class InfluxTelemetryStore implements TelemetryStore {
  private writeApi: WriteApi | null = null;
  private writer: GroupCommitWriter | null = null;
  private readonly reader: InfluxQlClient;
  private readonly latestByKey = new Map<string, LatestReading>();
  private readonly limiter: SeriesLimiter;
  private readonly clock: Clock;
  private readonly measurement = INFLUX_STORE_DEFAULTS.measurement;
  private readonly retentionDays: number;
  private started = false;
  private writeFailuresLogged = 0;

  constructor(private readonly options: InfluxTelemetryStoreOptions) {
    this.clock = options.clock ?? systemClock;
    this.limiter = new SeriesLimiter(
      options.maxSensorsPerGateway ?? INFLUX_STORE_DEFAULTS.maxSensorsPerGateway,
    );
    this.retentionDays = options.retentionDays ?? INFLUX_STORE_DEFAULTS.retentionDays;
    const readerOptions: ConstructorParameters<typeof InfluxQlClient>[0] = {
      url: options.url,
      database: options.database ?? options.bucket,
      timeoutMs: options.timeoutMs ?? INFLUX_STORE_DEFAULTS.timeoutMs,
    };
    if (options.retentionPolicy) readerOptions.retentionPolicy = options.retentionPolicy;
    if (options.token) readerOptions.token = options.token;
    if (options.fetch) readerOptions.fetch = options.fetch;
    this.reader = new InfluxQlClient(readerOptions);
  }

  /** Readings dropped because their gateway exceeded the sensor limit. */
  get droppedOverSeriesLimit(): number {
    return this.limiter.dropped;
  }

  async start(): Promise<void> {
    if (this.started) return;
    const o = this.options;
    const batchSize = o.batchSize ?? INFLUX_STORE_DEFAULTS.batchSize;
    const influx = new InfluxDB({
      url: o.url,
      ...(o.token ? { token: o.token } : {}),
      timeout: o.timeoutMs ?? INFLUX_STORE_DEFAULTS.timeoutMs,
    });
    // The library's buffer never fills by itself (we flush each request at
    // once), so its batchSize only has to exceed the largest request.
    const writeApi = influx.getWriteApi(o.org ?? INFLUX_STORE_DEFAULTS.org, o.bucket, 'ms', {
      batchSize: batchSize + MAX_READINGS_PER_BATCH + 1,
      flushInterval: Math.min(o.flushIntervalMs ?? INFLUX_STORE_DEFAULTS.flushIntervalMs, 1_000),
      gzipThreshold: o.gzipThresholdBytes ?? INFLUX_STORE_DEFAULTS.gzipThresholdBytes,
      maxRetries: 0,
    });
    await this.loadLatest();
    await this.checkRetention();
    this.writeApi = writeApi;
    this.writer = new GroupCommitWriter(
      (lines) => {
        // Synchronous add-then-flush: this flush sends exactly these lines.
        writeApi.writeRecords(lines);
        return writeApi.flush();
      },
      batchSize,
      o.maxInFlight ?? INFLUX_STORE_DEFAULTS.maxInFlight,
    );
    this.started = true;
    log.info(
      { url: o.url, bucket: o.bucket, series: this.latestByKey.size },
      'InfluxDB telemetry store ready',
    );
  }

  async stop(): Promise<void> {
    const writer = this.writer;
    const writeApi = this.writeApi;
    this.writer = null;
    this.writeApi = null;
    this.started = false;
    if (writer) await writer.idle();
    if (writeApi) await writeApi.close().catch(() => undefined);
    this.latestByKey.clear();
    this.limiter.clear();
  }

  async writeBatch(incoming: TelemetryBatch): Promise<void> {
    const writer = this.writer;
    if (!writer) throw new Error('telemetry store is not started');
    const batch = this.limiter.admit(incoming);
    if (batch.readings.length === 0) return;
    const receivedAt = this.clock.now();
    const { gatewayId, enterpriseId, seq } = batch;
    const keys = new Map<string, string>();
    const lines = new Array<string>(batch.readings.length);
    for (let i = 0; i < batch.readings.length; i++) {
      const reading = batch.readings[i]!;
      let key = keys.get(reading.sensorId);
      if (key === undefined) {
        key = seriesKeyOf(enterpriseId, gatewayId, reading.sensorId);
        keys.set(reading.sensorId, key);
      }
      lines[i] = toLine(this.measurement, key, reading, seq, receivedAt);
    }
    try {
      await writer.write(lines);
    } catch (err) {
      this.noteWriteFailure(err);
      throw new Error(
        `cannot store telemetry batch seq ${seq} of gateway '${gatewayId}' in InfluxDB: ${(err as Error).message}`,
        { cause: err },
      );
    }
    if (this.writeFailuresLogged > 0) {
      log.info({ url: this.options.url }, 'InfluxDB writes succeed again');
      this.writeFailuresLogged = 0;
    }
    this.limiter.commit(batch);
    for (const reading of batch.readings) {
      const key = latestKey(gatewayId, reading.sensorId);
      const current = this.latestByKey.get(key);
      if (current && current.ts > reading.ts) continue;
      this.latestByKey.set(key, latestReadingOf(gatewayId, enterpriseId, reading, receivedAt));
    }
  }

  latest(): LatestReading[] {
    return [...this.latestByKey.values()];
  }

  async queryRange(q: RangeQuery): Promise<StoredReading[]> {
    this.assertStarted();
    const limit = Math.max(0, Math.floor(q.limit));
    if (limit === 0) return [];
    const series = await this.reader.query(
      `SELECT ${SELECT_FIELDS}, "enterprise_id" FROM ${quoteIdent(this.measurement)} WHERE ${this.sensorWhere(q)} AND time >= ${timeMs(q.from)} AND time <= ${timeMs(q.to)} ORDER BY time DESC LIMIT ${limit}`,
    );
    return this.readingsOf(series, q).reverse();
  }

  async queryAggregate(q: AggregateQuery): Promise<AggregateBucket[]> {
    this.assertStarted();
    if (!(Number.isInteger(q.intervalMs) && q.intervalMs >= 1)) {
      throw new Error(`intervalMs must be a positive integer (got ${q.intervalMs})`);
    }
    const value = quoteIdent('value');
    const series = await this.reader.query(
      `SELECT mean(${value}), min(${value}), max(${value}), count(${value}) FROM ${quoteIdent(this.measurement)} WHERE ${this.sensorWhere(q)} AND "quality" != 'bad' AND time >= ${timeMs(q.from)} AND time <= ${timeMs(q.to)} GROUP BY time(${q.intervalMs}ms) fill(none)`,
    );
    const buckets: AggregateBucket[] = [];
    for (const s of series) {
      for (const row of rowsOf(s)) {
        if (typeof row.count !== 'number' || row.count === 0) continue;
        buckets.push({
          ts: Number(row.time),
          mean: Number(row.mean),
          min: Number(row.min),
          max: Number(row.max),
          count: row.count,
        });
      }
    }
    return buckets.sort((a, b) => a.ts - b.ts);
  }

  async queryLatest(q: LatestQuery): Promise<StoredReading | null> {
    this.assertStarted();
    const before = q.at === undefined ? '' : ` AND time <= ${timeMs(q.at)}`;
    const series = await this.reader.query(
      `SELECT ${SELECT_FIELDS}, "enterprise_id" FROM ${quoteIdent(this.measurement)} WHERE ${this.sensorWhere(q)}${before} ORDER BY time DESC LIMIT 1`,
    );
    return this.readingsOf(series, q)[0] ?? null;
  }

  private assertStarted(): void {
    if (!this.started) throw new Error('telemetry store is not started');
  }

  private sensorWhere(q: { gatewayId: string; sensorId: string }): string {
    // The API validates ids against the protocol pattern; quoting is the second line.
    if (!isValidId(q.gatewayId)) throw new Error(`invalid gatewayId '${q.gatewayId}'`);
    if (!isValidId(q.sensorId)) throw new Error(`invalid sensorId '${q.sensorId}'`);
    return `"gateway_id" = ${quoteString(q.gatewayId)} AND "sensor_id" = ${quoteString(q.sensorId)}`;
  }

  private readingsOf(
    series: InfluxQlSeries[],
    q: { gatewayId: string; sensorId: string },
  ): StoredReading[] {
    const readings: StoredReading[] = [];
    for (const s of series) {
      for (const row of rowsOf(s)) {
        const enterpriseId = String(row.enterprise_id ?? s.tags?.enterprise_id ?? '');
        readings.push(
          storedReading(row, { gatewayId: q.gatewayId, enterpriseId, sensorId: q.sensorId }),
        );
      }
    }
    return readings;
  }

  /** The newest point of every series within the retention period. */
  private async loadLatest(): Promise<void> {
    const since = this.clock.now() - this.retentionDays * DAY_MS;
    let series: InfluxQlSeries[];
    try {
      series = await this.reader.query(
        `SELECT ${SELECT_FIELDS} FROM ${quoteIdent(this.measurement)} WHERE time >= ${timeMs(since)} GROUP BY "enterprise_id", "gateway_id", "sensor_id" ORDER BY time DESC LIMIT 1`,
      );
    } catch (err) {
      throw new Error(
        `InfluxDB telemetry store cannot load the latest values from ${this.options.url}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    for (const s of series) {
      const tags = s.tags;
      if (s.name !== this.measurement || !tags?.gateway_id || !tags.sensor_id) continue;
      const row = rowsOf(s)[0];
      if (!row) continue;
      const { seq: _seq, ...latest } = storedReading(row, {
        gatewayId: tags.gateway_id,
        enterpriseId: tags.enterprise_id ?? '',
        sensorId: tags.sensor_id,
      });
      const key = latestKey(latest.gatewayId, latest.sensorId);
      const current = this.latestByKey.get(key);
      if (!current || latest.ts >= current.ts) this.latestByKey.set(key, latest);
      this.limiter.know(latest.gatewayId, latest.sensorId);
    }
  }

  /** Warns when the retention policy keeps less than promised (SAWS Order 40 art. 13). */
  private async checkRetention(): Promise<void> {
    const database = this.options.database ?? this.options.bucket;
    let series: InfluxQlSeries[];
    try {
      series = await this.reader.query(`SHOW RETENTION POLICIES ON ${quoteIdent(database)}`);
    } catch (err) {
      log.warn(
        { err: (err as Error).message, database },
        'cannot read the retention policy; make sure it keeps at least 30 days (SAWS Order 40 art. 13)',
      );
      return;
    }
    const rows = series.flatMap(rowsOf);
    const policy = this.options.retentionPolicy
      ? rows.find((r) => r.name === this.options.retentionPolicy)
      : rows.find((r) => r.default === true);
    if (!policy || typeof policy.duration !== 'string') return; // not InfluxDB (e.g. VictoriaMetrics)
    const ms = parseGoDuration(policy.duration);
    if (ms !== null && ms !== 0 && ms < this.retentionDays * DAY_MS) {
      log.warn(
        {
          database,
          retentionPolicy: policy.name,
          duration: policy.duration,
          retentionDays: this.retentionDays,
        },
        'InfluxDB retention policy keeps less than store.retentionDays (SAWS Order 40 art. 13: at least 30 days)',
      );
    }
  }

  private noteWriteFailure(err: unknown): void {
    this.writeFailuresLogged++;
    if (this.writeFailuresLogged === 1 || Number.isInteger(Math.log10(this.writeFailuresLogged))) {
      log.error(
        { err: (err as Error).message, url: this.options.url, failures: this.writeFailuresLogged },
        'InfluxDB write failed; gateways keep the batches and redeliver',
      );
    }
  }
}
