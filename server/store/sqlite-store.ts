/**
 * Embedded telemetry store on SQLite (better-sqlite3): one file, WAL mode,
 * synchronous = NORMAL (durability trade-off documented in sqlite.ts). Tables
 * and row codecs: sqlite-telemetry-schema.ts; the write side: sqlite-writer.ts.
 *
 * Writes run in a write lane (sqlite-write-lane.ts): with `writer: 'thread'`
 * (the server's default for a telemetry file of its own, store/index.ts) a
 * worker thread with its own connection does the inserts, the rollups and
 * retention, so the event loop that alarms arrive on never runs them (issue 19);
 * with `writer: 'inline'` (':memory:', or a file shared with the ledger) they run
 * on this thread, at most about 2 ms of them per event-loop turn. Queries run on
 * this thread's connection; WAL lets them read while the writer writes.
 *
 * Group commit: `writeBatch` queues its batch and the queue goes to the lane on
 * the next turn of the event loop, in groups of up to `maxRowsPerCommit` rows, so
 * 3,000 gateways sending small batches cost tens of commits a second, not
 * thousands. Every batch of a group resolves after the group's commit; if the
 * group fails, each batch is retried alone so one bad batch fails only itself.
 * INSERT OR IGNORE on (series, ts) makes a redelivered batch harmless.
 *
 * The newest reading per series is kept in memory (updated from what each commit
 * reports) and found again at start with one primary-key seek per series (no
 * `latest` table to upsert on every write: with small batches that doubled the
 * write work).
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
import type { TelemetryBatch } from '../../protocol/index.js';
import { MIN_RETENTION_DAYS } from './config.js';
import { SeriesLimiter } from './series-limit.js';
import { isMemoryPath, type OpenOptions, openWithSchema, type SqliteDatabase } from './sqlite.js';
import { HourlyRollups } from './sqlite-rollups.js';
import {
  allSeries,
  fromRow,
  type ReadingRow,
  TELEMETRY_SCHEMA,
} from './sqlite-telemetry-schema.js';
import {
  InlineWriteLane,
  type TelemetryWriteLane,
  ThreadWriteLane,
  WRITE_LANE_DEFAULTS,
} from './sqlite-write-lane.js';
import { SqliteTelemetryWriter } from './sqlite-writer.js';
import type {
  AggregateBucket,
  AggregateQuery,
  LatestQuery,
  LatestReading,
  RangeQuery,
  StoredReading,
  TelemetryStore,
} from './telemetry-store.js';

const log = createLogger('server.store');

export const SQLITE_STORE_DEFAULTS = {
  retentionDays: MIN_RETENTION_DAYS, // 30 d, SAWS Order 40 art. 13
  pruneIntervalMs: 60 * 60_000, // 1 h between retention passes
  maxSensorsPerGateway: 10_000, // series cardinality bound (series-limit.ts)
  // A group commit takes queued batches up to about this many rows: ~5 ms of inserts at ~190k
  // rows/s. Inline, the commit is synchronous, so this bounds how long one commit holds the
  // event loop that alarms arrive on (issue 19; it was 50,000 rows, a quarter of a second).
  maxRowsPerCommit: 1_000,
  // Inline only: commit work per event-loop turn (sqlite-write-lane.ts).
  commitBudgetMs: WRITE_LANE_DEFAULTS.budgetMs,
} as const;

const DAY_MS = 86_400_000;

export interface SqliteTelemetryStoreOptions extends OpenOptions {
  /** File path, or ':memory:'. */
  path: string;
  /**
   * Where the writes run: 'thread', a worker thread with its own connection (needs a file,
   * and one no other connection writes to: see sqlite-write-lane.ts); 'inline' (default), this
   * thread.
   */
  writer?: 'inline' | 'thread';
  clock?: Clock;
  /** Readings older than this (by source time) are deleted; at least 30 (SAWS Order 40 art. 13). */
  retentionDays?: number;
  /** Time between retention passes; 0 runs none on a timer (call `pruneExpired()` yourself). */
  pruneIntervalMs?: number;
  maxSensorsPerGateway?: number;
}

const latestKey = (gatewayId: string, sensorId: string) => `${gatewayId}\u0000${sensorId}`;

interface ReadStatements {
  range: (q: RangeQuery) => ReadingRow[];
  aggregate: (q: AggregateQuery) => AggregateBucket[];
  latestAt: (gatewayId: string, sensorId: string, at: number) => ReadingRow | undefined;
}

interface Queued {
  batch: TelemetryBatch;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * SQLite implementation of {@link TelemetryStore}. Lifecycle and guarantees as
 * in the interface; `writeBatch` resolves after the group commit that holds
 * its batch, and batches are committed in the order they were written.
 */
export class SqliteTelemetryStore implements TelemetryStore {
  private db: SqliteDatabase | null = null;
  private statements: ReadStatements | null = null;
  private rollups: HourlyRollups | null = null;
  private lane: TelemetryWriteLane | null = null;
  private queue: Queued[] = [];
  private flushScheduled = false;
  /** Groups handed to the lane and not yet answered. */
  private readonly inFlight = new Set<Promise<void>>();
  private readonly latestByKey = new Map<string, LatestReading>();
  private readonly clock: Clock;
  private readonly limiter: SeriesLimiter;
  private readonly retentionDays: number;
  private pruneTimer: NodeJS.Timeout | null = null;
  private stopping: Promise<void> | null = null;

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
    if (options.writer === 'thread' && isMemoryPath(options.path)) {
      throw new Error(
        "writer 'thread' needs a file: an in-memory database is its connection's own",
      );
    }
  }

  /** Readings dropped because their gateway exceeded the sensor limit. */
  get droppedOverSeriesLimit(): number {
    return this.limiter.dropped;
  }

  async start(): Promise<void> {
    if (this.db) return;
    const { path } = this.options;
    let lane: TelemetryWriteLane;
    let db: SqliteDatabase;
    if (this.options.writer === 'thread') {
      // This thread's connection only reads; the tables are made here first so that a
      // backfill of new rollups happens once, before the writer opens the file.
      db = openWithSchema(
        path,
        this.options,
        (db) => {
          db.exec(TELEMETRY_SCHEMA);
          this.prepareReads(db);
        },
        `telemetry store '${path}'`,
      );
      try {
        lane = await ThreadWriteLane.start({
          path,
          nice: WRITE_LANE_DEFAULTS.threadNice,
          ...(this.options.synchronous ? { synchronous: this.options.synchronous } : {}),
        });
      } catch (err) {
        db.close();
        throw err;
      }
    } else {
      const writer = SqliteTelemetryWriter.open(path, this.options);
      db = writer.db;
      this.prepareReads(db, writer.rollups);
      lane = new InlineWriteLane(writer, SQLITE_STORE_DEFAULTS.commitBudgetMs);
    }
    this.db = db;
    this.lane = lane;
    const series = this.loadLatest(db);
    log.info({ path, series, writer: this.options.writer ?? 'inline' }, 'telemetry store open');
    await this.pruneExpired();
    const interval = this.options.pruneIntervalMs ?? SQLITE_STORE_DEFAULTS.pruneIntervalMs;
    if (interval > 0) {
      this.pruneTimer = setInterval(() => {
        this.pruneExpired().catch((err: unknown) =>
          log.error({ err, path }, 'retention pass failed'),
        );
      }, interval);
      this.pruneTimer.unref();
    }
  }

  /**
   * Deletes readings whose source time is older than the retention period
   * (clock time minus `retentionDays`); resolves how many. Safe to call at any
   * time between start and stop.
   */
  async pruneExpired(): Promise<number> {
    const lane = this.lane;
    if (!lane) return 0;
    const before = this.clock.now() - this.retentionDays * DAY_MS;
    const deleted = await lane.prune(before);
    if (deleted > 0) {
      log.info(
        { deleted, before: new Date(before).toISOString(), retentionDays: this.retentionDays },
        'deleted readings past retention',
      );
    }
    return deleted;
  }

  stop(): Promise<void> {
    // A second call while the first runs waits for the same stop (and closes nothing twice).
    this.stopping ??= this.stopNow().finally(() => {
      this.stopping = null;
    });
    return this.stopping;
  }

  private async stopNow(): Promise<void> {
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    this.pruneTimer = null;
    const lane = this.lane;
    const db = this.db;
    if (!lane || !db) return;
    // Batches still queued are committed (their writers are waiting), then the file closes. A
    // batch written while a commit is awaited (a writer resolved by it writes again at once)
    // is committed too: with the lane gone it would wait for a flush that never comes.
    do {
      this.flushQueue();
      await Promise.allSettled([...this.inFlight]);
    } while (this.queue.length > 0 || this.inFlight.size > 0);
    this.lane = null;
    this.db = null;
    this.statements = null;
    this.rollups = null;
    this.limiter.clear();
    this.latestByKey.clear();
    await lane.close();
    if (db.open) db.close();
  }

  /**
   * Queues the batch for the next group commit; resolves once it is committed
   * (the group's transaction, or its own after a group failure).
   */
  async writeBatch(incoming: TelemetryBatch): Promise<void> {
    if (!this.lane) throw new Error('telemetry store is not started');
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

  /** Hands what is queued to the lane, in order, in groups of about `maxRowsPerCommit` rows. */
  private flushQueue(): void {
    this.flushScheduled = false;
    const lane = this.lane;
    if (!lane) return;
    while (this.queue.length > 0) {
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
      const done = this.commitGroup(lane, group);
      this.inFlight.add(done);
      void done.finally(() => this.inFlight.delete(done));
    }
  }

  private async commitGroup(lane: TelemetryWriteLane, group: Queued[]): Promise<void> {
    const batches = group.map((item) => item.batch);
    let outcome: Awaited<ReturnType<TelemetryWriteLane['commit']>>;
    try {
      outcome = await lane.commit(batches, this.clock.now());
    } catch (err) {
      const error = new Error(
        `cannot store ${batches.length} telemetry batch${batches.length === 1 ? '' : 'es'}: ${(err as Error).message}`,
        { cause: err },
      );
      for (const item of group) item.reject(error);
      return;
    }
    // Only after the commit: memory never shows what the file does not hold.
    for (const reading of outcome.updated) {
      const key = latestKey(reading.gatewayId, reading.sensorId);
      const current = this.latestByKey.get(key);
      if (!current || reading.ts >= current.ts) this.latestByKey.set(key, reading);
    }
    group.forEach((item, i) => {
      const failure = outcome.failures[i];
      if (failure) {
        item.reject(new Error(failure.message, { cause: new Error(failure.cause) }));
        return;
      }
      this.limiter.commit(item.batch);
      item.resolve();
    });
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

  /** `rollups`: the writer's, when it writes on this connection; else made here. */
  private prepareReads(db: SqliteDatabase, rollups?: HourlyRollups): void {
    const range = db.prepare<[string, string, number, number, number], ReadingRow>(
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
    const latestAt = db.prepare<[string, string, number], ReadingRow>(
      `SELECT s.gateway_id, s.enterprise_id, s.sensor_id, r.ts, r.received_at, r.value,
              r.value_text, r.value_type, r.quality, r.reason, r.seq
       FROM readings r JOIN series s USING (series_id)
       WHERE s.gateway_id = ? AND s.sensor_id = ? AND r.ts <= ?
       ORDER BY r.ts DESC LIMIT 1`,
    );
    this.statements = {
      aggregate: (q) =>
        aggregate.all({
          intervalMs: q.intervalMs,
          gatewayId: q.gatewayId,
          sensorId: q.sensorId,
          from: q.from,
          to: q.to,
        }),
      latestAt: (g, s, at) => latestAt.get(g, s, at),
      range: (q) => range.all(q.gatewayId, q.sensorId, q.from, q.to, q.limit),
    };
    // Made here, it also creates the rollup table (and backfills it) on a file that has none yet.
    this.rollups = rollups ?? new HourlyRollups(db);
  }

  /** Every series, and its newest reading (one primary-key seek each); returns how many series. */
  private loadLatest(db: SqliteDatabase): number {
    const newest = db.prepare<
      [number],
      Omit<ReadingRow, 'gateway_id' | 'enterprise_id' | 'sensor_id'>
    >(
      `SELECT ts, received_at, value, value_text, value_type, quality, reason, seq
       FROM readings WHERE series_id = ? ORDER BY ts DESC LIMIT 1`,
    );
    const series = allSeries(db);
    for (const s of series) {
      this.limiter.know(s.gateway_id, s.sensor_id);
      const row = newest.get(s.series_id);
      if (!row) continue;
      const { seq: _seq, ...latest } = fromRow({ ...s, ...row });
      const key = latestKey(s.gateway_id, s.sensor_id);
      const current = this.latestByKey.get(key);
      if (!current || latest.ts >= current.ts) this.latestByKey.set(key, latest);
    }
    return series.length;
  }
}
