/**
 * Moves a single plant's embedded state into a cluster: every platform table of an embedded
 * SQLite file (the server's `store.path`) copied into a PostgreSQL database, row for row, with
 * the same identity values (the hash chains are keyed on `seq`), in ONE transaction on the target
 * (all or nothing). The command line is server/db/copy.ts; docs/cluster.md "Moving a plant into
 * a cluster".
 *
 * Steps: the embedded upgrade of a file the layer has not adopted yet (embedded-upgrade.ts) and both databases started (so both are at
 * the latest migration); both chains verified on the source (a wrong key or a damaged chain is
 * refused before anything is written); the target's tables locked and found empty (never a
 * merge); each table copied in rowid order, in batches; each identity column restarted past the
 * copied maximum (and past SQLite's AUTOINCREMENT high-water mark, so no number is ever reused);
 * row counts compared before the commit; after it, both chains verified on the target and their
 * heads compared with the source's.
 *
 * The source is read inside one SQLite read transaction: one snapshot, whatever else touches
 * the file. That transaction awaits PostgreSQL while open, which database.ts forbids for a
 * server process (its telemetry store shares the connection's file); this process has no other
 * connection to it. The server that owns the file must be stopped: what it writes after the
 * snapshot would not be copied.
 */
import { existsSync } from 'node:fs';
import { type Kysely, sql, type Transaction } from 'kysely';
import { DisposalLedger } from '../alarms/disposal.js';
import type { ChainHead } from '../alarms/hash-chain.js';
import { SupervisionStore } from '../supervision/store.js';
import { Database } from './database.js';
import { upgradeEmbeddedFile } from './embedded-upgrade.js';
import type { PlatformSchema } from './schema.js';

/**
 * Tables copied, in this order. There are no foreign keys today (checked against the target's
 * catalog at run time all the same); registry first, then what refers to it by value.
 */
export const COPIED_TABLES = [
  'registry_enterprises',
  'registry_installations',
  'registry_gateways',
  'registry_sensors',
  'alarms',
  'alarm_events',
  'disposal_events',
  'alarm_dispositions',
  'linkage_deliveries',
  'linkage_followups',
  'linkage_mqtt',
  'linkage_mqtt_receipts',
  'hazard_events',
  'hazards',
  'supervision_conditions',
  'supervision_grade_history',
  'supervision_outages',
  'fleet_tokens',
  'fleet_gateways',
  'fleet_versions',
  'fleet_status',
  'platform_sessions',
  'audit_records',
] as const satisfies readonly (keyof PlatformSchema)[];

/** Coordination state of a running cluster: rebuilt by its nodes, never copied (but checked empty). */
export const CLUSTER_ONLY_TABLES = [
  'delivery_claims',
  'leader_leases',
  'gateway_presence',
] as const satisfies readonly (keyof PlatformSchema)[];

// A table added to PlatformSchema and to neither list above fails to compile here, by name.
type Unlisted = Exclude<
  keyof PlatformSchema,
  (typeof COPIED_TABLES)[number] | (typeof CLUSTER_ONLY_TABLES)[number]
>;
const everyTableListed: [Unlisted] extends [never] ? true : Unlisted = true;
void everyTableListed;

/** Kysely's own bookkeeping: each database keeps its own. */
const MIGRATION_TABLES = ['kysely_migration', 'kysely_migration_lock'];

export const COPY_DEFAULTS = {
  batchRows: 500, // rows per INSERT: 500 × 14 columns stays far under PostgreSQL's 65,535 parameters
} as const;

export interface CopyOptions {
  /** The embedded SQLite file (the server's store.path). */
  from: string;
  /** postgres://… of the target. */
  to: string;
  /** The chain key of the plant (ledger-key.ts), needed by the upgrade and the verifications. */
  ledgerKey: Buffer;
  batchRows?: number;
}

export interface TableCopy {
  table: string;
  /** Rows in the source snapshot. */
  source: number;
  /** Rows counted on the target inside the copy's transaction. */
  target: number;
  /** The identity column restarted, and the next value it gives. */
  identity: { column: string; next: number } | null;
}

export interface ChainCheck {
  rows: number;
  head: ChainHead | null;
}

export interface CopyReport {
  from: string;
  /** The target URL without its password. */
  to: string;
  /** Components the embedded upgrade brought up to date (usually none). */
  upgraded: string[];
  tables: TableCopy[];
  disposal: ChainCheck;
  hazard: ChainCheck;
}

/** A copy refused before anything was written: a non-empty target, a broken source chain. */
export class CopyRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CopyRefusedError';
  }
}

type Row = Record<string, unknown>;
type AnyDb = Kysely<Record<string, Row>>;

const ROWID = '__copy_rowid';

async function verifyChains(database: Database, key: Buffer, where: string) {
  const disposal = new DisposalLedger({ database, key });
  const hazard = new SupervisionStore({ database, key });
  await disposal.start();
  await hazard.start();
  try {
    const checks = { disposal: await disposal.verify(), hazard: await hazard.verify() };
    for (const [name, r] of Object.entries(checks)) {
      if (!r.ok) {
        throw new CopyRefusedError(
          `the ${name} chain does not verify on ${where} at row ${r.brokenAt}: ${r.reason}`,
        );
      }
    }
    return {
      disposal: { rows: checks.disposal.rows, head: checks.disposal.head },
      hazard: { rows: checks.hazard.rows, head: checks.hazard.head },
    };
  } finally {
    await hazard.stop();
    await disposal.stop();
  }
}

/** Tables of the target that already hold rows, each with its count. */
async function occupiedTables(db: Kysely<PlatformSchema>): Promise<string[]> {
  const occupied: string[] = [];
  for (const table of [...COPIED_TABLES, ...CLUSTER_ONLY_TABLES]) {
    const { rows } = await sql<{ n: number }>`SELECT count(*)::bigint AS n FROM ${sql.table(
      table,
    )}`.execute(db);
    const n = Number(rows[0]?.n ?? 0);
    if (n > 0) occupied.push(`${table} (${n} rows)`);
  }
  return occupied;
}

function refuseOccupied(occupied: string[], to: string): void {
  if (occupied.length > 0) {
    throw new CopyRefusedError(
      `target '${to}' already holds platform rows in ${occupied.join(', ')}; the copy never merges: give it an empty database`,
    );
  }
}

interface TargetColumns {
  columns: Map<string, string[]>;
  /** table → column that is an identity (or serial) column. */
  identities: Map<string, { column: string; serial: boolean }>;
}

/** The target's catalog: every table is known to this tool, no foreign key points forward. */
async function readTargetCatalog(db: Kysely<PlatformSchema>): Promise<TargetColumns> {
  const { rows } = await sql<{
    table_name: string;
    column_name: string;
    is_identity: string;
    column_default: string | null;
  }>`SELECT table_name, column_name, is_identity, column_default
       FROM information_schema.columns
      WHERE table_schema = current_schema()
      ORDER BY table_name, ordinal_position`.execute(db);
  const known = new Set<string>([...COPIED_TABLES, ...CLUSTER_ONLY_TABLES, ...MIGRATION_TABLES]);
  const columns = new Map<string, string[]>();
  const identities = new Map<string, { column: string; serial: boolean }>();
  for (const r of rows) {
    if (!known.has(r.table_name)) {
      throw new CopyRefusedError(
        `target has table '${r.table_name}', which this copy tool does not know: use the copy tool of the release that made it`,
      );
    }
    columns.set(r.table_name, [...(columns.get(r.table_name) ?? []), r.column_name]);
    if (r.is_identity === 'YES')
      identities.set(r.table_name, { column: r.column_name, serial: false });
    else if (r.column_default?.startsWith('nextval(')) {
      identities.set(r.table_name, { column: r.column_name, serial: true });
    }
  }
  const { rows: fks } = await sql<{ child: string; parent: string }>`
    SELECT c.conrelid::regclass::text AS child, c.confrelid::regclass::text AS parent
      FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
     WHERE c.contype = 'f' AND n.nspname = current_schema()`.execute(db);
  const order = (t: string) => (COPIED_TABLES as readonly string[]).indexOf(t);
  for (const fk of fks) {
    if (order(fk.parent) > order(fk.child)) {
      throw new Error(
        `copy order: '${fk.child}' refers to '${fk.parent}', which is copied after it (COPIED_TABLES in server/db/platform-copy.ts)`,
      );
    }
  }
  return { columns, identities };
}

async function sourceColumns(src: Kysely<PlatformSchema>, table: string): Promise<string[]> {
  const { rows } = await sql<{
    name: string;
  }>`SELECT name FROM pragma_table_info(${table})`.execute(src);
  return rows.map((r) => r.name);
}

function sameColumns(table: string, source: string[], target: string[]): void {
  const onlySource = source.filter((c) => !target.includes(c));
  const onlyTarget = target.filter((c) => !source.includes(c));
  if (onlySource.length > 0 || onlyTarget.length > 0) {
    throw new CopyRefusedError(
      `table '${table}': columns differ (only in the embedded file: ${onlySource.join(', ') || 'none'}; only in PostgreSQL: ${onlyTarget.join(', ') || 'none'})`,
    );
  }
}

/** SQLite's AUTOINCREMENT high-water mark of `table` (deleted rows included), 0 when none. */
async function sqliteSequence(src: Kysely<PlatformSchema>, table: string): Promise<number> {
  const exists = await sql<{ n: number }>`SELECT count(*) AS n FROM sqlite_master
    WHERE type = 'table' AND name = 'sqlite_sequence'`.execute(src);
  if (!exists.rows[0]?.n) return 0;
  const { rows } = await sql<{ seq: number }>`SELECT seq FROM sqlite_sequence
    WHERE name = ${table}`.execute(src);
  return rows[0]?.seq ?? 0;
}

async function copyTable(
  src: Transaction<PlatformSchema>,
  trx: Transaction<PlatformSchema>,
  table: string,
  columns: string[],
  batchRows: number,
): Promise<number> {
  const select = sql.join(columns.map((c) => sql.ref(c)));
  let last = 0;
  let copied = 0;
  for (;;) {
    const { rows } = await sql<Row>`SELECT rowid AS ${sql.ref(ROWID)}, ${select}
      FROM ${sql.table(table)} WHERE rowid > ${last} ORDER BY rowid LIMIT ${batchRows}`.execute(
      src,
    );
    if (rows.length === 0) return copied;
    const after = last;
    last = rows.at(-1)![ROWID] as number;
    const values = rows.map(({ [ROWID]: _, ...rest }) => rest);
    try {
      await (trx as unknown as AnyDb).insertInto(table).values(values).execute();
    } catch (err) {
      throw new Error(
        `table '${table}': the rows after rowid ${after}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    copied += rows.length;
  }
}

/** Moves the identity of `table` past every number the embedded file used; returns the next. */
async function restartIdentity(
  src: Transaction<PlatformSchema>,
  trx: Transaction<PlatformSchema>,
  table: string,
  identity: { column: string; serial: boolean },
): Promise<number | null> {
  const { rows } = await sql<{ m: number | null }>`SELECT max(${sql.ref(identity.column)}) AS m
    FROM ${sql.table(table)}`.execute(trx);
  const used = Math.max(Number(rows[0]?.m ?? 0), await sqliteSequence(src, table));
  if (used === 0) return null;
  const next = used + 1;
  if (!Number.isSafeInteger(next)) throw new Error(`table '${table}': identity ${used} too large`);
  if (identity.serial) {
    // setval is not transactional; the table is empty if the copy rolls back, so harmless.
    await sql`SELECT setval(pg_get_serial_sequence(${table}, ${identity.column}), ${used})`.execute(
      trx,
    );
  } else {
    // ALTER … RESTART is transactional: a copy that rolls back leaves the identity as it was.
    await sql`ALTER TABLE ${sql.table(table)} ALTER COLUMN ${sql.ref(identity.column)}
      RESTART WITH ${sql.lit(next)}`.execute(trx);
  }
  return next;
}

function sameHead(name: string, source: ChainCheck, target: ChainCheck): void {
  if (
    source.rows !== target.rows ||
    source.head?.seq !== target.head?.seq ||
    source.head?.hash !== target.head?.hash
  ) {
    throw new Error(
      `the ${name} chain differs after the copy: source ${source.rows} rows head ${source.head?.seq ?? 'none'}, target ${target.rows} rows head ${target.head?.seq ?? 'none'}`,
    );
  }
}

/**
 * Copies the embedded file `from` into the empty PostgreSQL database `to`. Throws
 * CopyRefusedError when it wrote nothing on purpose, another Error when something failed (the
 * target is then as it was, except when the last verification fails after the commit: the
 * message says so).
 */
export async function copyPlatform(options: CopyOptions): Promise<CopyReport> {
  const batchRows = options.batchRows ?? COPY_DEFAULTS.batchRows;
  // Opening a missing file would create an empty one and copy nothing.
  if (!existsSync(options.from)) {
    throw new CopyRefusedError(`the embedded file '${options.from}' does not exist`);
  }
  // A file the layer already adopted is left as it is (embedded-upgrade.ts checks).
  const upgraded = upgradeEmbeddedFile(options.from, options.ledgerKey);
  const source = new Database({ kind: 'sqlite', path: options.from });
  const target = new Database({
    kind: 'postgres',
    url: options.to,
    poolSize: 2,
    applicationName: 'hazardwatch/copy',
  });
  try {
    await source.start();
    await target.start();
    refuseOccupied(await occupiedTables(target.db), target.where);
    const catalog = await readTargetCatalog(target.db);
    const before = await verifyChains(
      source,
      options.ledgerKey,
      `the embedded file '${options.from}'`,
    );

    const tables = await source.db.transaction().execute((src) =>
      target.db.transaction().execute(async (trx) => {
        const all = [...COPIED_TABLES, ...CLUSTER_ONLY_TABLES].map((t) => sql.table(t));
        await sql`LOCK TABLE ${sql.join(all)} IN EXCLUSIVE MODE`.execute(trx);
        refuseOccupied(await occupiedTables(trx), target.where);
        const done: TableCopy[] = [];
        for (const table of COPIED_TABLES) {
          const columns = catalog.columns.get(table) ?? [];
          sameColumns(table, await sourceColumns(src, table), columns);
          const copied = await copyTable(src, trx, table, columns, batchRows);
          const identity = catalog.identities.get(table);
          const next = identity ? await restartIdentity(src, trx, table, identity) : null;
          const { rows: s } = await sql<{ n: number }>`SELECT count(*) AS n FROM ${sql.table(
            table,
          )}`.execute(src);
          const { rows: t } = await sql<{
            n: number;
          }>`SELECT count(*)::bigint AS n FROM ${sql.table(table)}`.execute(trx);
          const counts = { source: Number(s[0]?.n), copied, target: Number(t[0]?.n) };
          if (counts.source !== counts.copied || counts.copied !== counts.target) {
            throw new Error(
              `table '${table}': ${counts.source} rows in the embedded file, ${counts.copied} read, ${counts.target} on the target; nothing was committed`,
            );
          }
          done.push({
            table,
            source: counts.source,
            target: counts.target,
            identity: identity && next !== null ? { column: identity.column, next } : null,
          });
        }
        return done;
      }),
    );

    let after: Awaited<ReturnType<typeof verifyChains>>;
    try {
      after = await verifyChains(target, options.ledgerKey, `the target '${target.where}'`);
      sameHead('disposal', before.disposal, after.disposal);
      sameHead('hazard', before.hazard, after.hazard);
    } catch (err) {
      throw new Error(
        `the copy was committed, but its check failed: ${(err as Error).message}; do not start nodes on '${target.where}' before this is understood`,
        { cause: err },
      );
    }
    return { from: options.from, to: target.where, upgraded, tables, ...after };
  } finally {
    await target.stop();
    await source.stop();
  }
}
