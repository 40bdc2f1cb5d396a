/**
 * Opens a better-sqlite3 database the way every server table expects it.
 *
 * Durability choice: WAL journal with `synchronous = NORMAL`. A committed
 * transaction is in the WAL before the call returns, so it survives a crash of
 * this process; only a power loss or OS crash can lose the transactions since
 * the last WAL checkpoint (SQLite docs, "PRAGMA synchronous": NORMAL in WAL mode
 * is "consistent" but may roll back recent commits after power loss). That
 * trade buys roughly an order of magnitude in commit rate (no fsync per batch),
 * which the ~100k readings/s target needs. Pass `synchronous: 'FULL'` where a
 * power cut must not lose an acknowledged batch.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';

export type SqliteDatabase = Database.Database;
export type SynchronousMode = 'NORMAL' | 'FULL';

export const SQLITE_DEFAULTS = {
  synchronous: 'NORMAL' as SynchronousMode, // see the durability note above
  busyTimeoutMs: 5_000, // 5 s: other handles on the same file (ledger, notifier) may hold the write lock
} as const;

export interface OpenOptions {
  synchronous?: SynchronousMode;
}

export function isMemoryPath(path: string): boolean {
  return path === ':memory:';
}

/** Opens (creating the directory if needed) and sets WAL, synchronous and busy timeout. */
export function openDatabase(path: string, options: OpenOptions = {}): SqliteDatabase {
  const file = isMemoryPath(path) ? path : resolve(path);
  if (!isMemoryPath(path)) mkdirSync(dirname(file), { recursive: true });
  let db: SqliteDatabase;
  try {
    db = new Database(file, { timeout: SQLITE_DEFAULTS.busyTimeoutMs });
  } catch (err) {
    throw new Error(`cannot open SQLite database '${file}': ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (!isMemoryPath(path)) db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${options.synchronous ?? SQLITE_DEFAULTS.synchronous}`);
  return db;
}

/**
 * Opens the database (as `openDatabase`) and prepares it: runs `setup` (a schema
 * script, or a function that also prepares statements or seeds rows). If setup
 * throws, the handle is closed and the error is rethrown as
 * `cannot prepare ${what}` with the original as `cause`; `what` names the
 * component and quotes its path, e.g. `alarm ledger '/data/alarms.db'`.
 */
export function openWithSchema(
  path: string,
  options: OpenOptions,
  setup: string | ((db: SqliteDatabase) => void),
  what: string,
): SqliteDatabase {
  const db = openDatabase(path, options);
  try {
    if (typeof setup === 'string') db.exec(setup);
    else setup(db);
  } catch (err) {
    db.close();
    throw new Error(`cannot prepare ${what}`, { cause: err });
  }
  return db;
}
