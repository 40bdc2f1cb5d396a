/**
 * Bug: an alarm's disposal row (and a hazard row) was lost with "database is locked" when the
 * alarm ledger, still on its own connection to the same SQLite file, recorded an alarm while the
 * chain append ran. The append is one Kysely transaction whose statements run across
 * microtasks; the alarm ledger's write in between left the transaction's snapshot stale, so its
 * INSERT failed at once (SQLITE_BUSY_SNAPSHOT). The chain transaction now runs again on that
 * error (server/alarms/hash-chain.ts chainTransaction). Since the alarm ledger moved onto the
 * same Database the two share one connection; the case stays as a guard.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DisposalLedger } from '../../server/alarms/disposal.js';
import { AlarmLedger } from '../../server/alarms/ledger.js';
import { Database } from '../../server/db/database.js';
import { SupervisionStore } from '../../server/supervision/store.js';
import { alarmEvent } from '../server/fixtures.js';
import { alarmRecord } from './fixtures.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function setUp() {
  const dir = mkdtempSync(join(tmpdir(), 'hw-chain-lock-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'hazardwatch.db');
  const database = new Database({ kind: 'sqlite', path: file });
  await database.start();
  cleanups.push(() => database.stop());
  const ledger = new AlarmLedger({ database });
  await ledger.start();
  cleanups.push(() => ledger.stop());
  return { database, ledger };
}

/** Ingest records alarms a few microtasks apart, while `append` runs; what it refused. */
async function recordDuring(ledger: AlarmLedger, append: Promise<unknown>): Promise<string[]> {
  const refused: string[] = [];
  for (let seq = 1; seq <= 10; seq++) {
    await Promise.resolve();
    try {
      await ledger.record(alarmEvent({ seq, alarmId: `GT-101-gas.L2.${seq}` }));
    } catch (err) {
      refused.push((err as Error).message);
    }
  }
  try {
    await append;
  } catch (err) {
    refused.push(`append: ${(err as Error).message}`);
  }
  return refused;
}

describe('the hash chains and the alarm ledger on one SQLite file', () => {
  it('an alarm recorded while the disposal ledger appends loses neither the alarm nor the disposal row', async () => {
    const { database, ledger } = await setUp();
    const disposal = new DisposalLedger({ database, key: randomBytes(32) });
    await disposal.start();
    expect(await recordDuring(ledger, disposal.track(alarmRecord()))).toEqual([]);
    expect(await disposal.verify()).toMatchObject({ ok: true, rows: 1 });
    expect(await ledger.list({ state: 'all', limit: 100 })).toHaveLength(10);
  }, 30_000);

  it('an alarm recorded while the hazard ledger appends loses neither the alarm nor the hazard row', async () => {
    const { database, ledger } = await setUp();
    const store = new SupervisionStore({ database, key: randomBytes(32) });
    await store.start();
    const opening = store.append({
      hazardId: null,
      enterpriseId: 'ent-01',
      installationId: null,
      action: 'opened',
      actor: 'system',
      detail: { kind: 'data-quality', severity: 'general', title: 't', source: 'screening' },
    });
    expect(await recordDuring(ledger, opening)).toEqual([]);
    expect(await store.verify()).toMatchObject({ ok: true, rows: 1 });
  }, 30_000);
});
