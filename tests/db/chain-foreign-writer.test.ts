/**
 * The SQLITE_BUSY retry of chainTransaction (server/alarms/hash-chain.ts) is reachable: the
 * embedded server keeps its platform state on one Database (one connection), but another
 * process writes the same file while the server runs: server/fleet/enrol-token.ts makes an
 * enrolment token in the server's SQLite file ("a running server sees it at once"). A commit by
 * that process between a chain transaction's first read (the head, the projection) and its first
 * write leaves the transaction's WAL snapshot stale; its INSERT then fails at once with
 * SQLITE_BUSY_SNAPSHOT, which no busy timeout waits out. Without the retry the disposal or
 * hazard row is lost.
 *
 * A second connection on the file stands for that process (SQLite's locks are the same whether
 * it is in this process or another) and commits a token row at each microtask offset into an
 * append, one offset per append, so some land inside the transaction's window whatever its
 * length. Its busy timeout is 0: at an offset where the chain already holds the write lock the
 * token is refused at once rather than blocking this thread (the real CLI, in its own process,
 * would wait its busy timeout and then write).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import BetterSqlite from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { DisposalLedger } from '../../server/alarms/disposal.js';
import { Database } from '../../server/db/database.js';
import { SupervisionStore } from '../../server/supervision/store.js';
import { alarmRecord } from '../platform/fixtures.js';

/** Microtask offsets tried, one append each: more than one append's transaction spans. */
const OFFSETS = 40;

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function setUp() {
  const dir = mkdtempSync(path.join(tmpdir(), 'hw-chain-foreign-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'hazardwatch.db');
  const database = new Database({ kind: 'sqlite', path: file });
  await database.start();
  cleanups.push(() => database.stop());
  const cli = new BetterSqlite(file, { timeout: 0 });
  cleanups.push(() => cli.close());
  const insertToken = cli.prepare(
    `INSERT INTO fleet_tokens (token_hash, enterprise_id, gateway_id, created_by, created_at, expires_at)
     VALUES (?, 'ent-01', NULL, 'cli:ops', 1, 2)`,
  );
  let made = 0;
  /** What the enrolment CLI writes; false when the chain held the write lock at that moment. */
  const enrol = (): boolean => {
    try {
      insertToken.run(randomBytes(32).toString('hex'));
      made++;
      return true;
    } catch (err) {
      if ((err as { code?: string }).code !== 'SQLITE_BUSY') throw err;
      return false;
    }
  };
  return { database, enrol, tokensMade: () => made };
}

/** Runs `append(i)` for every offset with the CLI's commit `i` microtasks into it; what failed. */
async function appendsWithCommitsInside(
  append: (i: number) => Promise<unknown>,
  enrol: () => boolean,
): Promise<string[]> {
  const failed: string[] = [];
  for (let i = 0; i < OFFSETS; i++) {
    const appended = append(i).catch((err: Error) => failed.push(`append ${i}: ${err.message}`));
    for (let k = 0; k < i; k++) await Promise.resolve();
    enrol();
    await appended;
  }
  return failed;
}

describe('a chain append on the SQLite file while the enrolment CLI commits to it', () => {
  it('keeps every disposal row', async () => {
    const { database, enrol, tokensMade } = await setUp();
    const disposal = new DisposalLedger({ database, key: randomBytes(32) });
    await disposal.start();
    const failed = await appendsWithCommitsInside(
      (i) => disposal.track(alarmRecord({ alarmId: `GT-101-gas.L2.${i}` })),
      enrol,
    );
    expect(failed).toEqual([]);
    expect(await disposal.verify()).toMatchObject({ ok: true, rows: OFFSETS });
    expect(tokensMade()).toBeGreaterThan(0);
  }, 30_000);

  it('keeps every hazard row', async () => {
    const { database, enrol, tokensMade } = await setUp();
    const store = new SupervisionStore({ database, key: randomBytes(32) });
    await store.start();
    const failed = await appendsWithCommitsInside(
      () =>
        store.append({
          hazardId: null,
          enterpriseId: 'ent-01',
          installationId: null,
          action: 'opened',
          actor: 'system',
          detail: { kind: 'data-quality', severity: 'general', title: 't', source: 'screening' },
        }),
      enrol,
    );
    expect(failed).toEqual([]);
    expect(await store.verify()).toMatchObject({ ok: true, rows: OFFSETS });
    expect(tokensMade()).toBeGreaterThan(0);
  }, 30_000);
});
