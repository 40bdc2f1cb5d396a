/**
 * The one database layer: one `Database` per process, over SQLite (embedded default, one file)
 * or PostgreSQL (cluster mode, one pool), with the same typed Kysely interface, the same
 * migrations and the same behaviour (tests/db runs one suite against both).
 *
 * Lifecycle: the constructor stores the config; `start()` opens the file or the pool, checks it
 * answers and applies every pending migration (server/db/migrations) before returning;
 * `stop()` closes it (safe twice). `db` is usable between the two. Stores receive this object;
 * they never open the database themselves.
 *
 * Guarantees:
 * - integers come back as JS numbers on both engines: PostgreSQL BIGINT (epoch ms, sequence
 *   numbers) is parsed to a number, refused by name past 2^53 rather than rounded;
 * - migrations run at most once however many nodes start together (PostgreSQL: Kysely holds an
 *   advisory lock; SQLite: one connection) and each run is one transaction on both engines, so a
 *   crash leaves the old schema or the new one, never half of each;
 * - a database migrated by a newer release (a migration this code does not know) is refused.
 *
 * Kysely over better-sqlite3 is asynchronous in form but runs each statement synchronously on
 * the one connection, in order: a transaction here holds that connection (and every other query
 * of the process waits) until it ends, so keep transactions short, with no other I/O awaited
 * inside. Embedded mode is one Database per process: a second connection to the same file in the
 * same process that writes while the first is inside a transaction would wait in SQLite's busy
 * handler, which blocks the thread the first needs to finish (a 5 s stall, then SQLITE_BUSY).
 */
import {
  CompiledQuery,
  type DialectAdapter,
  Kysely,
  Migrator,
  PostgresDialect,
  SqliteAdapter,
  SqliteDialect,
} from 'kysely';
import pg from 'pg';
import { createLogger } from '../../common/logger.js';
import { isMemoryPath, openDatabase, type SqliteDatabase } from '../store/sqlite.js';
import {
  checkDatabaseConfig,
  DATABASE_DEFAULTS,
  type DatabaseConfig,
  type DatabaseKind,
  redactUrl,
} from './config.js';
import { LATEST_MIGRATION, migrationProvider } from './migrations/index.js';
import type { PlatformSchema } from './schema.js';
import { withStatementCache } from './statement-cache.js';

const log = createLogger('server.db');

const PG_INT8_OID = 20; // pg_type.oid of bigint

function parseBigint(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) {
    throw new Error(`database layer: BIGINT ${text} does not fit a JS number (beyond 2^53)`);
  }
  return n;
}

/** pg's type parsers with BIGINT as number; passed per connection, pg's globals stay untouched. */
const PG_TYPES = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === PG_INT8_OID && format !== 'binary'
      ? parseBigint
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/** SQLite runs DDL in transactions; Kysely's adapter says it does not, so migrations would not. */
class TransactionalSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

class TransactionalSqliteDialect extends SqliteDialect {
  override createAdapter(): DialectAdapter {
    return new TransactionalSqliteAdapter();
  }
}

export interface DedicatedClientOptions {
  /** Shown in pg_stat_activity after the node's name: `hazardwatch/leader-election`. */
  purpose: string;
  /** Client-side bound on each query; a partitioned server then fails fast instead of hanging. */
  queryTimeoutMs?: number;
}

export interface MigrationReport {
  /** Migrations applied by this call, in order. */
  applied: string[];
  latest: string;
}

export class Database {
  private kysely: Kysely<PlatformSchema> | null = null;
  private sqlite: SqliteDatabase | null = null;
  /** Where, for messages: the file, or the URL without its password. */
  readonly where: string;

  constructor(readonly config: DatabaseConfig) {
    const problems = checkDatabaseConfig(config);
    if (problems.length > 0) throw new Error(`database config: ${problems.join('; ')}`);
    this.where = config.kind === 'sqlite' ? config.path : redactUrl(config.url);
  }

  get kind(): DatabaseKind {
    return this.config.kind;
  }

  get started(): boolean {
    return this.kysely !== null;
  }

  /** The typed query builder. Throws before `start()` and after `stop()`. */
  get db(): Kysely<PlatformSchema> {
    if (!this.kysely) throw new Error(`database '${this.where}' is not started`);
    return this.kysely;
  }

  async start(): Promise<void> {
    if (this.kysely) return;
    const config = this.config;
    if (config.kind === 'sqlite') {
      const sqlite = openDatabase(config.path, { synchronous: config.synchronous });
      this.sqlite = sqlite;
      this.kysely = new Kysely<PlatformSchema>({
        // Statements prepared once per SQL text, not per query (statement-cache.ts).
        dialect: new TransactionalSqliteDialect({ database: withStatementCache(sqlite) }),
      });
    } else {
      const pool = new pg.Pool({
        connectionString: config.url,
        max: config.poolSize,
        connectionTimeoutMillis: DATABASE_DEFAULTS.connectTimeoutMs,
        idleTimeoutMillis: DATABASE_DEFAULTS.idleTimeoutMs,
        statement_timeout: DATABASE_DEFAULTS.statementTimeoutMs,
        application_name: config.applicationName ?? DATABASE_DEFAULTS.applicationName,
        keepAlive: true,
        types: PG_TYPES,
      });
      // An idle connection the server drops (restart, failover, pg_terminate_backend) emits
      // 'error' on the pool; unhandled, that would end the process. The pool replaces it.
      pool.on('error', (err) =>
        log.warn({ err, where: this.where }, 'idle PostgreSQL connection lost'),
      );
      this.kysely = new Kysely<PlatformSchema>({ dialect: new PostgresDialect({ pool }) });
    }
    try {
      await this.kysely.executeQuery(CompiledQuery.raw('SELECT 1'));
      await this.migrate();
    } catch (err) {
      await this.stop();
      throw new Error(`cannot start database '${this.where}': ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  /** Applies every pending migration; `start()` already did, so this is a no-op after it. */
  async migrate(): Promise<MigrationReport> {
    const migrator = new Migrator({ db: this.db, provider: migrationProvider });
    const { error, results = [] } = await migrator.migrateToLatest();
    const failed = results.find((r) => r.status === 'Error');
    if (error) {
      const which = failed ? `migration '${failed.migrationName}'` : 'migrations';
      throw new Error(`${which} failed on '${this.where}': ${(error as Error).message}`, {
        cause: error,
      });
    }
    const applied = results.filter((r) => r.status === 'Success').map((r) => r.migrationName);
    if (applied.length > 0) log.info({ where: this.where, applied }, 'database migrated');
    return { applied, latest: LATEST_MIGRATION };
  }

  /** Names of the applied migrations, oldest first. */
  async appliedMigrations(): Promise<string[]> {
    const migrator = new Migrator({ db: this.db, provider: migrationProvider });
    return (await migrator.getMigrations())
      .filter((m) => m.executedAt !== undefined)
      .map((m) => m.name);
  }

  /**
   * PostgreSQL only: a connection of its own, outside the pool, for state that lives as long as
   * a session (an advisory lock, LISTEN). The caller ends it. Its 'error' event fires when the
   * server drops it; the caller must listen (pg rethrows an unhandled one).
   */
  async dedicatedClient(options: DedicatedClientOptions): Promise<pg.Client> {
    if (this.config.kind !== 'postgres' || !this.kysely) {
      throw new Error(
        `database '${this.where}': dedicated connections (${options.purpose}) need a started PostgreSQL database`,
      );
    }
    const name = this.config.applicationName ?? DATABASE_DEFAULTS.applicationName;
    const client = new pg.Client({
      connectionString: this.config.url,
      connectionTimeoutMillis: DATABASE_DEFAULTS.connectTimeoutMs,
      query_timeout: options.queryTimeoutMs,
      application_name: `${name}/${options.purpose}`.slice(0, 63),
      keepAlive: true,
      types: PG_TYPES,
    });
    try {
      await client.connect();
    } catch (err) {
      throw new Error(
        `cannot open a ${options.purpose} connection to '${this.where}': ${(err as Error).message}`,
        { cause: err },
      );
    }
    return client;
  }

  /** SQLite only: the file's resolved path ('' for ':memory:'), which names the process-wide bus. */
  get sqliteFile(): string | null {
    if (this.config.kind !== 'sqlite') return null;
    return isMemoryPath(this.config.path) ? '' : (this.sqlite?.name ?? this.config.path);
  }

  async stop(): Promise<void> {
    const kysely = this.kysely;
    this.kysely = null;
    if (kysely) {
      // Ends the pool (pg) or closes the file (better-sqlite3).
      await kysely.destroy().catch((err) => log.warn({ err, where: this.where }, 'close failed'));
    }
    if (this.sqlite?.open) this.sqlite.close();
    this.sqlite = null;
  }
}
