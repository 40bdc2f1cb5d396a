/**
 * Bug: an alarm arriving while the registry noted its gateway's status was refused with
 * "database is locked". The registry (on server/db) wrote a status as one transaction, which
 * on SQLite holds the file's write lock between its statements, across microtasks; the alarm
 * ledger, still on its own connection to the same file, wrote in between and failed. Each
 * registry write is now one autocommit statement, which holds no lock across an await. Since the
 * ledger moved onto the same Database the two share one connection; the case stays as a guard.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AlarmLedger } from '../../server/alarms/ledger.js';
import { Database } from '../../server/db/database.js';
import { GatewayRegistry } from '../../server/gateways.js';
import { Registry } from '../../server/platform/registry.js';
import { alarmEvent, SENSORS, status } from '../server/fixtures.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe('the registry and the alarm ledger on one SQLite file', () => {
  it('an alarm recorded while the registry notes a status is not refused with "database is locked"', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hw-registry-lock-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'hazardwatch.db');
    const database = new Database({ kind: 'sqlite', path: file });
    await database.start();
    cleanups.push(() => database.stop());
    const ledger = new AlarmLedger({ database });
    await ledger.start();
    cleanups.push(() => ledger.stop());
    const registry = new Registry({ database, enterprises: [], installations: [] });
    await registry.start();
    const gateway = new GatewayRegistry().applyStatus(status({ sensors: SENSORS })).gateway;
    const noting = registry.noteGateway(gateway);
    // Ingest records the alarm a few microtasks later, while the registry's write runs.
    const refused: string[] = [];
    for (let seq = 1; seq <= 10; seq++) {
      await Promise.resolve();
      try {
        await ledger.record(alarmEvent({ seq, alarmId: `GT-101-gas.L2.${seq}` }));
      } catch (err) {
        refused.push((err as Error).message);
      }
    }
    await noting;
    expect(refused).toEqual([]);
    expect((await registry.sensors()).length).toBe(SENSORS.length);
  }, 30_000);
});
