/**
 * The few places where one migration cannot be one Kysely statement for both engines, kept
 * here so the migrations themselves read the same for SQLite and PostgreSQL:
 * - an auto-numbered key: SQLite's `INTEGER PRIMARY KEY AUTOINCREMENT` (never reuses a number,
 *   as the stores had it) vs a PostgreSQL identity column;
 * - append-only tables: triggers, whose bodies are engine-specific;
 * - integers that hold epoch milliseconds: BIGINT (SQLite gives any INT type 64-bit storage).
 */
import { type Kysely, PostgresAdapter, SqliteAdapter, sql } from 'kysely';

export type Dialect = 'sqlite' | 'postgres';

// biome-ignore lint/suspicious/noExplicitAny: migrations are written against the database as it is then, not today's schema (Kysely's advice).
export type MigrationDb = Kysely<any>;

export function dialectOf(db: MigrationDb): Dialect {
  const adapter = db.getExecutor().adapter;
  if (adapter instanceof PostgresAdapter) return 'postgres';
  if (adapter instanceof SqliteAdapter) return 'sqlite';
  throw new Error(`database layer: unsupported Kysely adapter '${adapter.constructor.name}'`);
}

/** Epoch milliseconds and sequence numbers: 64-bit on both engines. */
export const BIGINT = 'bigint' as const;
/** Measured values: REAL in SQLite, double precision in PostgreSQL (both IEEE 754 doubles). */
export const DOUBLE = 'double precision' as const;

type TableBuilder = ReturnType<MigrationDb['schema']['createTable']>;

/**
 * CREATE TABLE IF NOT EXISTS `table` with an auto-numbered primary key `idColumn` first (never
 * reusing a number), then `columns`.
 */
export async function createTableWithAutoId(
  db: MigrationDb,
  table: string,
  idColumn: string,
  columns: (t: TableBuilder) => TableBuilder,
): Promise<void> {
  const base = db.schema.createTable(table).ifNotExists();
  const withId =
    dialectOf(db) === 'sqlite'
      ? // Exactly `INTEGER PRIMARY KEY` makes it the rowid; AUTOINCREMENT forbids reuse after delete.
        base.addColumn(idColumn, 'integer', (c) => c.primaryKey().autoIncrement())
      : // BY DEFAULT (not ALWAYS) so rows copied from an embedded file keep their numbers.
        base.addColumn(idColumn, BIGINT, (c) => c.primaryKey().generatedByDefaultAsIdentity());
  await columns(withId).execute();
}

/**
 * Makes `table` refuse UPDATE and DELETE (and, on PostgreSQL, TRUNCATE, which skips row
 * triggers), with the message the embedded stores used: "<table> is append-only". Trigger names
 * are the stores' own (`<table>_no_update`, `<table>_no_delete`), so an adopted file keeps its.
 */
export async function makeAppendOnly(
  db: MigrationDb,
  dialect: Dialect,
  table: string,
): Promise<void> {
  if (!/^[a-z_]+$/.test(table)) throw new Error(`makeAppendOnly: bad table name '${table}'`);
  const t = sql.raw(table);
  if (dialect === 'sqlite') {
    for (const [suffix, op] of [
      ['no_update', 'UPDATE'],
      ['no_delete', 'DELETE'],
    ] as const) {
      await sql`CREATE TRIGGER IF NOT EXISTS ${sql.raw(`${table}_${suffix}`)} BEFORE ${sql.raw(op)} ON ${t}
        BEGIN SELECT RAISE(ABORT, ${sql.lit(`${table} is append-only`)}); END`.execute(db);
    }
    return;
  }
  await sql`CREATE OR REPLACE FUNCTION hazardwatch_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
    END $$`.execute(db);
  for (const [suffix, op, level] of [
    ['no_update', 'UPDATE', 'ROW'],
    ['no_delete', 'DELETE', 'ROW'],
    ['no_truncate', 'TRUNCATE', 'STATEMENT'],
  ] as const) {
    await sql`CREATE OR REPLACE TRIGGER ${sql.raw(`${table}_${suffix}`)} BEFORE ${sql.raw(op)} ON ${t}
      FOR EACH ${sql.raw(level)} EXECUTE FUNCTION hazardwatch_append_only()`.execute(db);
  }
}
