/**
 * The two engines the shared suite runs against, behind one small interface (aedes'
 * persistence suite does the same with its backends): a fresh empty store per case, nodes
 * opened on it the way separate server processes would open it, and a way to kill a node's
 * session as a crash would.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Database } from '../../server/db/database.js';
import { type PostgresServer, startPostgres } from '../support/postgres.js';

export interface StoreHandle {
  /** A new Database on this store, started (so migrated), as another node would open it. */
  openNode(nodeId: string): Promise<Database>;
  /** Every node opened so far, in order. */
  readonly nodes: readonly Database[];
  /**
   * Ends a node's database session as a crash would: PostgreSQL terminates the backend whose
   * pid is given (pg_terminate_backend); SQLite closes the node's connection.
   */
  killSession(node: Database, pid: number | null): Promise<void>;
  /** PostgreSQL: backend pids whose application_name is `<nodeId>/<purpose>`. */
  sessionPids(applicationName: string): Promise<number[]>;
  close(): Promise<void>;
}

export interface Backend {
  readonly kind: 'sqlite' | 'postgres';
  setUp(): Promise<void>;
  freshStore(): Promise<StoreHandle>;
  tearDown(): Promise<void>;
}

function handle(
  open: (nodeId: string) => Database,
  kill: StoreHandle['killSession'],
  pids: StoreHandle['sessionPids'],
  cleanup: () => void | Promise<void>,
): StoreHandle {
  const nodes: Database[] = [];
  return {
    nodes,
    async openNode(nodeId) {
      const db = open(nodeId);
      nodes.push(db);
      await db.start();
      return db;
    },
    killSession: kill,
    sessionPids: pids,
    async close() {
      for (const db of nodes.reverse()) await db.stop();
      await cleanup();
    },
  };
}

export function sqliteBackend(): Backend {
  const dirs: string[] = [];
  return {
    kind: 'sqlite',
    async setUp() {},
    async freshStore() {
      const dir = mkdtempSync(path.join(tmpdir(), 'hw-db-sqlite-'));
      dirs.push(dir);
      const file = path.join(dir, 'hazardwatch.db');
      return handle(
        () => new Database({ kind: 'sqlite', path: file }),
        async (node) => node.stop(),
        async () => [],
        () => rmSync(dir, { recursive: true, force: true }),
      );
    },
    async tearDown() {
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function postgresBackend(): Backend {
  let server: PostgresServer | null = null;
  const need = () => {
    if (!server) throw new Error('postgres backend: setUp() was not awaited');
    return server;
  };
  return {
    kind: 'postgres',
    async setUp() {
      server = await startPostgres();
    },
    async freshStore() {
      const url = await need().createDatabase();
      return handle(
        (nodeId) => new Database({ kind: 'postgres', url, poolSize: 4, applicationName: nodeId }),
        async (_node, pid) => {
          if (pid === null) throw new Error('killSession: no session pid to terminate');
          const rows = await need().query<{ ok: boolean }>(
            'SELECT pg_terminate_backend($1) AS ok',
            [pid],
          );
          if (!rows[0]?.ok) throw new Error(`killSession: backend ${pid} was not terminated`);
        },
        async (applicationName) =>
          (
            await need().query<{ pid: number }>(
              'SELECT pid FROM pg_stat_activity WHERE application_name = $1',
              [applicationName],
            )
          ).map((r) => r.pid),
        () => {},
      );
    },
    async tearDown() {
      await server?.stop();
      server = null;
    },
  };
}

export const BACKENDS = [sqliteBackend, postgresBackend] as const;
