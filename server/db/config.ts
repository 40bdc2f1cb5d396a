/**
 * The `database` section of the server config: which engine holds the platform state (alarm
 * ledger, disposal chain and dispositions, registry, sessions, linkage deliveries, audit, and in
 * cluster mode the claims and leases). Its JSON Schema fragment is for server/config/schema.ts;
 * `checkDatabaseConfig` is what the schema cannot say.
 *
 * - `sqlite` (the embedded default): one file, one process. The demo and a single plant.
 * - `postgres` (cluster mode): one PostgreSQL shared by any number of identical server nodes;
 *   each node holds one pool of `poolSize` connections plus two dedicated ones (leader election
 *   and the notification bus), docs/cluster.md.
 */
import type { SynchronousMode } from '../store/sqlite.js';

export const DATABASE_KINDS = ['sqlite', 'postgres'] as const;
export type DatabaseKind = (typeof DATABASE_KINDS)[number];

export interface SqliteDatabaseConfig {
  readonly kind: 'sqlite';
  /** File path, or ':memory:' (tests). */
  readonly path: string;
  /** See server/store/sqlite.ts for the durability trade. */
  readonly synchronous?: SynchronousMode;
}

export interface PostgresDatabaseConfig {
  readonly kind: 'postgres';
  /** postgres://user:password@host:port/database (libpq URL; `?sslmode=` and the like pass through). */
  readonly url: string;
  /** Connections in this node's pool. */
  readonly poolSize: number;
  /** Name reported in pg_stat_activity, so an operator can tell the nodes apart. */
  readonly applicationName?: string;
}

export type DatabaseConfig = SqliteDatabaseConfig | PostgresDatabaseConfig;

export const DATABASE_DEFAULTS = {
  poolSize: 10, // connections per node; PostgreSQL's default max_connections is 100
  connectTimeoutMs: 5_000, // 5 s to open a connection before the attempt counts as failed
  idleTimeoutMs: 30_000, // 30 s before an idle pooled connection is closed
  statementTimeoutMs: 30_000, // 30 s: a query stuck longer than this is cancelled by the server
  applicationName: 'hazardwatch',
} as const;

export const databaseConfigSchema = {
  title: 'Platform state database',
  description:
    "Where the alarm ledger, disposal chain, registry, sessions, linkage deliveries and audit live: 'sqlite' (embedded, one process) or 'postgres' (cluster mode, any number of nodes).",
  type: 'object',
  required: ['kind'],
  properties: {
    kind: {
      title: 'Engine',
      description: "'sqlite' for one embedded file, 'postgres' for cluster mode (docs/cluster.md).",
      enum: DATABASE_KINDS,
      default: 'sqlite',
    },
    path: {
      title: 'SQLite file',
      description: "kind sqlite: the file; ':memory:' keeps everything in RAM (tests).",
      type: 'string',
      minLength: 1,
    },
    synchronous: {
      title: 'SQLite synchronous mode',
      description:
        "kind sqlite: 'NORMAL' (WAL, survives a process crash) or 'FULL' (also a power cut).",
      enum: ['NORMAL', 'FULL'],
      default: 'NORMAL',
    },
    url: {
      title: 'PostgreSQL URL',
      description:
        'kind postgres: postgres://user:password@host:port/database; keep the password out of files with HAZARDWATCH_DATABASE_URL.',
      type: 'string',
      pattern: '^postgres(ql)?://',
    },
    poolSize: {
      title: 'Pool size',
      description: 'kind postgres: connections in this node’s pool.',
      type: 'integer',
      minimum: 1,
      maximum: 500,
      default: DATABASE_DEFAULTS.poolSize,
    },
    applicationName: {
      title: 'Application name',
      description: 'kind postgres: shown in pg_stat_activity (use the node id).',
      type: 'string',
      minLength: 1,
      maxLength: 63,
      default: DATABASE_DEFAULTS.applicationName,
    },
  },
  additionalProperties: false,
} as const;

/** The checks a discriminated union needs beyond the schema; returns `path message` lines. */
export function checkDatabaseConfig(config: unknown, at = 'database'): string[] {
  const c = config as Partial<Record<string, unknown>> | null;
  if (typeof c !== 'object' || c === null) return [`${at}: must be an object`];
  const kind = c.kind;
  if (!DATABASE_KINDS.includes(kind as DatabaseKind)) {
    return [`${at}.kind: must be one of ${DATABASE_KINDS.join(', ')} (got '${String(kind)}')`];
  }
  const problems: string[] = [];
  const only = (allowed: string[]) => {
    for (const key of Object.keys(c)) {
      if (!allowed.includes(key)) problems.push(`${at}.${key}: not used with kind '${kind}'`);
    }
  };
  if (kind === 'sqlite') {
    if (typeof c.path !== 'string' || c.path === '') {
      problems.push(`${at}.path: required with kind 'sqlite' (a file, or ':memory:')`);
    }
    only(['kind', 'path', 'synchronous']);
  } else {
    if (typeof c.url !== 'string' || !/^postgres(ql)?:\/\//.test(c.url)) {
      problems.push(`${at}.url: required with kind 'postgres' (postgres://user@host:port/db)`);
    }
    if (!Number.isInteger(c.poolSize) || (c.poolSize as number) < 1) {
      problems.push(`${at}.poolSize: must be an integer >= 1 (got ${String(c.poolSize)})`);
    }
    only(['kind', 'url', 'poolSize', 'applicationName']);
  }
  return problems;
}

/** The URL with its password replaced, for logs and error messages. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}
