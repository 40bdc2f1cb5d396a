/**
 * The disposal ledger as the embedded server keeps it, for the tests that attack it: the
 * platform Database on `hazardwatch.db` in a temporary data directory, the chain key file made
 * beside it (loadLedgerKey, as at the server's first start, so `ledger-verify --data-dir` finds
 * both), a ManualClock at T0, and `sql()` for writing to the file behind the ledger's back.
 *
 * Lifecycle: `startKeyedDisposal()` resolves with the ledger started; `stop()` stops the ledger
 * and the Database and removes the directory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite from 'better-sqlite3';
import { ManualClock } from '../../common/clock.js';
import { DisposalLedger } from '../../server/alarms/disposal.js';
import { loadLedgerKey } from '../../server/alarms/ledger-key.js';
import { Database } from '../../server/db/database.js';
import { T0 } from './fixtures.js';

export interface KeyedDisposal {
  dir: string;
  /** The SQLite file. */
  path: string;
  clock: ManualClock;
  key: Buffer;
  database: Database;
  ledger: DisposalLedger;
  stop(): Promise<void>;
}

/** `prefix` names the temporary directory (hw-…-) so a leftover one tells which test made it. */
export async function startKeyedDisposal(prefix: string): Promise<KeyedDisposal> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const path = join(dir, 'hazardwatch.db');
  const clock = new ManualClock(T0);
  const key = loadLedgerKey({ storePath: path, env: {} }).key;
  const database = new Database({ kind: 'sqlite', path });
  await database.start();
  const ledger = new DisposalLedger({ database, clock, key });
  await ledger.start();
  return {
    dir,
    path,
    clock,
    key,
    database,
    ledger,
    async stop() {
      await ledger.stop();
      await database.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs `script` on the file over a connection of its own: what an attacker with the file does. */
export function sql(path: string, script: string): void {
  const db = new BetterSqlite(path);
  try {
    db.exec(script);
  } finally {
    db.close();
  }
}
