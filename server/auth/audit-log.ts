/**
 * Security audit log: one JSON object per line (JSONL), append-only, for
 * every refused connection, publish or subscription, every dropped client and
 * every rejected payload (malformed, oversized, NaN/infinite, wrong types,
 * implausible timestamps).
 *
 * Bounded, so that a flood of bad input cannot fill the disk or slow ingest:
 * - size: when the file passes `maxBytes` it is renamed to `<path>.1`
 *   (replacing the previous one) and a new file starts: at most 2 × maxBytes;
 * - rate: at most `maxRecordsPerSecond` records a second are written; the
 *   rest are counted and summarised in one `suppressed` record a second later;
 * - record size: strings are cut to `maxFieldChars`.
 * Each record is one synchronous append (O_APPEND) of a few hundred bytes; the
 * rate limit bounds that to well under a millisecond of I/O per second, and a
 * record is on disk once `record()` returns. The newest `recentLimit` records
 * are also kept in memory (`recent()`).
 *
 * The database (table `audit_records`, server/db): with a `database`, every record written
 * (the same ones as the file: the rate limit bounds both) is also queued and inserted in
 * batches, so a cluster's nodes audit to one place while each keeps its own file for the ops
 * tools. `record()` stays synchronous and cheap: it pushes onto a queue; a flush
 * `flushIntervalMs` later (100 ms) inserts the whole queue in one statement, one flush at a
 * time; `stop()` flushes what is left. A failing insert is logged and counted
 * (`databaseFailures`, `databaseRecordsLost`), never thrown into the caller, and its records
 * are not retried (they are in this node's file). The queue is bounded (`maxQueued`: a
 * database that is down does not grow memory without end; the overflow is counted as lost).
 * Retention: after a flush, at most once per `pruneIntervalMs`, rows older than `retentionMs`
 * and rows beyond the newest `maxRows` are deleted.
 *
 * `recent()` serves from memory, not the database: it is synchronous for its callers, costs
 * no query, and this node's own records are what its callers (tests, diagnostics) ask about;
 * the cluster-wide view is the table.
 *
 * Lifecycle: `start()` opens the file (creating its directory); `stop()`
 * writes the last summary, flushes the file and the database queue, and closes;
 * safe twice. With `path: null` no file is written (tests, ':memory:' stores);
 * without `database` no rows are.
 */
import { closeSync, fstatSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import type { Clock } from '../../common/clock.js';
import { systemClock } from '../../common/clock.js';
import { createLogger } from '../../common/logger.js';
import type { Database } from '../db/database.js';
import type { AuditRecordsTable } from '../db/schema.js';

const log = createLogger('server.audit');

export const AUDIT_LOG_DEFAULTS = {
  maxBytes: 10 * 1024 * 1024, // 10 MiB per file, one rotated file kept
  maxRecordsPerSecond: 200, // records written per second; the rest summarised
  maxFieldChars: 300, // longest string kept in a record
  recentLimit: 1_000, // records kept in memory
  flushIntervalMs: 100, // records queued for the database are inserted this long after the first
  maxBatch: 1_000, // rows in one INSERT (a backlog after an outage goes in several)
  maxQueued: 20_000, // 100 s at the default rate: the most held while the database is slow or down
  // Cybersecurity Law of the PRC, Art. 21(3): network logs kept for no less than six months.
  retentionMs: 183 * 24 * 60 * 60_000,
  // Bounds the table under a sustained flood (the rate limit allows 200 rows a second): about
  // 7 h of flood, or years of ordinary refusals. Beyond it the oldest rows go first.
  maxRows: 5_000_000,
  pruneIntervalMs: 60_000, // retention runs at most once a minute per node
} as const;

/** 'fleet': enrolment, revocation, pushed versions, remote commands and their results. */
export type AuditCategory = 'broker' | 'ingest' | 'fleet';

export interface AuditRecord {
  /** ISO 8601 server time. */
  time: string;
  category: AuditCategory;
  /** What happened: 'connect-refused', 'publish-refused', 'rejected', 'suppressed', ... */
  event: string;
  reason: string;
  clientId?: string;
  username?: string;
  gatewayId?: string;
  remoteAddress?: string;
  topic?: string;
  detail?: string;
  payloadBytes?: number;
  /** For 'suppressed': how many records the rate limit held back. */
  count?: number;
}

export type AuditInput = Omit<AuditRecord, 'time'>;

export interface AuditLogOptions {
  /** JSONL file; null keeps records in memory only. */
  path: string | null;
  maxBytes?: number;
  maxRecordsPerSecond?: number;
  clock?: Clock;
  /** The platform database (started by its owner); absent or null: no rows, file only. */
  database?: Database | null;
  /** Stored in `node_id` (config node.id); default the host name. */
  nodeId?: string;
  flushIntervalMs?: number;
  maxQueued?: number;
  retentionMs?: number;
  maxRows?: number;
  pruneIntervalMs?: number;
}

type AuditRow = Omit<AuditRecordsTable, 'id'>;

function rowOf(record: AuditRecord, at: number, nodeId: string): AuditRow {
  return {
    at,
    time: record.time,
    node_id: nodeId,
    category: record.category,
    event: record.event,
    reason: record.reason,
    client_id: record.clientId ?? null,
    username: record.username ?? null,
    gateway_id: record.gatewayId ?? null,
    remote_address: record.remoteAddress ?? null,
    topic: record.topic ?? null,
    detail: record.detail ?? null,
    payload_bytes: record.payloadBytes ?? null,
    suppressed_count: record.count ?? null,
  };
}

export class AuditLog {
  private fd: number | null = null;
  private file = '';
  private bytes = 0;
  private readonly recentRecords: AuditRecord[] = [];
  private windowStart = 0;
  private writtenInWindow = 0;
  private suppressed = 0;
  private summaryTimer: NodeJS.Timeout | null = null;
  private total = 0;
  private readonly clock: Clock;
  private readonly nodeId: string;
  /** Rows waiting for the next database flush. */
  private queue: AuditRow[] = [];
  private flushTimer: NodeJS.Timeout | null = null;
  /** The flush in flight (one at a time), so stop() can wait for it. */
  private flushing: Promise<void> | null = null;
  private lastPrune = Number.NEGATIVE_INFINITY;
  /** Failed database inserts (each a batch) and retention runs. */
  databaseFailures = 0;
  /** Records not stored in the database: failed batches and queue overflow (all in the file). */
  databaseRecordsLost = 0;
  /** Rows inserted into the database since start. */
  databaseRecordsStored = 0;

  constructor(private readonly options: AuditLogOptions) {
    this.clock = options.clock ?? systemClock;
    this.nodeId = options.nodeId ?? hostname();
  }

  /** Records accepted since start (written or summarised). */
  get recorded(): number {
    return this.total;
  }

  async start(): Promise<void> {
    const database = this.options.database;
    if (database && !database.started)
      throw new Error('audit log: the platform database is not started');
    if (this.fd !== null || this.options.path === null) return;
    this.file = resolve(this.options.path);
    try {
      mkdirSync(dirname(this.file), { recursive: true });
      this.fd = openSync(this.file, 'a', 0o640);
      this.bytes = fstatSync(this.fd).size;
    } catch (err) {
      throw new Error(`cannot open audit log '${this.file}': ${(err as Error).message}`, {
        cause: err,
      });
    }
    log.info({ path: this.file }, 'audit log open');
  }

  /** Appends one record (or counts it when over the rate limit). Never throws. */
  record(input: AuditInput): void {
    this.total++;
    const now = this.clock.now();
    if (now - this.windowStart >= 1_000) {
      this.windowStart = now;
      this.writtenInWindow = 0;
    }
    const limit = this.options.maxRecordsPerSecond ?? AUDIT_LOG_DEFAULTS.maxRecordsPerSecond;
    if (this.writtenInWindow >= limit) {
      this.suppressed++;
      if (!this.summaryTimer) {
        this.summaryTimer = setTimeout(() => this.flushSummary(), 1_000);
        this.summaryTimer.unref();
      }
      return;
    }
    this.writtenInWindow++;
    this.append({ time: new Date(now).toISOString(), ...clip(input) }, now);
  }

  /** The newest records, oldest first. */
  recent(): AuditRecord[] {
    return [...this.recentRecords];
  }

  async stop(): Promise<void> {
    if (this.summaryTimer) {
      clearTimeout(this.summaryTimer);
      this.summaryTimer = null;
    }
    this.flushSummary();
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
    await this.flushDatabase();
  }

  /**
   * Inserts what is queued now (and waits for a flush in flight); resolves when the queue was
   * empty at some point after the call. Never rejects.
   */
  async flushDatabase(): Promise<void> {
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = null;
    }
    while (this.flushing || this.queue.length > 0) {
      if (this.flushTimer) {
        clearTimeout(this.flushTimer);
        this.flushTimer = null;
      }
      await (this.flushing ?? this.runFlush());
    }
  }

  private flushSummary(): void {
    this.summaryTimer = null;
    if (this.suppressed === 0) return;
    const count = this.suppressed;
    this.suppressed = 0;
    const now = this.clock.now();
    this.append(
      {
        time: new Date(now).toISOString(),
        category: 'ingest',
        event: 'suppressed',
        reason: 'audit rate limit reached; records counted, not written',
        count,
      },
      now,
    );
  }

  private append(record: AuditRecord, at = this.clock.now()): void {
    this.recentRecords.push(record);
    if (this.recentRecords.length > AUDIT_LOG_DEFAULTS.recentLimit) this.recentRecords.shift();
    this.enqueue(record, at);
    if (this.fd === null) return;
    const line = Buffer.from(`${JSON.stringify(record)}\n`);
    const maxBytes = this.options.maxBytes ?? AUDIT_LOG_DEFAULTS.maxBytes;
    try {
      if (this.bytes > 0 && this.bytes + line.length > maxBytes) this.rotate();
      writeSync(this.fd, line);
      this.bytes += line.length;
    } catch (err) {
      log.error({ err, path: this.file }, 'audit log write failed');
    }
  }

  private enqueue(record: AuditRecord, at: number): void {
    if (!this.options.database) return;
    if (this.queue.length >= (this.options.maxQueued ?? AUDIT_LOG_DEFAULTS.maxQueued)) {
      this.databaseRecordsLost++;
      return;
    }
    this.queue.push(rowOf(record, at, this.nodeId));
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushTimer || this.flushing) return; // the flush in flight schedules the next
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      void this.runFlush();
    }, this.options.flushIntervalMs ?? AUDIT_LOG_DEFAULTS.flushIntervalMs);
    this.flushTimer.unref();
  }

  /** Starts a flush; the next is scheduled when it ends if records arrived meanwhile. */
  private runFlush(): Promise<void> {
    const run = this.insertQueued().then(() => {
      this.flushing = null;
      if (this.queue.length > 0 && this.options.database?.started) this.scheduleFlush();
    });
    this.flushing = run;
    return run;
  }

  /** One INSERT of the whole queue, then retention when due. Never rejects. */
  private async insertQueued(): Promise<void> {
    const database = this.options.database;
    // One statement for the queue, up to a size both engines take in one statement
    // (14 parameters a row; PostgreSQL allows 65 535 parameters, SQLite 32 766).
    const batch = this.queue.splice(0, AUDIT_LOG_DEFAULTS.maxBatch);
    if (!database || batch.length === 0) return;
    try {
      await database.db.insertInto('audit_records').values(batch).execute();
      this.databaseRecordsStored += batch.length;
    } catch (err) {
      this.databaseFailures++;
      this.databaseRecordsLost += batch.length;
      log.error(
        { err, records: batch.length, lost: this.databaseRecordsLost },
        'audit records not stored in the database (they are in the JSONL file)',
      );
      return;
    }
    await this.pruneIfDue(database);
  }

  /** Deletes rows past the retention time and beyond the newest `maxRows`. */
  private async pruneIfDue(database: Database): Promise<void> {
    const now = this.clock.now();
    if (now - this.lastPrune < (this.options.pruneIntervalMs ?? AUDIT_LOG_DEFAULTS.pruneIntervalMs))
      return;
    this.lastPrune = now;
    const retentionMs = this.options.retentionMs ?? AUDIT_LOG_DEFAULTS.retentionMs;
    const maxRows = this.options.maxRows ?? AUDIT_LOG_DEFAULTS.maxRows;
    try {
      const db = database.db;
      await db
        .deleteFrom('audit_records')
        .where('at', '<', now - retentionMs)
        .execute();
      // Ids only grow (identity / AUTOINCREMENT); gaps only make this keep fewer rows.
      const newest = await db
        .selectFrom('audit_records')
        .select((eb) => eb.fn.max('id').as('id'))
        .executeTakeFirst();
      const maxId = newest?.id === null || newest?.id === undefined ? 0 : Number(newest.id);
      if (maxId > maxRows) {
        const cut = await db
          .deleteFrom('audit_records')
          .where('id', '<=', maxId - maxRows)
          .execute();
        const deleted = Number(cut[0]?.numDeletedRows ?? 0);
        if (deleted > 0)
          log.warn({ deleted, maxRows }, 'audit table over its row bound: oldest rows deleted');
      }
    } catch (err) {
      this.databaseFailures++;
      log.error({ err }, 'audit retention failed (retried at the next flush after the interval)');
    }
  }

  /** `<path>` → `<path>.1` (replacing it), then a new `<path>`. */
  private rotate(): void {
    closeSync(this.fd!);
    this.fd = null;
    renameSync(this.file, `${this.file}.1`);
    this.fd = openSync(this.file, 'a', 0o640);
    this.bytes = 0;
  }
}

function clip(input: AuditInput): AuditInput {
  const max = AUDIT_LOG_DEFAULTS.maxFieldChars;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input)) {
    if (value === undefined) continue;
    out[key] = typeof value === 'string' && value.length > max ? `${value.slice(0, max)}…` : value;
  }
  return out as unknown as AuditInput;
}
