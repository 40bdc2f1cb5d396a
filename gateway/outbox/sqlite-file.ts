/**
 * The outbox's SQLite file: its schema, its prepared statements, reading back
 * what it holds, and its self-healing (issue 13): a file SQLite reports as
 * corrupt, at open or later, is moved aside and replaced by a fresh one. The
 * Outbox (outbox.ts) keeps the index and the policy.
 */
import { close, fdatasync, mkdirSync, open, statfsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { Clock } from '../../common/clock.js';
import { createLogger } from '../../common/logger.js';
import { isCorruption, moveAside, type OutboxStorageFault } from './storage-fault.js';

const log = createLogger('gateway.outbox');

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS items (
  seq        INTEGER PRIMARY KEY,  -- gateway sequence number, also inside the payload
  lane       INTEGER NOT NULL,     -- 0 alarm, 1 telemetry
  readings   INTEGER NOT NULL,     -- readings in a telemetry batch, 0 for an alarm
  created_at INTEGER NOT NULL,     -- epoch ms
  payload    TEXT NOT NULL         -- the MQTT payload exactly as sent (JSON)
);
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value INTEGER NOT NULL           -- numbers; 'epoch' holds text (SQLite keeps it as text)
);
CREATE TABLE IF NOT EXISTS quarantine (
  seq            INTEGER PRIMARY KEY,
  lane           INTEGER NOT NULL,
  created_at     INTEGER NOT NULL,
  quarantined_at INTEGER NOT NULL,
  reason         TEXT NOT NULL,
  payload        BLOB               -- as found, for forensics
);
`;

export interface ItemRow {
  seq: number;
  lane: number;
  readings: number;
  created_at: number;
  bytes: number;
}

/** Opens (creating) the file with the outbox's pragmas and schema; closes it again on failure. */
export function openOutboxDb(path: string, durable: boolean): Database.Database {
  if (durable) mkdirSync(dirname(resolve(path)), { recursive: true });
  const db = new Database(durable ? resolve(path) : path);
  try {
    if (durable) db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec(SCHEMA);
  } catch (err) {
    if (db.open) db.close();
    throw err;
  }
  return db;
}

export function prepareStatements(db: Database.Database) {
  return {
    insert: db.prepare(
      'INSERT INTO items (seq, lane, readings, created_at, payload) VALUES (?, ?, ?, ?, ?)',
    ),
    payload: db.prepare<[number], string>('SELECT payload FROM items WHERE seq = ?').pluck(),
    remove: db.prepare('DELETE FROM items WHERE seq = ?'),
    setMeta: db.prepare(
      'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
    ),
    quarantine: db.prepare(
      'INSERT OR REPLACE INTO quarantine (seq, lane, created_at, quarantined_at, reason, payload) VALUES (?, ?, ?, ?, ?, ?)',
    ),
  };
}

export type OutboxStatements = ReturnType<typeof prepareStatements>;

/** Everything the file holds but the payloads: meta values and one row per item, in seq order. */
export function readOutboxFile(db: Database.Database): {
  meta: Map<string, number | string>;
  rows: ItemRow[];
} {
  const meta = new Map(
    db
      .prepare<[], { key: string; value: number | string }>('SELECT key, value FROM meta')
      .all()
      .map((r) => [r.key, r.value]),
  );
  // length() of the payload reads every page of the table: corruption shows here, at open.
  const rows = db
    .prepare<[], ItemRow>(
      'SELECT seq, lane, readings, created_at, length(CAST(payload AS BLOB)) AS bytes FROM items ORDER BY seq',
    )
    .all();
  return { meta, rows };
}

/**
 * fdatasync of a file in libuv's thread pool: the event loop keeps running while
 * the disk works. Every write to the file before the call is durable when
 * `done(null)` runs, whichever descriptor wrote it (the pages belong to the inode).
 */
export function syncFileInBackground(path: string, done: (err: Error | null) => void): void {
  open(path, 'r+', (openErr, fd) => {
    if (openErr) {
      done(openErr);
      return;
    }
    fdatasync(fd, (syncErr) => close(fd, () => done(syncErr)));
  });
}

/** Free bytes on the file's disk, or null when statfs cannot tell (advisory only). */
export function freeBytes(path: string): number | null {
  try {
    const fs = statfsSync(dirname(resolve(path)));
    return fs.bavail * fs.bsize;
  } catch {
    return null;
  }
}

export interface OutboxFileOptions {
  path: string;
  clock: Clock;
  /** Reads the index from a (re)opened file; throwing fails the open. */
  load(db: Database.Database, statements: OutboxStatements): void;
  /** Told after a corrupt file was moved aside and a fresh one opened. */
  fault(fault: OutboxStorageFault): void;
}

/**
 * Lifecycle: `open()` opens (or heals and reopens) the file; `close()` closes
 * it, safe twice. `healing(fn)` runs one operation and heals the file if SQLite
 * reports corruption on the way.
 */
export class OutboxFile {
  private db: Database.Database | null = null;
  private statements: OutboxStatements | null = null;
  /** Corrupt files moved aside since start. */
  storageFaults = 0;

  constructor(private readonly options: OutboxFileOptions) {}

  get durable(): boolean {
    return this.options.path !== ':memory:';
  }

  get isOpen(): boolean {
    return this.db !== null;
  }

  /**
   * Opens the file; a file SQLite reports as corrupt is moved aside and a fresh
   * one opened. Other failures (permissions, a missing disk) throw, naming the file.
   */
  open(): void {
    if (this.db) return;
    try {
      this.openOnce();
    } catch (err) {
      if (!this.durable || !isCorruption(err)) throw err;
      const fault = this.moveAside(err);
      this.openOnce();
      this.options.fault(fault);
    }
  }

  close(): void {
    const db = this.db;
    this.db = null;
    this.statements = null;
    if (db?.open) db.close();
  }

  /**
   * Runs `fn`; when SQLite reports corruption, moves the file aside, opens a
   * fresh one and then runs `fn` once more on it (`retry`) or returns `fallback()`.
   */
  healing<T>(fn: () => T, retry: boolean, fallback: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (!this.durable || !isCorruption(err) || !this.db) throw err;
      const fault = this.moveAside(err);
      this.openOnce();
      this.options.fault(fault);
      return retry ? fn() : fallback();
    }
  }

  /** Runs `fn` with `synchronous = FULL` (the commit is fsynced before it returns). */
  withFullSync(fn: () => void): void {
    const db = this.requireDb();
    if (!this.durable) {
      fn();
      return;
    }
    db.pragma('synchronous = FULL');
    try {
      fn();
    } finally {
      db.pragma('synchronous = NORMAL');
    }
  }

  /** The WAL file of the outbox (where NORMAL commits wait for their fsync). */
  get walPath(): string {
    return `${resolve(this.options.path)}-wal`;
  }

  requireDb(): Database.Database {
    if (!this.db) throw new Error(`uplink outbox '${this.options.path}' is not open`);
    return this.db;
  }

  requireStatements(): OutboxStatements {
    if (!this.statements) throw new Error(`uplink outbox '${this.options.path}' is not open`);
    return this.statements;
  }

  private openOnce(): void {
    const path = this.options.path;
    let db: Database.Database | undefined;
    try {
      db = openOutboxDb(path, this.durable);
      this.db = db;
      this.statements = prepareStatements(db);
      this.options.load(db, this.statements);
    } catch (err) {
      this.db = null;
      this.statements = null;
      if (db?.open) db.close();
      // The SQLite code stays on the error: it decides whether to heal.
      throw Object.assign(
        new Error(`cannot open uplink outbox '${path}': ${(err as Error).message}`, {
          cause: err,
        }),
        { code: (err as { code?: unknown }).code },
      );
    }
  }

  /** Closes the handle and moves the file aside; the caller opens a fresh one. */
  private moveAside(err: unknown): OutboxStorageFault {
    const db = this.db;
    this.db = null;
    this.statements = null;
    try {
      if (db?.open) db.close();
    } catch {
      // A corrupt file may refuse a clean close; the rename below is what matters.
    }
    const at = this.options.clock.now();
    const path = resolve(this.options.path);
    const movedTo = moveAside(path, at);
    this.storageFaults++;
    const error = `${(err as { code?: string }).code ?? 'error'}: ${(err as Error).message}`;
    log.error(
      { path, movedTo, err: error },
      `uplink outbox '${path}' is corrupt: moved to '${movedTo}', starting with a fresh outbox`,
    );
    return { path, movedTo, error, at };
  }
}
