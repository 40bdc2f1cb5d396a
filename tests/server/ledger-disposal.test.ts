import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import {
  DisposalLedger,
  DisposalStateError,
  disposalCsv,
  GENESIS_HASH,
} from '../../server/alarms/disposal.js';
import { alarmRecord } from '../platform/fixtures.js';
import { T0 } from './fixtures.js';

const A1 = { enterpriseId: 'ent-01', gatewayId: 'gw-01', alarmId: 'a-1' };

describe('alarm disposal ledger', () => {
  let dir: string;
  let path: string;
  let clock: ManualClock;
  let ledger: DisposalLedger;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hw-disposal-'));
    path = join(dir, 'db.sqlite');
    clock = new ManualClock(T0);
    ledger = new DisposalLedger({ path, clock });
    await ledger.start();
  });

  afterEach(async () => {
    await ledger.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('follows an alarm from raise to close with one chained row per step', () => {
    ledger.track(alarmRecord());
    clock.advance(1000);
    ledger.acknowledge(A1, 'op1', 'seen');
    ledger.assign(A1, 'op1', 'shift-lead');
    ledger.recordMeasure(A1, 'shift-lead', 'closed valve XV-12, ventilation on');
    ledger.track(alarmRecord({ state: 'cleared', clearedAt: T0 + 5000 }));
    const closed = ledger.close(A1, 'shift-lead', 'flange gasket replaced');
    expect(closed).toMatchObject({
      status: 'closed',
      acknowledgedBy: 'op1',
      assignee: 'shift-lead',
      measures: 1,
      closedBy: 'shift-lead',
    });
    const events = ledger.events(A1);
    expect(events.map((e) => e.action)).toEqual([
      'raised',
      'acknowledged',
      'assigned',
      'measure',
      'cleared',
      'closed',
    ]);
    expect(events[0]?.prevHash).toBe(GENESIS_HASH);
    for (let i = 1; i < events.length; i++) expect(events[i]?.prevHash).toBe(events[i - 1]?.hash);
    expect(ledger.verify()).toMatchObject({ ok: true, rows: 6, brokenAt: null, reason: null });
  });

  it('records a redelivered raise or clear only once', () => {
    ledger.track(alarmRecord());
    ledger.track(alarmRecord());
    ledger.track(alarmRecord({ state: 'cleared', clearedAt: T0 + 1 }));
    ledger.track(alarmRecord({ state: 'cleared', clearedAt: T0 + 1 }));
    expect(ledger.events(A1).map((e) => e.action)).toEqual(['raised', 'cleared']);
  });

  it('refuses steps out of order', () => {
    ledger.track(alarmRecord());
    expect(() => ledger.close(A1, 'op', 'x')).toThrow(DisposalStateError);
    ledger.acknowledge(A1, 'op');
    expect(() => ledger.acknowledge(A1, 'op')).toThrow(/cannot be acknowledged while acknowledged/);
    ledger.close(A1, 'op', 'done');
    expect(() => ledger.recordMeasure(A1, 'op', 'late')).toThrow(DisposalStateError);
    expect(() => ledger.acknowledge({ ...A1, alarmId: 'nope' }, 'op')).toThrow(
      /'ent-01\/gw-01\/nope' is not in the disposal ledger/,
    );
  });

  it('refuses UPDATE and DELETE on the event rows', () => {
    ledger.track(alarmRecord());
    const db = new Database(path);
    try {
      expect(() => db.prepare("UPDATE disposal_events SET actor = 'x'").run()).toThrow(
        /append-only/,
      );
      expect(() => db.prepare('DELETE FROM disposal_events').run()).toThrow(/append-only/);
    } finally {
      db.close();
    }
  });

  it('detects a row edited behind its back (triggers dropped)', () => {
    ledger.track(alarmRecord());
    ledger.acknowledge(A1, 'op1');
    ledger.close(A1, 'op1', 'fixed');
    const db = new Database(path);
    try {
      db.exec('DROP TRIGGER disposal_events_no_update');
      db.prepare("UPDATE disposal_events SET actor = 'someone-else' WHERE seq = 2").run();
    } finally {
      db.close();
    }
    expect(ledger.verify()).toMatchObject({ ok: false, brokenAt: 2 });
  });

  it('detects a deleted row', () => {
    ledger.track(alarmRecord());
    ledger.acknowledge(A1, 'op1');
    ledger.close(A1, 'op1', 'fixed');
    const db = new Database(path);
    try {
      db.exec('DROP TRIGGER disposal_events_no_delete');
      db.prepare('DELETE FROM disposal_events WHERE seq = 2').run();
    } finally {
      db.close();
    }
    expect(ledger.verify()).toMatchObject({ ok: false, brokenAt: 2 });
  });

  it('escalates each level once and never past the province', () => {
    ledger.track(alarmRecord());
    expect(ledger.escalate(A1, 1, 'not acknowledged')).toHaveLength(1);
    expect(ledger.escalate(A1, 1, 'not acknowledged')).toHaveLength(0);
    const rows = ledger.escalate(A1, 9, 'not acknowledged');
    expect(rows.map((r) => r.detail.to)).toEqual(['city', 'province']);
    expect(ledger.disposition(A1)?.escalationLevel).toBe(3);
  });

  it('exports CSV with quoting and formula protection, filtered by enterprise', () => {
    ledger.track(alarmRecord());
    ledger.track(alarmRecord({ alarmId: 'b-1', enterpriseId: 'ent-02' }));
    ledger.acknowledge(A1, 'op1', '=HYPERLINK("x"), "quoted"');
    const csv = [...disposalCsv(ledger.allEvents(new Set(['ent-01'])))].join('');
    const lines = csv.trimEnd().split('\r\n');
    expect(lines[0]).toBe(
      'seq,enterpriseId,gatewayId,alarmId,action,actor,detail,at,prevHash,hash',
    );
    expect(lines).toHaveLength(3);
    expect(csv).not.toContain('ent-02');
    expect(lines[2]).toContain('"{""note"":""=HYPERLINK(\\""x\\""), \\""quoted\\""""}"');
  });

  it('keeps the chain across a restart', async () => {
    ledger.track(alarmRecord());
    await ledger.stop();
    ledger = new DisposalLedger({ path, clock });
    await ledger.start();
    ledger.acknowledge(A1, 'op1');
    expect(ledger.verify()).toMatchObject({ ok: true, rows: 2 });
  });
});
