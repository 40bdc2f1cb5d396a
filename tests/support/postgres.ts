/**
 * A real PostgreSQL 15 for tests: Debian's binaries, a fresh cluster made by `initdb` in a
 * temporary directory, started by `pg_ctl` on a free loopback port, stopped and removed by
 * `stop()`. PostgreSQL refuses to run as root ("root execution of the PostgreSQL server is not
 * permitted"), so when the tests run as root every command runs as the `postgres` user through
 * `runuser -u postgres --`, and the temporary directory is handed to that user.
 *
 * Lifecycle: `startPostgres()` returns once the server accepts connections; `createDatabase()`
 * gives each test case an empty database of its own; `stop()` stops the server (immediate mode:
 * nothing in it is worth a checkpoint) and removes the directory; safe twice.
 *
 * A machine without PostgreSQL fails loudly, naming the Debian package (scripts/install-peers.sh
 * installs it): a test that quietly skips would hide that cluster mode went untested.
 */
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from '../../common/net.js';

const run = promisify(execFile);

/** Where Debian's postgresql-15 puts its server binaries (they are not on PATH). */
export const POSTGRES_BIN = process.env.POSTGRES_BIN ?? '/usr/lib/postgresql/15/bin';
/** The Debian package that provides them (scripts/install-peers.sh). */
export const POSTGRES_DEBIAN_PACKAGE = 'postgresql';
/** Superuser of the test cluster (trust authentication on loopback only). */
const SUPERUSER = 'hazardwatch';
const START_TIMEOUT_S = 30; // pg_ctl -w waits this long for the server to accept connections
const PORT_ATTEMPTS = 3; // a free port can be taken between freePort() and the server's bind

export interface PostgresServer {
  readonly port: number;
  /** URL of the `postgres` maintenance database. */
  readonly url: string;
  /** An empty database of its own (for one test case); returns its URL. */
  createDatabase(name?: string): Promise<string>;
  /** SQL run as the superuser on the `postgres` database (pg_terminate_backend and the like). */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    values?: unknown[],
  ): Promise<R[]>;
  stop(): Promise<void>;
}

interface RunAs {
  /** Prefix that runs a command as the unprivileged user (empty when we are not root). */
  prefix: string[];
  uid: number | null;
  gid: number | null;
}

async function runAsPostgresUser(): Promise<RunAs> {
  if (process.getuid?.() !== 0) return { prefix: [], uid: null, gid: null };
  let uid: number;
  let gid: number;
  try {
    uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
    gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
  } catch (err) {
    throw new Error(
      `PostgreSQL refuses to run as root and there is no 'postgres' user to run it as: install Debian's '${POSTGRES_DEBIAN_PACKAGE}' package (scripts/install-peers.sh), which creates it`,
      { cause: err },
    );
  }
  return { prefix: ['runuser', '-u', 'postgres', '--'], uid, gid };
}

async function runPg(as: RunAs, cwd: string, binary: string, args: string[]): Promise<string> {
  const [command, ...rest] = [...as.prefix, path.join(POSTGRES_BIN, binary), ...args];
  try {
    const { stdout } = await run(command!, rest, { cwd, timeout: (START_TIMEOUT_S + 10) * 1_000 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    const output = `${e.stderr ?? ''}${e.stdout ?? ''}`.trim().split('\n').slice(-5).join(' | ');
    throw new Error(`${binary} ${args.join(' ')} failed: ${output || e.message}`, { cause: err });
  }
}

let databaseCounter = 0;

/** Starts a throwaway PostgreSQL 15 cluster. */
export async function startPostgres(): Promise<PostgresServer> {
  if (!existsSync(path.join(POSTGRES_BIN, 'initdb'))) {
    throw new Error(
      `PostgreSQL 15 is not installed: no '${path.join(POSTGRES_BIN, 'initdb')}'; install Debian's '${POSTGRES_DEBIAN_PACKAGE}' package (scripts/install-peers.sh does), or set POSTGRES_BIN to its bin directory`,
    );
  }
  const as = await runAsPostgresUser();
  const root = mkdtempSync(path.join(tmpdir(), 'hw-postgres-'));
  const dataDir = path.join(root, 'data');
  const socketDir = path.join(root, 'socket');
  mkdirSync(socketDir);
  if (as.uid !== null && as.gid !== null) {
    // mkdtemp makes the directory 0700 for root: the postgres user must own what it writes.
    chownSync(root, as.uid, as.gid);
    chownSync(socketDir, as.uid, as.gid);
  }
  chmodSync(root, 0o700);
  const cleanup = () => rmSync(root, { recursive: true, force: true });
  try {
    await runPg(as, root, 'initdb', [
      '-D',
      dataDir,
      '-U',
      SUPERUSER,
      '--auth=trust',
      '--no-sync',
      '--encoding=UTF8',
      '--locale=C',
    ]);
  } catch (err) {
    cleanup();
    throw err;
  }
  let port = 0;
  let lastError: unknown;
  for (let attempt = 0; attempt < PORT_ATTEMPTS && port === 0; attempt++) {
    const candidate = await freePort();
    try {
      await runPg(as, root, 'pg_ctl', [
        '-D',
        dataDir,
        '-l',
        path.join(root, 'postgres.log'),
        '-w',
        '-t',
        String(START_TIMEOUT_S),
        // fsync off: a test cluster never outlives the machine; crash safety of the server
        // process (kill -9) does not depend on it.
        '-o',
        `-p ${candidate} -k ${socketDir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`,
        'start',
      ]);
      port = candidate;
    } catch (err) {
      lastError = err;
    }
  }
  if (port === 0) {
    cleanup();
    throw new Error(`PostgreSQL did not start (log in the removed ${root}/postgres.log)`, {
      cause: lastError,
    });
  }
  const url = `postgres://${SUPERUSER}@127.0.0.1:${port}/postgres`;
  const admin = new pg.Pool({ connectionString: url, max: 2 });
  // An idle pooled connection that the server ends (stop(), pg_terminate_backend) emits 'error'.
  admin.on('error', () => {});
  let stopped = false;
  return {
    port,
    url,
    async createDatabase(name?: string): Promise<string> {
      databaseCounter++;
      const database = name ?? `hw_test_${process.pid}_${databaseCounter}`;
      if (!/^[a-z_][a-z0-9_]*$/.test(database)) {
        throw new Error(`createDatabase: '${database}' is not a plain lower-case identifier`);
      }
      await admin.query(`CREATE DATABASE ${database}`);
      return `postgres://${SUPERUSER}@127.0.0.1:${port}/${database}`;
    },
    async query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<R[]> {
      return (await admin.query<R>(text, values)).rows;
    },
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      await admin.end().catch(() => {});
      try {
        await runPg(as, root, 'pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
      } finally {
        cleanup();
      }
    },
  };
}
