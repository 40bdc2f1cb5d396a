/**
 * An alarm ledger on a database of its own, for tests that need a ledger and nothing else of the
 * platform database: the Database is made here (SQLite, ':memory:' unless a file is given) and
 * passed in as the server passes its own; `start()` starts the database then the ledger, `stop()`
 * stops them in reverse (safe twice).
 */

import type { Clock } from '../../common/clock.js';
import { type AlarmConflict, AlarmLedger } from '../../server/alarms/ledger.js';
import { Database } from '../../server/db/database.js';

export interface TestLedgerOptions {
  /** SQLite file; ':memory:' when absent. */
  path?: string;
  clock?: Clock;
  onConflict?: (conflict: AlarmConflict) => void;
}

export class OwnDatabaseLedger extends AlarmLedger {
  constructor(
    readonly database: Database,
    options: Omit<TestLedgerOptions, 'path'>,
  ) {
    super({ ...options, database });
  }

  override async start(): Promise<void> {
    await this.database.start();
    await super.start();
  }

  override async stop(): Promise<void> {
    await super.stop();
    await this.database.stop();
  }
}

export function testLedger(options: TestLedgerOptions = {}): OwnDatabaseLedger {
  const { path = ':memory:', ...rest } = options;
  return new OwnDatabaseLedger(new Database({ kind: 'sqlite', path }), rest);
}
