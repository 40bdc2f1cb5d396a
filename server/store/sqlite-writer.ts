/**
 * The write side of the embedded telemetry store: one connection that inserts
 * readings, keeps the hourly rollups in the same transactions, and deletes
 * readings past retention. Synchronous and thread-agnostic: the store runs it
 * on the main thread for an in-memory or shared file (sqlite-write-lane.ts
 * `InlineWriteLane`) and in a worker thread for a telemetry file of its own
 * (`ThreadWriteLane`, sqlite-writer-thread.ts), so that 50,000 inserted rows a
 * second never hold the event loop that alarms arrive on (issue 19).
 *
 * Writes are multi-row prepared inserts (~190k rows/s on this machine), one
 * transaction per group of batches. If a group fails, each of its batches is
 * retried alone, so one bad batch fails only itself. INSERT OR IGNORE on
 * (series, ts) makes a redelivered batch harmless: each reading is stored once.
 *
 * Lifecycle: `open()` creates the tables and prepares statements; `commit` and
 * `prune` between; `close()` releases the file (twice is harmless).
 */
import type { Reading, TelemetryBatch } from '../../protocol/index.js';
import { type OpenOptions, openWithSchema, type SqliteDatabase } from './sqlite.js';
import { HourDeltas, HourlyRollups } from './sqlite-rollups.js';
import {
  allSeries,
  encodeValue,
  QUALITY_CODES,
  TELEMETRY_SCHEMA,
  ValueType,
} from './sqlite-telemetry-schema.js';

import { type LatestReading, latestReadingOf } from './telemetry-store.js';

export const SQLITE_WRITER_DEFAULTS = {
  rowsPerInsert: 64, // rows per multi-row INSERT (9 parameters each, far below SQLite's 32766)
} as const;

const COLUMNS = 9;

/** Why one batch was not stored: plain data, so it crosses a thread boundary. */
export interface CommitFailure {
  message: string;
  cause: string;
}

/** What one `commit` did: per batch, null (stored) or why not; the newest reading of each series touched. */
export interface CommitOutcome {
  failures: (CommitFailure | null)[];
  updated: LatestReading[];
}

interface WriteStatements {
  findSeries: (gatewayId: string, sensorId: string, enterpriseId: string) => number | undefined;
  insertSeries: (gatewayId: string, sensorId: string, enterpriseId: string) => number;
  /** Multi-row inserts by size (64, 16, 4, 1 rows), largest first. */
  inserts: { rows: number; run: (params: unknown[]) => number }[];
  seriesIds: () => number[];
  prune: (seriesId: number, before: number) => number;
}

export class SqliteTelemetryWriter {
  /** (gatewayId, sensorId, enterpriseId) → series_id. */
  private readonly seriesIds = new Map<string, number>();
  /** Series created by the running transaction: forgotten again if it rolls back. */
  private seriesCreatedInTransaction: string[] = [];
  private readonly statements: WriteStatements;
  /** The hourly rollups on this connection (the inline store answers aggregates from them too). */
  readonly rollups: HourlyRollups;
  private readonly transaction: (
    batches: readonly TelemetryBatch[],
    receivedAt: number,
  ) => LatestReading[];

  private constructor(readonly db: SqliteDatabase) {
    this.statements = prepareWrites(db);
    this.rollups = new HourlyRollups(db);
    this.transaction = db.transaction((batches: readonly TelemetryBatch[], receivedAt: number) =>
      this.insertGroup(batches, receivedAt),
    );
    const series = allSeries(db);
    for (const s of series) {
      this.seriesIds.set(seriesKey(s.gateway_id, s.sensor_id, s.enterprise_id), s.series_id);
    }
  }

  /** Opens `path` (creating the tables and rollups if new). Throws naming the file. */
  static open(path: string, options: OpenOptions = {}): SqliteTelemetryWriter {
    let writer: SqliteTelemetryWriter | null = null;
    openWithSchema(
      path,
      options,
      (db) => {
        db.exec(TELEMETRY_SCHEMA);
        writer = new SqliteTelemetryWriter(db);
      },
      `telemetry store '${path}'`,
    );
    return writer!;
  }

  /**
   * Stores `batches` in one transaction, stamped `receivedAt` (server clock, epoch ms);
   * if that fails, each batch in a transaction of its own.
   */
  commit(batches: readonly TelemetryBatch[], receivedAt: number): CommitOutcome {
    try {
      return { failures: batches.map(() => null), updated: this.commitOnce(batches, receivedAt) };
    } catch (groupError) {
      if (batches.length === 1) {
        return { failures: [failureOf(batches, groupError)], updated: [] };
      }
      // One batch may be the cause: give each its own transaction.
      const outcome: CommitOutcome = { failures: [], updated: [] };
      for (const batch of batches) {
        try {
          outcome.updated.push(...this.commitOnce([batch], receivedAt));
          outcome.failures.push(null);
        } catch (err) {
          outcome.failures.push(failureOf([batch], err));
        }
      }
      return outcome;
    }
  }

  /** Deletes readings with source time before `before` (epoch ms), one series per transaction. */
  prune(before: number): number {
    const { statements, rollups } = this;
    const pruneSeries = this.db.transaction((seriesId: number) => {
      const n = statements.prune(seriesId, before);
      if (n > 0) rollups.pruned(seriesId, before);
      return n;
    });
    let deleted = 0;
    for (const seriesId of statements.seriesIds()) deleted += pruneSeries(seriesId);
    return deleted;
  }

  close(): void {
    this.seriesIds.clear();
    if (this.db.open) this.db.close();
  }

  private commitOnce(batches: readonly TelemetryBatch[], receivedAt: number): LatestReading[] {
    this.seriesCreatedInTransaction = [];
    try {
      return this.transaction(batches, receivedAt);
    } catch (err) {
      for (const key of this.seriesCreatedInTransaction) this.seriesIds.delete(key);
      throw err;
    }
  }

  private seriesId(gatewayId: string, sensorId: string, enterpriseId: string): number {
    const key = seriesKey(gatewayId, sensorId, enterpriseId);
    let id = this.seriesIds.get(key);
    if (id === undefined) {
      id =
        this.statements.findSeries(gatewayId, sensorId, enterpriseId) ??
        this.statements.insertSeries(gatewayId, sensorId, enterpriseId);
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
    const statements = this.statements;
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
        chunk.push(
          series,
          reading.ts,
          receivedAt,
          value,
          valueText,
          valueType,
          QUALITY_CODES[reading.quality],
          reading.reason ?? null,
          seq,
        );
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
      while (rowsInChunk - offset / COLUMNS >= insert.rows) {
        const stored = insert.run(chunk.slice(offset, offset + insert.rows * COLUMNS));
        if (stored < insert.rows) {
          deltas.insertFellShort(chunkKeys.slice(offset / COLUMNS, offset / COLUMNS + insert.rows));
        }
        offset += insert.rows * COLUMNS;
      }
    }
    deltas.apply(this.rollups);
    const updated: LatestReading[] = [];
    for (const { reading, gatewayId, enterpriseId } of newest.values()) {
      updated.push(latestReadingOf(gatewayId, enterpriseId, reading, receivedAt));
    }
    return updated;
  }
}

const seriesKey = (gatewayId: string, sensorId: string, enterpriseId: string) =>
  `${gatewayId}\u0000${sensorId}\u0000${enterpriseId}`;

function failureOf(batches: readonly TelemetryBatch[], err: unknown): CommitFailure {
  const first = batches[0]!;
  return {
    message:
      batches.length === 1
        ? `cannot store telemetry batch seq ${first.seq} of gateway '${first.gatewayId}'`
        : `cannot store ${batches.length} telemetry batches`,
    cause: err instanceof Error ? err.message : String(err),
  };
}

function prepareWrites(db: SqliteDatabase): WriteStatements {
  const placeholders = `(${Array(COLUMNS).fill('?').join(', ')})`;
  const insertSql = 'INSERT OR IGNORE INTO readings VALUES ';
  const findSeries = db
    .prepare<[string, string, string], number>(
      'SELECT series_id FROM series WHERE gateway_id = ? AND sensor_id = ? AND enterprise_id = ?',
    )
    .pluck();
  const insertSeries = db.prepare(
    'INSERT INTO series (gateway_id, sensor_id, enterprise_id) VALUES (?, ?, ?)',
  );
  const inserts = [SQLITE_WRITER_DEFAULTS.rowsPerInsert, 16, 4, 1].map((rows) => {
    const statement = db.prepare(insertSql + Array(rows).fill(placeholders).join(', '));
    return { rows, run: (params: unknown[]) => statement.run(params).changes };
  });
  const seriesIdList = db.prepare<[], number>('SELECT series_id FROM series').pluck();
  const prune = db.prepare('DELETE FROM readings WHERE series_id = ? AND ts < ?');
  return {
    findSeries: (g, s, e) => findSeries.get(g, s, e),
    insertSeries: (g, s, e) => Number(insertSeries.run(g, s, e).lastInsertRowid),
    inserts,
    seriesIds: () => seriesIdList.all(),
    prune: (seriesId, before) => prune.run(seriesId, before).changes,
  };
}
