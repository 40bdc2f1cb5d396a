/**
 * Embedded telemetry store on SQLite (better-sqlite3): one file, WAL mode,
 * synchronous = NORMAL (durability trade-off documented in sqlite.ts).
 *
 * Layout: a `series` row per (gateway_id, sensor_id, enterprise_id), and
 * `readings` keyed by (series_id, ts) in a WITHOUT ROWID table, so the primary
 * key is the (gateway_id, sensor_id, ts) index every range query uses, and a
 * row carries integers instead of three repeated strings (about 30 % faster
 * inserts and a smaller file than one wide table with a text index; measured
 * here). The `readings_view` view shows rows with their ids and quality names
 * for ad-hoc SQL. The newest reading per series is kept in memory and found
 * again at start with one primary-key seek per series (no `latest` table to
 * upsert on every write: with small batches that doubled the write work).
 *
 * Writes are multi-row prepared inserts (~190k rows/s on this machine), in
 * one transaction per group of batches ("group commit"): `writeBatch` queues
 * its batch and the queue is committed on the next turn of the event loop,
 * so 3,000 gateways sending small batches cost tens of commits a second, not
 * thousands. A turn commits groups for at most about 2 ms (`commitBudgetMs`) and
 * then hands the loop back, so telemetry never holds an alarm for longer than one
 * group (issue 19). Every batch of a group resolves after the group's commit; if the
 * group fails, each batch is retried alone so one bad batch fails only
 * itself. INSERT OR IGNORE on (series, ts) makes a redelivered batch
 * harmless: each reading is stored once.
 *
 * Retention (SAWS Order 40 art. 13: at least 30 days): readings whose source
 * time is older than `retentionDays` are deleted at start and then every
 * `pruneIntervalMs`, one series at a time through the primary key (no table
 * scan, no long write lock).
 *
 * Hourly rollups (sqlite-rollups.ts) are kept in the same transactions as the
 * readings and answer aggregate queries whose interval is a whole number of
 * hours (a 30-day trend: 720 rows instead of 2.6 million readings).
 */
import type { Clock } from '../../common/clock.js';
import { systemClock } from '../../common/clock.js';
import { createLogger } from '../../common/logger.js';
import type { Quality, Reading, TelemetryBatch } from '../../protocol/index.js';
import { MIN_RETENTION_DAYS } from './config.js';
import { SeriesLimiter } from './series-limit.js';
import { type OpenOptions, openWithSchema, type SqliteDatabase } from './sqlite.js';
import { HourDeltas, HourlyRollups } from './sqlite-rollups.js';
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

const log = createLogger('server.store');

export const SQLITE_STORE_DEFAULTS = {
  rowsPerInsert: 64, // rows per multi-row INSERT (9 parameters each, far below SQLite's 32766)
  retentionDays: MIN_RETENTION_DAYS, // 30 d, SAWS Order 40 art. 13
  pruneIntervalMs: 60 * 60_000, // 1 h between retention passes
  maxSensorsPerGateway: 10_000, // series cardinality bound (series-limit.ts)
  // A group commit takes queued batches up to about this many rows: ~5 ms of inserts at ~190k
  // rows/s. The commit is synchronous, so this bounds how long one commit holds the event loop
  // that alarms arrive on (issue 19; it was 50,000 rows, a quarter of a second).
  maxRowsPerCommit: 1_000,
  // Commit work per event-loop turn: after this, queued groups wait for the next turn, so an
  // alarm waits for at most one group, however much telemetry is queued (as ingest-lane.ts).
  commitBudgetMs: 2,
} as const;

const DAY_MS = 86_400_000;

export interface SqliteTelemetryStoreOptions extends OpenOptions {
  /** File path, or ':memory:'. */
  path: string;
  clock?: Clock;
  /** Readings older than this (by source time) are deleted; at least 30 (SAWS Order 40 art. 13). */
  retentionDays?: number;
  /** Time between retention passes; 0 runs none on a timer (call `pruneExpired()` yourself). */
  pruneIntervalMs?: number;
  maxSensorsPerGateway?: number;
}

const QUALITY_CODES: Record<Quality, number> = { good: 0, uncertain: 1, bad: 2 };
const QUALITY_NAMES: readonly Quality[] = ['good', 'uncertain', 'bad'];

/** value_type column: how to read `value` / `value_text` back. */
const ValueType = { Null: 0, Number: 1, Boolean: 2, String: 3 } as const;
type ValueTypeCode = (typeof ValueType)[keyof typeof ValueType];

const SCHEMA = `
CREATE TABLE IF NOT EXISTS series (
  series_id     INTEGER PRIMARY KEY,
  gateway_id    TEXT NOT NULL,
  enterprise_id TEXT NOT NULL,
  sensor_id     TEXT NOT NULL,
  UNIQUE (gateway_id, sensor_id, enterprise_id)
);
CREATE TABLE IF NOT EXISTS readings (
  series_id   INTEGER NOT NULL,
  ts          INTEGER NOT NULL,  -- source timestamp, epoch ms
  received_at INTEGER NOT NULL,  -- server clock, epoch ms
  value       REAL,              -- numbers; booleans as 0/1
  value_text  TEXT,              -- string values
  value_type  INTEGER NOT NULL,  -- 0 null, 1 number, 2 boolean, 3 string
  quality     INTEGER NOT NULL,  -- 0 good, 1 uncertain, 2 bad
  reason      TEXT,
  seq         INTEGER NOT NULL,  -- gateway sequence number of the batch
  PRIMARY KEY (series_id, ts)
) WITHOUT ROWID;
CREATE VIEW IF NOT EXISTS readings_view AS
  SELECT s.gateway_id, s.enterprise_id, s.sensor_id, r.ts, r.received_at,
         CASE r.value_type WHEN 3 THEN r.value_text ELSE r.value END AS value,
         CASE r.quality WHEN 0 THEN 'good' WHEN 1 THEN 'uncertain' ELSE 'bad' END AS quality,
         r.reason, r.seq
  FROM readings r JOIN series s USING (series_id);
`;

interface Row {
  gateway_id: string;
  enterprise_id: string;
  sensor_id: string;
  ts: number;
  received_at: number;
  value: number | null;
  value_text: string | null;
  value_type: number;
  quality: number;
  reason: string | null;
  seq: number;
}

type Encoded = [number | null, string | null, ValueTypeCode];

function encodeValue(value: ReadingValue): Encoded {
  if (value === null) return [null, null, ValueType.Null];
  if (typeof value === 'number') return [value, null, ValueType.Number];
  if (typeof value === 'boolean') return [value ? 1 : 0, null, ValueType.Boolean];
  return [null, value, ValueType.String];
}

function decodeValue(row: Pick<Row, 'value' | 'value_text' | 'value_type'>): ReadingValue {
  switch (row.value_type) {
    case ValueType.Number:
      return row.value;
    case ValueType.Boolean:
      return row.value !== 0;
    case ValueType.String:
      return row.value_text;
    default:
      return null;
  }
}

function fromRow(row: Row): StoredReading {
  const reading: StoredReading = {
    gatewayId: row.gateway_id,
    enterpriseId: row.enterprise_id,
    sensorId: row.sensor_id,
    value: decodeValue(row),
    quality: QUALITY_NAMES[row.quality] ?? 'bad',
    ts: row.ts,
    receivedAt: row.received_at,
    seq: row.seq,
  };
  if (row.reason !== null) reading.reason = row.reason;
  return reading;
}

const latestKey = (gatewayId: string, sensorId: string) => `${gatewayId}\u0000${sensorId}`;

interface Statements {
  findSeries: (gatewayId: string, sensorId: string, enterpriseId: string) => number | undefined;
  insertSeries: (gatewayId: string, sensorId: string, enterpriseId: string) => number;
  /** Multi-row inserts by size (64, 16, 4, 1 rows), largest first. */
  inserts: { rows: number; run: (params: unknown[]) => number }[];
  range: (q: RangeQuery) => Row[];
  aggregate: (q: AggregateQuery) => AggregateBucket[];
  latestAt: (gatewayId: string, sensorId: string, at: number) => Row | undefined;
  seriesIds: () => number[];
  prune: (seriesId: number, before: number) => number;
}

/**
 * SQLite implementation of {@link TelemetryStore}. Lifecycle and guarantees as
 * in the interface; `writeBatch` resolves after the group commit that holds
 * its batch, and batches are committed in the order they were written.
 */
export class SqliteTelemetryStore implements TelemetryStore {
  private db: SqliteDatabase | null = null;
  private statements: Statements | null = null;
  private rollups: HourlyRollups | null = null;
  private writeTransaction:
    | ((batches: readonly TelemetryBatch[], receivedAt: number) => LatestReading[])
    | null = null;
  private queue: { batch: TelemetryBatch; resolve: () => void; reject: (err: Error) => void }[] =
    [];
  private flushScheduled = false;
  /** (gatewayId, sensorId, enterpriseId) → series_id. */
  private readonly seriesIds = new Map<string, number>();
  /** Series created by the running transaction: forgotten again if it rolls back. */
  private seriesCreatedInTransaction: string[] = [];
  private readonly latestByKey = new Map<string, LatestReading>();
  private readonly clock: Clock;
  private readonly limiter: SeriesLimiter;
  private readonly retentionDays: number;
  private pruneTimer: NodeJS.Timeout | null = null;

  constructor(private readonly options: SqliteTelemetryStoreOptions) {
    this.clock = options.clock ?? systemClock;
    this.limiter = new SeriesLimiter(
      options.maxSensorsPerGateway ?? SQLITE_STORE_DEFAULTS.maxSensorsPerGateway,
    );
    this.retentionDays = options.retentionDays ?? SQLITE_STORE_DEFAULTS.retentionDays;
    if (!(this.retentionDays >= MIN_RETENTION_DAYS)) {
      throw new Error(
        `retentionDays must be at least ${MIN_RETENTION_DAYS} (SAWS Order 40 art. 13) (got ${this.retentionDays})`,
      );
    }
  }

  /** Readings dropped because their gateway exceeded the sensor limit. */
  get droppedOverSeriesLimit(): number {
    return this.limiter.dropped;
  }

  async start(): Promise<void> {
    if (this.db) return;
    const db = openWithSchema(
      this.options.path,
      this.options,
      (db) => {
        db.exec(SCHEMA);
        this.statements = this.prepare(db);
        this.rollups = new HourlyRollups(db);
        this.writeTransaction = db.transaction(
          (batches: readonly TelemetryBatch[], receivedAt: number) =>
            this.insertGroup(batches, receivedAt),
        );
        this.loadLatest(db);
      },
      `telemetry store '${this.options.path}'`,
    );
    this.db = db;
    log.info({ path: this.options.path, series: this.seriesIds.size }, 'telemetry store open');
    this.pruneExpired();
    const interval = this.options.pruneIntervalMs ?? SQLITE_STORE_DEFAULTS.pruneIntervalMs;
    if (interval > 0) {
      this.pruneTimer = setInterval(() => {
        try {
          this.pruneExpired();
        } catch (err) {
          log.error({ err, path: this.options.path }, 'retention pass failed');
        }
      }, interval);
      this.pruneTimer.unref();
    }
  }

  /**
   * Deletes readings whose source time is older than the retention period
   * (clock time minus `retentionDays`); returns how many. Safe to call at any
   * time between start and stop.
   */
  pruneExpired(): number {
    const statements = this.statements;
    const rollups = this.rollups;
    if (!statements || !rollups || !this.db) return 0;
    const before = this.clock.now() - this.retentionDays * DAY_MS;
    let deleted = 0;
    const pruneSeries = this.db.transaction((seriesId: number) => {
      const n = statements.prune(seriesId, before);
      if (n > 0) rollups.pruned(seriesId, before);
      return n;
    });
    for (const seriesId of statements.seriesIds()) deleted += pruneSeries(seriesId);
    if (deleted > 0) {
      log.info(
        { deleted, before: new Date(before).toISOString(), retentionDays: this.retentionDays },
        'deleted readings past retention',
      );
    }
    return deleted;
  }

  async stop(): Promise<void> {
    // Batches still queued are committed (their writers are waiting), then the file closes.
    if (this.writeTransaction) this.flushQueue(Number.POSITIVE_INFINITY);
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    this.pruneTimer = null;
    this.limiter.clear();
    const db = this.db;
    this.db = null;
    this.statements = null;
    this.rollups = null;
    this.writeTransaction = null;
    this.seriesIds.clear();
    this.latestByKey.clear();
    if (db?.open) db.close();
  }

  /**
   * Queues the batch for the next group commit; resolves once it is committed
   * (the group's transaction, or its own after a group failure).
   */
  async writeBatch(incoming: TelemetryBatch): Promise<void> {
    if (!this.writeTransaction) throw new Error('telemetry store is not started');
    const batch = this.limiter.admit(incoming);
    if (batch.readings.length === 0) return;
    await new Promise<void>((resolve, reject) => {
      this.queue.push({ batch, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flushQueue());
      }
    });
  }

  /**
   * Commits what is queued, in order, in groups of about `maxRowsPerCommit` rows, until
   * `budgetMs` of this turn is spent (at least one group); the rest waits for the next turn.
   */
  private flushQueue(budgetMs: number = SQLITE_STORE_DEFAULTS.commitBudgetMs): void {
    this.flushScheduled = false;
    const until = performance.now() + budgetMs;
    let committedAGroup = false;
    while (this.queue.length > 0) {
      if (committedAGroup && performance.now() >= until) {
        this.flushScheduled = true;
        setImmediate(() => this.flushQueue());
        return;
      }
      let rows = 0;
      let take = 0;
      for (const item of this.queue) {
        if (
          take > 0 &&
          rows + item.batch.readings.length > SQLITE_STORE_DEFAULTS.maxRowsPerCommit
        ) {
          break;
        }
        rows += item.batch.readings.length;
        take++;
      }
      const group = this.queue.splice(0, take);
      committedAGroup = true;
      try {
        this.commit(group.map((item) => item.batch));
        for (const item of group) item.resolve();
      } catch (groupError) {
        if (group.length === 1) {
          group[0]!.reject(groupError as Error);
          continue;
        }
        // One batch may be the cause: give each its own transaction.
        for (const item of group) {
          try {
            this.commit([item.batch]);
            item.resolve();
          } catch (err) {
            item.reject(err as Error);
          }
        }
      }
    }
  }

  /** One transaction; updates memory only after it committed. Throws naming the batch(es). */
  private commit(batches: readonly TelemetryBatch[]): void {
    const transaction = this.writeTransaction;
    if (!transaction) throw new Error('telemetry store is not started');
    let updated: LatestReading[];
    this.seriesCreatedInTransaction = [];
    try {
      updated = transaction(batches, this.clock.now());
    } catch (err) {
      for (const key of this.seriesCreatedInTransaction) this.seriesIds.delete(key);
      const first = batches[0]!;
      throw new Error(
        batches.length === 1
          ? `cannot store telemetry batch seq ${first.seq} of gateway '${first.gatewayId}'`
          : `cannot store ${batches.length} telemetry batches`,
        { cause: err },
      );
    }
    // Only after the commit: memory never shows what the file does not hold.
    for (const batch of batches) this.limiter.commit(batch);
    for (const reading of updated) {
      const key = latestKey(reading.gatewayId, reading.sensorId);
      const current = this.latestByKey.get(key);
      if (!current || reading.ts >= current.ts) this.latestByKey.set(key, reading);
    }
  }

  latest(): LatestReading[] {
    return [...this.latestByKey.values()];
  }

  async queryRange(q: RangeQuery): Promise<StoredReading[]> {
    if (!this.statements) throw new Error('telemetry store is not started');
    return this.statements.range(q).reverse().map(fromRow);
  }

  async queryAggregate(q: AggregateQuery): Promise<AggregateBucket[]> {
    if (!this.statements) throw new Error('telemetry store is not started');
    if (!(Number.isInteger(q.intervalMs) && q.intervalMs >= 1)) {
      throw new Error(`intervalMs must be a positive integer (got ${q.intervalMs})`);
    }
    if (this.rollups && HourlyRollups.covers(q)) return this.rollups.aggregate(q);
    return this.statements.aggregate(q);
  }

  async queryLatest(q: LatestQuery): Promise<StoredReading | null> {
    if (!this.statements) throw new Error('telemetry store is not started');
    const row = this.statements.latestAt(q.gatewayId, q.sensorId, q.at ?? Number.MAX_SAFE_INTEGER);
    return row ? fromRow(row) : null;
  }

  private prepare(db: SqliteDatabase): Statements {
    const rowsPerInsert = SQLITE_STORE_DEFAULTS.rowsPerInsert;
    const placeholders = '(?, ?, ?, ?, ?, ?, ?, ?, ?)';
    const insertSql = 'INSERT OR IGNORE INTO readings VALUES ';
    const findSeries = db
      .prepare<[string, string, string], number>(
        'SELECT series_id FROM series WHERE gateway_id = ? AND sensor_id = ? AND enterprise_id = ?',
      )
      .pluck();
    const insertSeries = db.prepare(
      'INSERT INTO series (gateway_id, sensor_id, enterprise_id) VALUES (?, ?, ?)',
    );
    const inserts = [rowsPerInsert, 16, 4, 1].map((rows) => {
      const statement = db.prepare(insertSql + Array(rows).fill(placeholders).join(', '));
      return { rows, run: (params: unknown[]) => statement.run(params).changes };
    });

    const range = db.prepare<[string, string, number, number, number], Row>(
      `SELECT s.gateway_id, s.enterprise_id, s.sensor_id, r.ts, r.received_at, r.value,
              r.value_text, r.value_type, r.quality, r.reason, r.seq
       FROM readings r JOIN series s USING (series_id)
       WHERE s.gateway_id = ? AND s.sensor_id = ? AND r.ts BETWEEN ? AND ?
       ORDER BY r.ts DESC LIMIT ?`,
    );
    // Numeric (value_type 1) readings of quality good or uncertain (< 2); the
    // bucket is floor(ts / interval) * interval, as InfluxQL GROUP BY time().
    const aggregate = db.prepare<[AggregateQuery], AggregateBucket>(
      `SELECT (r.ts - (r.ts % @intervalMs)) AS ts, AVG(r.value) AS mean, MIN(r.value) AS min,
              MAX(r.value) AS max, COUNT(*) AS count
       FROM readings r JOIN series s USING (series_id)
       WHERE s.gateway_id = @gatewayId AND s.sensor_id = @sensorId AND r.ts BETWEEN @from AND @to
         AND r.value_type = 1 AND r.quality < 2
       GROUP BY 1 ORDER BY 1`,
    );
    const latestAt = db.prepare<[string, string, number], Row>(
      `SELECT s.gateway_id, s.enterprise_id, s.sensor_id, r.ts, r.received_at, r.value,
              r.value_text, r.value_type, r.quality, r.reason, r.seq
       FROM readings r JOIN series s USING (series_id)
       WHERE s.gateway_id = ? AND s.sensor_id = ? AND r.ts <= ?
       ORDER BY r.ts DESC LIMIT 1`,
    );
    const allSeries = db.prepare<[], number>('SELECT series_id FROM series').pluck();
    const prune = db.prepare('DELETE FROM readings WHERE series_id = ? AND ts < ?');
    return {
      aggregate: (q) =>
        aggregate.all({
          intervalMs: q.intervalMs,
          gatewayId: q.gatewayId,
          sensorId: q.sensorId,
          from: q.from,
          to: q.to,
        }),
      latestAt: (g, s, at) => latestAt.get(g, s, at),
      seriesIds: () => allSeries.all(),
      prune: (seriesId, before) => prune.run(seriesId, before).changes,
      findSeries: (g, s, e) => findSeries.get(g, s, e),
      insertSeries: (g, s, e) => Number(insertSeries.run(g, s, e).lastInsertRowid),
      inserts,
      range: (q) => range.all(q.gatewayId, q.sensorId, q.from, q.to, q.limit),
    };
  }

  private seriesId(gatewayId: string, sensorId: string, enterpriseId: string): number {
    const key = `${gatewayId}\u0000${sensorId}\u0000${enterpriseId}`;
    let id = this.seriesIds.get(key);
    if (id === undefined) {
      const statements = this.statements!;
      id =
        statements.findSeries(gatewayId, sensorId, enterpriseId) ??
        statements.insertSeries(gatewayId, sensorId, enterpriseId);
      this.seriesIds.set(key, id);
      this.seriesCreatedInTransaction.push(key);
    }
    return id;
  }

  /**
   * Runs inside the transaction: every row of every batch in 64-row inserts
   * (the rest in 16, 4 and 1-row ones). Returns the newest reading of each
   * series touched (memory keeps it if it is newer than what it has).
   */
  private insertGroup(batches: readonly TelemetryBatch[], receivedAt: number): LatestReading[] {
    const statements = this.statements!;
    const [largest] = statements.inserts;
    const newest = new Map<number, { reading: Reading; gatewayId: string; enterpriseId: string }>();
    const deltas = new HourDeltas();
    let chunk: unknown[] = [];
    // (series, ts) of each row in `chunk`: an insert that stores fewer rows than it
    // carried (a redelivery) has its hours recomputed instead of added to.
    let chunkKeys: [number, number][] = [];
    let rowsInChunk = 0;
    for (const batch of batches) {
      const { gatewayId, enterpriseId, seq } = batch;
      for (const reading of batch.readings) {
        const series = this.seriesId(gatewayId, reading.sensorId, enterpriseId);
        const [value, valueText, valueType] = encodeValue(reading.value);
        const row = [
          series,
          reading.ts,
          receivedAt,
          value,
          valueText,
          valueType,
          QUALITY_CODES[reading.quality],
          reading.reason ?? null,
          seq,
        ];
        chunk.push(...row);
        chunkKeys.push([series, reading.ts]);
        if (valueType === ValueType.Number && reading.quality !== 'bad') {
          deltas.add(series, reading.ts, value as number);
        }
        rowsInChunk++;
        if (rowsInChunk === largest!.rows) {
          if (largest!.run(chunk) < rowsInChunk) deltas.insertFellShort(chunkKeys);
          chunk = [];
          chunkKeys = [];
          rowsInChunk = 0;
        }
        const best = newest.get(series);
        if (!best || reading.ts >= best.reading.ts) {
          newest.set(series, { reading, gatewayId, enterpriseId });
        }
      }
    }
    let offset = 0;
    for (const insert of statements.inserts) {
      while (rowsInChunk - offset / 9 >= insert.rows) {
        const stored = insert.run(chunk.slice(offset, offset + insert.rows * 9));
        if (stored < insert.rows) {
          deltas.insertFellShort(chunkKeys.slice(offset / 9, offset / 9 + insert.rows));
        }
        offset += insert.rows * 9;
      }
    }
    deltas.apply(this.rollups!);
    const updated: LatestReading[] = [];
    for (const { reading, gatewayId, enterpriseId } of newest.values()) {
      updated.push(latestReadingOf(gatewayId, enterpriseId, reading, receivedAt));
    }
    return updated;
  }

  /** Every series, and its newest reading (one primary-key seek each). */
  private loadLatest(db: SqliteDatabase): void {
    const newest = db.prepare<[number], Omit<Row, 'gateway_id' | 'enterprise_id' | 'sensor_id'>>(
      `SELECT ts, received_at, value, value_text, value_type, quality, reason, seq
       FROM readings WHERE series_id = ? ORDER BY ts DESC LIMIT 1`,
    );
    const series = db
      .prepare<
        [],
        { series_id: number; gateway_id: string; enterprise_id: string; sensor_id: string }
      >('SELECT series_id, gateway_id, enterprise_id, sensor_id FROM series')
      .all();
    for (const s of series) {
      this.seriesIds.set(
        `${s.gateway_id}\u0000${s.sensor_id}\u0000${s.enterprise_id}`,
        s.series_id,
      );
      this.limiter.know(s.gateway_id, s.sensor_id);
      const row = newest.get(s.series_id);
      if (!row) continue;
      const { seq: _seq, ...latest } = fromRow({ ...s, ...row });
      const key = latestKey(s.gateway_id, s.sensor_id);
      const current = this.latestByKey.get(key);
      if (!current || latest.ts >= current.ts) this.latestByKey.set(key, latest);
    }
  }
}
