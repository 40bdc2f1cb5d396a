/**
 * The one keyed hash-chain machinery of the server, used by both chained ledgers (the disposal
 * ledger, server/alarms/disposal.ts, and the hazard ledger, server/supervision/store.ts): how a
 * row is appended after the head and how the chain is walked to verify it. Each ledger brings
 * its table, its link function (the fields it hashes) and its projection; the rules here are
 * the same for both (docs/ledger.md):
 * - seqs are contiguous from 1; row n's prev_hash is row n-1's hash (64 zeros for row 1);
 * - hash = HMAC-SHA256(key, prev_hash ‖ canonical JSON of the row), recomputed by verify.
 *
 * Cluster safety: several nodes append to one chain in one PostgreSQL database. Reading the
 * head and inserting after it is a read-modify-write: two nodes reading the same head would
 * both write seq n+1 (one then fails on the key, or, without the key, the chain forks). Every
 * write transaction of a chain therefore takes the chain's transaction-scoped advisory lock
 * FIRST ({@link lockChain}), before it reads anything it decides on (the head, the projection),
 * so the appends of all nodes are serialised and each reads the head the previous one committed
 * (READ COMMITTED takes a new snapshot per statement). On SQLite one Database per process holds
 * one connection and Kysely runs one transaction at a time on it: the transaction suffices.
 */
import { sql, type Transaction } from 'kysely';
import type { Database } from '../db/database.js';
import type { PlatformSchema } from '../db/schema.js';
import { GENESIS_HASH } from './disposal-chain.js';

/** The chain head: what anchors record. */
export interface ChainHead {
  seq: number;
  hash: string;
}

/** A chained table: `seq` and `hash` columns, and the lock that serialises its appends. */
export interface ChainSpec {
  table: 'disposal_events' | 'hazard_events';
  /**
   * pg_advisory_xact_lock key of this chain, one constant per chain and never reused for
   * anything else (the leader election and Kysely's migration lock use their own).
   */
  lockKey: number;
}

export type Tx = Transaction<PlatformSchema>;
type Executor = Database['db'] | Tx;

/**
 * Serialises writers of the chain across nodes until the transaction ends (PostgreSQL); a no-op
 * on SQLite, where the transaction already holds the only connection. Call it first.
 */
export async function lockChain(trx: Tx, kind: Database['kind'], spec: ChainSpec): Promise<void> {
  if (kind !== 'postgres') return;
  await sql`SELECT pg_advisory_xact_lock(${sql.lit(spec.lockKey)})`.execute(trx);
}

/** Attempts of one write transaction on SQLite before its 'database is locked' is passed on. */
export const SQLITE_WRITE_ATTEMPTS = 5;

/** SQLITE_BUSY and its extended codes (SQLITE_BUSY_SNAPSHOT, ...), as better-sqlite3 names them. */
function isSqliteBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

/**
 * One write transaction of a chain: the chain lock first (PostgreSQL), then `fn`.
 *
 * SQLite, while another connection commits to the same file: the embedded server's platform
 * state is one Database (one connection), but the enrolment CLI (server/fleet/enrol-token.ts)
 * writes tokens into the running server's file from its own process. A Kysely transaction runs
 * its statements across microtasks; a commit by that process between this transaction's first
 * read and its first write makes its snapshot stale, so that write fails at once with
 * SQLITE_BUSY_SNAPSHOT ("database is locked", no busy timeout waits it out), rolled back whole.
 * Running the transaction again (a few times) succeeds: tests/db/chain-foreign-writer.test.ts.
 * (Kysely's SQLite driver begins deferred; BEGIN IMMEDIATE would avoid the stale snapshot but
 * stall this thread in the busy handler whenever the other process holds the write lock.)
 * The other connection in this process on the same file, the telemetry store
 * (server/store/sqlite-store.ts), commits in setImmediate, never between the microtasks of a
 * transaction that awaits only its queries, so it does not reach this retry.
 */
export async function chainTransaction<T>(
  database: Database,
  spec: ChainSpec | null,
  fn: (trx: Tx) => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await database.db.transaction().execute(async (trx) => {
        if (spec) await lockChain(trx, database.kind, spec);
        return fn(trx);
      });
    } catch (err) {
      if (database.kind !== 'sqlite' || !isSqliteBusy(err) || attempt >= SQLITE_WRITE_ATTEMPTS) {
        throw err;
      }
    }
  }
}

/** The newest row's (seq, hash); null while the chain is empty. */
export async function chainHead(db: Executor, spec: ChainSpec): Promise<ChainHead | null> {
  const row = await (db as Database['db'])
    .selectFrom(spec.table as 'disposal_events')
    .select(['seq', 'hash'])
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row ?? null;
}

/** The hash recorded at `seq`, or undefined when there is no such row. */
export async function chainHashAt(
  db: Executor,
  spec: ChainSpec,
  seq: number,
): Promise<string | undefined> {
  const row = await (db as Database['db'])
    .selectFrom(spec.table as 'disposal_events')
    .select('hash')
    .where('seq', '=', seq)
    .executeTakeFirst();
  return row?.hash;
}

/** What a ledger hands {@link appendLink}: its row for a given seq, its link, its insert. */
export interface LinkWriter<R> {
  /** The row to chain as `seq` (the detail already round-tripped through JSON). */
  build(seq: number): R;
  /** The keyed link of the row after `prevHash`. */
  link(prevHash: string, row: R): string;
  /** Inserts the row with its hashes. */
  insert(trx: Tx, row: R, prevHash: string, hash: string): Promise<void>;
}

/**
 * Appends one row after the head, inside the caller's transaction, which must have taken
 * {@link lockChain} first. `seq` forces the row's number (the version-1 replay keeps its seqs).
 */
export async function appendLink<R>(
  trx: Tx,
  spec: ChainSpec,
  writer: LinkWriter<R>,
  seq?: number,
): Promise<{ row: R; prevHash: string; hash: string }> {
  const head = await chainHead(trx, spec);
  const prevHash = head?.hash ?? GENESIS_HASH;
  const row = writer.build(seq ?? (head?.seq ?? 0) + 1);
  const hash = writer.link(prevHash, row);
  await writer.insert(trx, row, prevHash, hash);
  return { row, prevHash, hash };
}

/** Rows of a chain read per query while walking it (keyset pages by seq). */
export const CHAIN_PAGE_ROWS = 1_000;

/** Every row of `spec.table` in seq order, read page by page (no cursor needed on either engine). */
export async function* chainRows<Row extends { seq: number }>(
  db: Executor,
  spec: ChainSpec,
  pageRows: number = CHAIN_PAGE_ROWS,
): AsyncGenerator<Row> {
  let after = 0;
  for (;;) {
    const page = (await (db as Database['db'])
      .selectFrom(spec.table as 'disposal_events')
      .selectAll()
      .where('seq', '>', after)
      .orderBy('seq')
      .limit(pageRows)
      .execute()) as unknown as Row[];
    for (const row of page) yield row;
    if (page.length < pageRows) return;
    after = page[page.length - 1]!.seq;
  }
}

/** A row as {@link walkChain} checks it. */
export interface ChainLink {
  seq: number;
  prevHash: string;
  hash: string;
}

export interface ChainWalk {
  rows: number;
  head: ChainHead | null;
  /** The first bad row and why (missing row, broken link, wrong MAC, or `apply`'s refusal). */
  broken: { seq: number; reason: string } | null;
}

/**
 * Walks the chain in seq order: contiguous seqs from 1, each prev_hash the hash before, each
 * hash the keyed link of its row; every good row goes to `apply` (the ledger's projection),
 * which returns a reason to stop at that row, or null. Stops at the first bad row.
 */
export async function walkChain<E extends ChainLink>(
  events: AsyncIterable<E>,
  link: (prevHash: string, event: E) => string,
  apply: (event: E) => string | null,
): Promise<ChainWalk> {
  let prev = GENESIS_HASH;
  let rows = 0;
  let head: ChainHead | null = null;
  const broken = (seq: number, reason: string): ChainWalk => ({
    rows,
    head,
    broken: { seq, reason },
  });
  for await (const event of events) {
    rows++;
    head = { seq: event.seq, hash: event.hash };
    if (event.seq !== rows)
      return broken(rows, `row ${rows} is missing (next row is ${event.seq})`);
    if (event.prevHash !== prev)
      return broken(event.seq, 'prev_hash does not match the row before');
    if (link(prev, event) !== event.hash) {
      return broken(event.seq, 'hash does not match the row content (or another key made it)');
    }
    prev = event.hash;
    const refused = apply(event);
    if (refused !== null) return broken(event.seq, refused);
  }
  return { rows, head, broken: null };
}
