/**
 * Issue 13: the disposal ledger proves itself. Each test is one attack that verified ok on the
 * unkeyed, unanchored chain, done the way an attacker with write access to the SQLite file would
 * (triggers dropped, rows rewritten with better-sqlite3), and must now be detected and located.
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ManualClock } from '../../common/clock.js';
import type { DisposalLedger } from '../../server/alarms/disposal.js';
import { chainHash, type DisposalEvent } from '../../server/alarms/disposal-chain.js';
import { AnchorFile, LEDGER_ANCHOR_FILE } from '../../server/alarms/ledger-anchors.js';
import { type IntegrityResult, LedgerIntegrity } from '../../server/alarms/ledger-integrity.js';
import { LEDGER_KEY_FILE, loadLedgerKey } from '../../server/alarms/ledger-key.js';
import { runLedgerVerify } from '../../server/ledger-verify.js';
import { alarmRecord } from '../platform/fixtures.js';
import { type KeyedDisposal, sql, startKeyedDisposal } from './disposal-fixture.js';
import { T0 } from './fixtures.js';

const A1 = { enterpriseId: 'ent-01', gatewayId: 'gw-01', alarmId: 'a-1' };
const A2 = { ...A1, alarmId: 'a-2' };

interface Row {
  seq: number;
  enterprise_id: string;
  gateway_id: string;
  alarm_id: string;
  action: DisposalEvent['action'];
  actor: string;
  detail: string;
  at: number;
}

/**
 * What an attacker with write access to the file does: rewrite rows and re-chain every row from
 * `fromSeq` on (prev_hash and hash recomputed with `key`), rows before it left as they are.
 */
function rewriteChain(path: string, key: Buffer, change: (row: Row) => Row, fromSeq = 1): void {
  const db = new Database(path);
  try {
    db.exec('DROP TRIGGER IF EXISTS disposal_events_no_update');
    const rows = db
      .prepare<[], Row & { hash: string }>('SELECT * FROM disposal_events ORDER BY seq')
      .all();
    let prev = rows.find((r) => r.seq === fromSeq - 1)?.hash ?? '0'.repeat(64);
    const update = db.prepare(
      'UPDATE disposal_events SET actor = ?, detail = ?, prev_hash = ?, hash = ? WHERE seq = ?',
    );
    for (const original of rows.filter((r) => r.seq >= fromSeq)) {
      const row = change(original);
      const hash = chainHash(key, prev, {
        seq: row.seq,
        enterpriseId: row.enterprise_id,
        gatewayId: row.gateway_id,
        alarmId: row.alarm_id,
        action: row.action,
        actor: row.actor,
        detail: JSON.parse(row.detail) as Record<string, unknown>,
        at: row.at,
      });
      update.run(row.actor, row.detail, prev, hash, row.seq);
      prev = hash;
    }
  } finally {
    db.close();
  }
}

describe('disposal ledger integrity', () => {
  let fixture: KeyedDisposal;
  let dir: string;
  let path: string;
  let clock: ManualClock;
  let key: Buffer;
  let ledger: DisposalLedger;
  let anchors: AnchorFile;
  let integrity: LedgerIntegrity;
  let failures: IntegrityResult[];

  beforeEach(async () => {
    fixture = await startKeyedDisposal('hw-ledger-integrity-');
    ({ dir, path, clock, key, ledger } = fixture);
    anchors = new AnchorFile(join(dir, LEDGER_ANCHOR_FILE));
    failures = [];
    integrity = new LedgerIntegrity({
      disposal: ledger,
      key,
      anchorFile: anchors,
      clock,
      onFailure: (r) => failures.push(r),
    });
  });

  afterEach(async () => {
    await fixture.stop();
  });

  /** Rows 1–4 (a-1 raised, acknowledged, closed; a-2 raised), anchored at 4; rows 5–6 clears. */
  async function history(): Promise<void> {
    await ledger.track(alarmRecord());
    clock.advance(1_000);
    await ledger.acknowledge(A1, 'op1', 'seen');
    clock.advance(1_000);
    await ledger.close(A1, 'op1', 'valve closed');
    await ledger.track(alarmRecord({ alarmId: 'a-2' }));
    clock.advance(1_000);
    await integrity.anchorNow();
    await ledger.track(alarmRecord({ state: 'cleared', clearedAt: T0 + 5_000 }));
    await ledger.track(alarmRecord({ alarmId: 'a-2', state: 'cleared', clearedAt: T0 + 6_000 }));
    await integrity.anchorNow();
  }

  it('creates the chain key once, mode 0600, beside the database, and reads the same key back', async () => {
    const file = join(dir, LEDGER_KEY_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(loadLedgerKey({ storePath: path, env: {} })).toMatchObject({ key, created: false });
    const fromEnv = randomBytes(32).toString('hex');
    expect(
      loadLedgerKey({ storePath: path, env: { HAZARDWATCH_LEDGER_KEY: fromEnv } }).key,
    ).toEqual(Buffer.from(fromEnv, 'hex'));
    expect(() =>
      loadLedgerKey({ storePath: path, env: { HAZARDWATCH_LEDGER_KEY: 'short' } }),
    ).toThrow(/HAZARDWATCH_LEDGER_KEY must be at least 64 hex digits/);
  });

  it('verifies an untouched history, with its anchors', async () => {
    await history();
    expect(await integrity.verifyNow()).toMatchObject({
      ok: true,
      rows: 6,
      brokenAt: null,
      problems: [],
      head: { seq: 6 },
      anchors: { checked: 2, lastAnchoredSeq: 6, problems: [] },
    });
    expect(failures).toEqual([]);
  });

  it('rewriting a row and recomputing later hashes verifies ok', async () => {
    await history();
    // Without our key: the attacker re-chains rows 2.. with a key of their own.
    rewriteChain(
      path,
      randomBytes(32),
      (row) => (row.seq === 2 ? { ...row, actor: 'someone-else' } : row),
      2,
    );
    const result = await integrity.verifyNow();
    expect(result).toMatchObject({ ok: false, brokenAt: 2 });
    expect(result.problems[0]).toMatch(/^row 2: hash does not match the row content/);
    expect(failures).toHaveLength(1);
  });

  it('rewriting a row and recomputing later hashes with the stolen key is caught by the anchors', async () => {
    await history();
    // The closing note is not part of any disposition: only the chain knew it, and the attacker
    // re-chained with our own key, so every MAC and the projection are consistent again.
    rewriteChain(path, key, (row) =>
      row.seq === 3 ? { ...row, detail: JSON.stringify({ note: 'nothing happened' }) } : row,
    );
    expect((await ledger.verify()).ok).toBe(true);
    const result = await integrity.verifyNow();
    expect(result).toMatchObject({ ok: false, brokenAt: 1 });
    expect(result.problems).toEqual([
      expect.stringMatching(/^row 4 differs from its anchor of .*: rows 1\.\.4 were rewritten$/),
    ]);
  });

  it('deleting the newest rows verifies ok', async () => {
    await history();
    // Rows 5 and 6 are clears: removing them leaves the dispositions consistent, so only the
    // anchor of row 6 can tell.
    sql(path, 'DROP TRIGGER disposal_events_no_delete; DELETE FROM disposal_events WHERE seq > 4;');
    const result = await integrity.verifyNow();
    expect(result).toMatchObject({ ok: false, brokenAt: 5, rows: 4 });
    expect(result.problems[0]).toMatch(/rows 5\.\.6 were anchored at .* and are gone .*truncated/);
    expect(failures).toHaveLength(1);
  });

  it('a forged closed disposition verifies ok', async () => {
    await history();
    sql(
      path,
      "UPDATE alarm_dispositions SET status = 'closed', closed_by = 'forged', closed_at = 1 WHERE alarm_id = 'a-2'",
    );
    expect((await ledger.disposition(A2))?.status).toBe('closed'); // what the API would have shown
    const result = await integrity.verifyNow();
    expect(result.ok).toBe(false);
    expect(result.brokenAt).toBe(6); // a-2's newest row: the table left the chain after it
    expect(result.projection.problems).toEqual([
      'ent-01/gw-01/a-2: status: chain "open", table "closed"; closedAt: chain null, table 1; closedBy: chain null, table "forged"',
    ]);
  });

  it('refuses a forged anchor line and names it', async () => {
    await history();
    appendFileSync(
      join(dir, LEDGER_ANCHOR_FILE),
      `${JSON.stringify({ seq: 2, hash: 'f'.repeat(64), at: new Date(T0).toISOString(), mac: '00' })}\nnot json\n`,
    );
    const result = await integrity.verifyNow();
    expect(result.ok).toBe(false);
    expect(result.anchors.problems).toEqual([
      expect.stringMatching(/ledger-anchors\.jsonl:4: not JSON/),
      expect.stringMatching(/anchor of row 2 .*MAC does not match/),
    ]);
  });

  it('raises the failure once per break, not on every self-check', async () => {
    await history();
    sql(path, "UPDATE alarm_dispositions SET assignee = 'x' WHERE alarm_id = 'a-1'");
    await integrity.verifyNow();
    await integrity.verifyNow();
    expect(failures).toHaveLength(1);
    expect(integrity.failures).toBe(2);
  });

  it('anchors only when the head moved, to the file with a line per anchor', async () => {
    await history();
    expect(await integrity.anchorNow()).toBeNull();
    const lines = readFileSync(join(dir, LEDGER_ANCHOR_FILE), 'utf8').trim().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as { seq: number }).seq)).toEqual([4, 6]);
    expect(statSync(join(dir, LEDGER_ANCHOR_FILE)).mode & 0o777).toBe(0o600);
  });

  it('verifies from the command line: 0 when intact, 1 with the first bad row, 2 without a key', async () => {
    await history();
    await ledger.stop();
    const out: string[] = [];
    expect(await runLedgerVerify(['--data-dir', dir], {}, (l) => out.push(l))).toBe(0);
    expect(out.join('\n')).toContain('OK: chain, dispositions and anchors verified');

    sql(path, 'DROP TRIGGER disposal_events_no_delete; DELETE FROM disposal_events WHERE seq > 4;');
    out.length = 0;
    expect(await runLedgerVerify(['--data-dir', dir], {}, (l) => out.push(l))).toBe(1);
    expect(out.join('\n')).toMatch(/FAILED at row 5\n {2}rows 5\.\.6 were anchored/);

    rmSync(join(dir, LEDGER_KEY_FILE));
    out.length = 0;
    expect(await runLedgerVerify(['--data-dir', dir], {}, (l) => out.push(l))).toBe(2);
    expect(out.join('\n')).toMatch(/ledger key file '.*ledger\.key' does not exist/);
    await ledger.start(); // afterEach stops it
  });
});
