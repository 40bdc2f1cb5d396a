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
import { Database as PlatformDatabase } from '../../server/db/database.js';
import { alarmRecord } from '../platform/fixtures.js';
import { T0 } from './fixtures.js';

const A1 = { enterpriseId: 'ent-01', gatewayId: 'gw-01', alarmId: 'a-1' };

describe('alarm disposal ledger', () => {
  let dir: string;
  let path: string;
  let clock: ManualClock;
  let ledger: DisposalLedger;
  let database: PlatformDatabase;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hw-disposal-'));
    path = join(dir, 'db.sqlite');
    clock = new ManualClock(T0);
    database = new PlatformDatabase({ kind: 'sqlite', path });
    await database.start();
    ledger = new DisposalLedger({ database, clock });
    await ledger.start();
  });

  afterEach(async () => {
    await ledger.stop();
    await database.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('follows an alarm from raise to close with one chained row per step', async () => {
    await ledger.track(alarmRecord());
    clock.advance(1000);
    await ledger.acknowledge(A1, 'op1', 'seen');
    await ledger.assign(A1, 'op1', 'shift-lead');
    await ledger.recordMeasure(A1, 'shift-lead', 'closed valve XV-12, ventilation on');
    await ledger.track(alarmRecord({ state: 'cleared', clearedAt: T0 + 5000 }));
    const closed = await ledger.close(A1, 'shift-lead', 'flange gasket replaced');
    expect(closed).toMatchObject({
      status: 'closed',
      acknowledgedBy: 'op1',
      assignee: 'shift-lead',
      measures: 1,
      closedBy: 'shift-lead',
    });
    const events = await ledger.events(A1);
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
    expect(await ledger.verify()).toMatchObject({
      ok: true,
      rows: 6,
      brokenAt: null,
      reason: null,
    });
  });

  it('records a redelivered raise or clear only once', async () => {
    await ledger.track(alarmRecord());
    await ledger.track(alarmRecord());
    await ledger.track(alarmRecord({ state: 'cleared', clearedAt: T0 + 1 }));
    await ledger.track(alarmRecord({ state: 'cleared', clearedAt: T0 + 1 }));
    expect((await ledger.events(A1)).map((e) => e.action)).toEqual(['raised', 'cleared']);
  });

  it('refuses steps out of order', async () => {
    await ledger.track(alarmRecord());
    await expect(ledger.close(A1, 'op', 'x')).rejects.toThrow(DisposalStateError);
    await ledger.acknowledge(A1, 'op');
    await expect(ledger.acknowledge(A1, 'op')).rejects.toThrow(
      /cannot be acknowledged while acknowledged/,
    );
    await ledger.close(A1, 'op', 'done');
    await expect(ledger.recordMeasure(A1, 'op', 'late')).rejects.toThrow(DisposalStateError);
    await expect(ledger.acknowledge({ ...A1, alarmId: 'nope' }, 'op')).rejects.toThrow(
      /'ent-01\/gw-01\/nope' is not in the disposal ledger/,
    );
  });

  it('refuses UPDATE and DELETE on the event rows', async () => {
    await ledger.track(alarmRecord());
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

  it('detects a row edited behind its back (triggers dropped)', async () => {
    await ledger.track(alarmRecord());
    await ledger.acknowledge(A1, 'op1');
    await ledger.close(A1, 'op1', 'fixed');
    const db = new Database(path);
    try {
      db.exec('DROP TRIGGER disposal_events_no_update');
      db.prepare("UPDATE disposal_events SET actor = 'someone-else' WHERE seq = 2").run();
    } finally {
      db.close();
    }
    expect(await ledger.verify()).toMatchObject({ ok: false, brokenAt: 2 });
  });

  it('detects a deleted row', async () => {
    await ledger.track(alarmRecord());
    await ledger.acknowledge(A1, 'op1');
    await ledger.close(A1, 'op1', 'fixed');
    const db = new Database(path);
    try {
      db.exec('DROP TRIGGER disposal_events_no_delete');
      db.prepare('DELETE FROM disposal_events WHERE seq = 2').run();
    } finally {
      db.close();
    }
    expect(await ledger.verify()).toMatchObject({ ok: false, brokenAt: 2 });
  });

  it('escalates each level once and never past the province', async () => {
    await ledger.track(alarmRecord());
    expect(await ledger.escalate(A1, 1, 'not acknowledged')).toHaveLength(1);
    expect(await ledger.escalate(A1, 1, 'not acknowledged')).toHaveLength(0);
    const rows = await ledger.escalate(A1, 9, 'not acknowledged');
    expect(rows.map((r) => r.detail.to)).toEqual(['city', 'province']);
    expect((await ledger.disposition(A1))?.escalationLevel).toBe(3);
  });

  it('exports CSV with quoting and formula protection, filtered by enterprise', async () => {
    await ledger.track(alarmRecord());
    await ledger.track(alarmRecord({ alarmId: 'b-1', enterpriseId: 'ent-02' }));
    await ledger.acknowledge(A1, 'op1', '=HYPERLINK("x"), "quoted"');
    const events = [];
    for await (const e of ledger.allEvents(new Set(['ent-01']))) events.push(e);
    const csv = [...disposalCsv(events)].join('');
    const lines = csv.trimEnd().split('\r\n');
    expect(lines[0]).toBe(
      'seq,enterpriseId,gatewayId,alarmId,action,actor,detail,at,prevHash,hash',
    );
    expect(lines).toHaveLength(3);
    expect(csv).not.toContain('ent-02');
    expect(lines[2]).toContain('"{""note"":""=HYPERLINK(\\""x\\""), \\""quoted\\""""}"');
  });

  it('keeps the chain across a restart', async () => {
    await ledger.track(alarmRecord());
    await ledger.stop();
    await database.stop();
    database = new PlatformDatabase({ kind: 'sqlite', path });
    await database.start();
    ledger = new DisposalLedger({ database, clock });
    await ledger.start();
    await ledger.acknowledge(A1, 'op1');
    expect(await ledger.verify()).toMatchObject({ ok: true, rows: 2 });
  });
});
