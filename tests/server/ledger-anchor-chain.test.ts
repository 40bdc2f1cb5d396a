/**
 * Issue 13 review (MEDIUM): the newest disposal rows could be deleted without the key and verify
 * still passed. Anchors were independent lines and a missing anchor file read as "no anchors", so
 * deleting the newest rows together with the anchor lines that covered them (or the whole anchor
 * file) left nothing to compare. Now anchors are chained, a running server anchors at start and
 * at least every heartbeat, and verify fails on a broken link, a missing file while the chain has
 * rows, and rows left unanchored behind a stale anchor (docs/ledger.md, "Anchors").
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ManualClock } from '../../common/clock.js';
import type { DisposalLedger } from '../../server/alarms/disposal.js';
import {
  AnchorFile,
  LEDGER_ANCHOR_FILE,
  type LedgerAnchor,
} from '../../server/alarms/ledger-anchors.js';
import {
  LEDGER_INTEGRITY_DEFAULTS,
  LedgerIntegrity,
} from '../../server/alarms/ledger-integrity.js';
import { runLedgerVerify } from '../../server/ledger-verify.js';
import { alarmRecord } from '../platform/fixtures.js';
import { type KeyedDisposal, sql, startKeyedDisposal } from './disposal-fixture.js';
import { T0 } from './fixtures.js';

const MIN = 60_000;
const A1 = { enterpriseId: 'ent-01', gatewayId: 'gw-01', alarmId: 'a-1' };

describe('anchors that cannot be dropped silently', () => {
  let fixture: KeyedDisposal;
  let dir: string;
  let path: string;
  let anchorPath: string;
  let clock: ManualClock;
  let key: Buffer;
  let ledger: DisposalLedger;
  let integrity: LedgerIntegrity;

  const lines = () =>
    readFileSync(anchorPath, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as LedgerAnchor);
  const keepLines = (keep: (a: LedgerAnchor) => boolean) =>
    writeFileSync(
      anchorPath,
      lines()
        .filter(keep)
        .map((a) => `${JSON.stringify(a)}\n`)
        .join(''),
    );
  const cli = async () => {
    const out: string[] = [];
    const code = await runLedgerVerify(['--data-dir', dir], {}, (l) => out.push(l), clock.now());
    return { code, out: out.join('\n') };
  };

  beforeEach(async () => {
    fixture = await startKeyedDisposal('hw-anchor-chain-');
    ({ dir, path, clock, key, ledger } = fixture);
    anchorPath = join(dir, LEDGER_ANCHOR_FILE);
    integrity = new LedgerIntegrity({
      disposal: ledger,
      key,
      anchorFile: new AnchorFile(anchorPath),
      clock,
    });
    await integrity.start();
  });

  afterEach(async () => {
    await integrity.stop();
    await fixture.stop();
  });

  /** Rows 1–3 anchored at 3 (T0 + 1 min); rows 4–5 (clears) anchored at 5 (T0 + 2 min). */
  async function history(): Promise<void> {
    await ledger.track(alarmRecord());
    await ledger.acknowledge(A1, 'op1', 'seen');
    await ledger.track(alarmRecord({ alarmId: 'a-2' }));
    clock.advance(MIN);
    await integrity.anchorNow();
    await ledger.track(alarmRecord({ state: 'cleared', clearedAt: T0 + 70_000 }));
    await ledger.track(alarmRecord({ alarmId: 'a-2', state: 'cleared', clearedAt: T0 + 80_000 }));
    clock.advance(MIN);
    await integrity.anchorNow();
  }

  it('chains each anchor to the one before it, from the start of the file', async () => {
    await history();
    const anchors = lines();
    expect(anchors.map((a) => a.seq)).toEqual([3, 5]);
    expect(anchors[0]!.prev).toBe('0'.repeat(64));
    expect(anchors[1]!.prev).toBe(anchors[0]!.mac);
    expect(await integrity.verifyNow()).toMatchObject({ ok: true, problems: [] });
  });

  it('the newest disposal rows can be deleted without the key and verify still passes: rows and their anchor lines deleted, the server anchors on and the link breaks', async () => {
    await history();
    sql(path, 'DROP TRIGGER disposal_events_no_delete; DELETE FROM disposal_events WHERE seq > 3;');
    keepLines((a) => a.seq <= 3);
    clock.advance(MIN);
    await integrity.anchorNow(); // the head "moved" back to 3: anchored, linked to the deleted anchor of 5
    const result = await integrity.verifyNow();
    expect(result.ok).toBe(false);
    expect(result.problems).toEqual([
      expect.stringMatching(
        /^anchor of row 3 at .* does not follow the anchor of row 3 at .*: anchor lines between them were deleted$/,
      ),
    ]);
  });

  it('rows and anchor lines deleted while the server is down: the CLI finds the rows left unanchored behind a stale anchor', async () => {
    await history();
    await integrity.stop();
    await ledger.stop();
    // Row 5 and the anchors of 5 (its stop anchor too) go; row 4 stays, so it is now unanchored.
    sql(path, 'DROP TRIGGER disposal_events_no_delete; DELETE FROM disposal_events WHERE seq > 4;');
    keepLines((a) => a.seq <= 3);
    expect((await cli()).code).toBe(0); // minutes later: row 4 may simply not be anchored yet
    clock.advance(LEDGER_INTEGRITY_DEFAULTS.heartbeatMs * 2 + MIN);
    const { code, out } = await cli();
    expect(code).toBe(1);
    expect(out).toMatch(
      /FAILED at row 4\n {2}rows 4\.\.4 are unanchored and the newest anchor \(row 3, .*\) is 22 min old \(limit 20 min\)/,
    );
    await ledger.start(); // afterEach stops it
  });

  it('deleting the whole anchor file is a failure, for the self-check and the CLI', async () => {
    await history();
    rmSync(anchorPath);
    const result = await integrity.verifyNow();
    expect(result).toMatchObject({ ok: false, brokenAt: 1 });
    expect(result.problems).toEqual([
      'no anchors (file missing or empty) while the chain has 5 rows: the anchor file was deleted or emptied',
    ]);
    writeFileSync(anchorPath, ''); // emptied rather than deleted: the same
    expect((await cli()).out).toMatch(
      /no anchors \(file missing or empty\) while the chain has 5 rows/,
    );
    // The server goes on anchoring: its next anchor links to the last one it wrote, not to the start.
    clock.advance(MIN);
    await ledger.track(alarmRecord({ alarmId: 'a-3' }));
    await integrity.anchorNow();
    expect((await integrity.verifyNow()).problems).toEqual([
      expect.stringMatching(
        /^anchor of row 6 at .* does not follow the start: anchor lines between them were deleted$/,
      ),
    ]);
  });

  it('a deleted anchor line in the middle breaks the link of the next one', async () => {
    await history();
    keepLines((a) => a.seq !== 3);
    expect((await integrity.verifyNow()).problems).toEqual([
      expect.stringMatching(
        /^anchor of row 5 at .* does not follow the start: anchor lines between them were deleted$/,
      ),
    ]);
  });

  it('a fresh install is not failed before its first tick (the self-check anchors what is due first), and an idle ledger stays fresh with heartbeat anchors', async () => {
    await ledger.track(alarmRecord({ alarmId: 'a-0' })); // the first row ever, before the first tick
    expect(await integrity.verifyNow()).toMatchObject({ ok: true, problems: [] });
    expect(lines().map((a) => a.seq)).toEqual([1]);
    clock.advance(MIN);
    await history();
    await ledger.track(alarmRecord({ alarmId: 'a-3' })); // not anchored yet
    expect((await integrity.verifyNow()).ok).toBe(true);
    await integrity.anchorNow();
    // Hours without a new row: the timer's ticks write a heartbeat every 10 min.
    for (let i = 0; i < 180; i++) {
      clock.advance(MIN);
      await integrity.anchorNow();
    }
    expect(lines().length).toBe(1 + 2 + 1 + 18); // a-0's, history's, a-3's, heartbeats
    await ledger.track(alarmRecord({ alarmId: 'a-4' })); // the first row after hours of quiet
    expect(await integrity.verifyNow()).toMatchObject({ ok: true, problems: [] });
  });

  it('a running server whose newest anchor is stale fails the self-check (the anchor file cannot be written)', async () => {
    await history();
    class FullDisk extends AnchorFile {
      override append(): void {
        throw new Error(`cannot append to ledger anchor file '${anchorPath}': ENOSPC`);
      }
    }
    const failing = new LedgerIntegrity({
      disposal: ledger,
      key,
      anchorFile: new FullDisk(anchorPath),
      clock,
    });
    clock.advance(LEDGER_INTEGRITY_DEFAULTS.heartbeatMs * 2 + MIN);
    expect((await failing.verifyNow()).problems).toEqual([
      expect.stringMatching(
        /^the newest anchor \(row 5, .*\) is 21 min old although the server anchors at least every 10 min/,
      ),
    ]);
    expect((await integrity.verifyNow()).ok).toBe(true); // the same chain, anchoring works: a heartbeat
  });
});
