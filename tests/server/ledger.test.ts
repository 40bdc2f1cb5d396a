import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { ALARM_TRANSITIONS } from '../../protocol/index.js';
import { AlarmConflictError, AlarmLedger } from '../../server/alarms/ledger.js';
import { alarmEvent, T0 } from './fixtures.js';

describe('alarm ledger', () => {
  let clock: ManualClock;
  let ledger: AlarmLedger;

  beforeEach(async () => {
    clock = new ManualClock(T0 + 500);
    ledger = new AlarmLedger({ path: ':memory:', clock });
    await ledger.start();
  });
  afterEach(async () => {
    await ledger.stop();
  });

  const lifecycle = ALARM_TRANSITIONS.filter((t) => t !== 'raised' && t !== 'cleared');

  it.each(lifecycle)(
    'keeps a %s transition as history only: an active alarm stays as it was raised',
    (transition) => {
      const raised = ledger.record(alarmEvent()).alarm;
      const result = ledger.record(alarmEvent({ transition, ts: T0 + 5_000, value: 60 }));
      expect(result).toMatchObject({ isNew: false, changed: false });
      expect(ledger.get(raised.alarmId)).toEqual(raised);
    },
  );

  it.each(lifecycle)(
    'creates no alarm from a %s transition that arrives first, so the late raise is still active',
    (transition) => {
      // A shelve of an idle point names the point key, not an occurrence.
      ledger.record(alarmEvent({ alarmId: 'GT-101-gas.level2', transition }));
      expect(ledger.get('GT-101-gas.level2')).toBeUndefined();
      ledger.record(alarmEvent({ transition, ts: T0 - 1 }));
      expect(ledger.get('GT-101-gas.L2.1')).toBeUndefined();
      const { alarm, isNew } = ledger.record(alarmEvent());
      expect(isNew).toBe(true);
      expect(alarm.state).toBe('active');
      expect(ledger.activeCount()).toBe(1);
    },
  );

  it('records a raised alarm as new and active with everything the event said', () => {
    const { isNew, changed, alarm } = ledger.record(alarmEvent());
    expect(isNew).toBe(true);
    expect(changed).toBe(true);
    expect(alarm).toEqual({
      alarmId: 'GT-101-gas.L2.1',
      gatewayId: 'gw-01',
      enterpriseId: 'ent-01',
      ruleId: 'GT-101-gas',
      sensorId: 'GT-101',
      sensorName: 'Reactor hall methane',
      installationId: 'unit-1',
      location: 'Reactor hall, east wall',
      gas: 'methane',
      level: 2,
      state: 'active',
      value: 52.4,
      unit: '%LEL',
      setpoint: 50,
      raisedAt: T0,
      clearedAt: null,
      drill: false,
      message: null,
      receivedAt: T0 + 500,
    });
    expect(ledger.get('GT-101-gas.L2.1')).toEqual(alarm);
  });

  it('does not create a second alarm when a raise is redelivered', () => {
    const raised = alarmEvent();
    ledger.record(raised);
    const again = ledger.record(raised);
    expect(again.isNew).toBe(false);
    expect(again.changed).toBe(false);
    expect(ledger.list({ state: 'all', limit: 10 })).toHaveLength(1);
  });

  it('clears an active alarm once', () => {
    ledger.record(alarmEvent());
    const cleared = alarmEvent({ transition: 'cleared', value: 12, ts: T0 + 60_000 });
    const first = ledger.record(cleared);
    expect(first).toMatchObject({ isNew: false, changed: true });
    expect(first.alarm).toMatchObject({
      state: 'cleared',
      raisedAt: T0,
      clearedAt: T0 + 60_000,
      value: 52.4,
    });
    expect(ledger.record(cleared).changed).toBe(false);
  });

  it('creates a cleared alarm when the clear arrives before its raise, and the late raise does not reactivate it', () => {
    const cleared = ledger.record(
      alarmEvent({ transition: 'cleared', value: 12, ts: T0 + 60_000 }),
    );
    expect(cleared.isNew).toBe(true);
    expect(cleared.alarm).toMatchObject({
      state: 'cleared',
      raisedAt: null,
      clearedAt: T0 + 60_000,
    });

    const late = ledger.record(alarmEvent({ transition: 'raised', ts: T0 }));
    expect(late.isNew).toBe(false);
    expect(late.alarm).toMatchObject({
      state: 'cleared',
      raisedAt: T0,
      clearedAt: T0 + 60_000,
      value: 52.4,
    });
    expect(ledger.list({ state: 'active', limit: 10 })).toEqual([]);
  });

  it('lists newest first, active only on request', () => {
    ledger.record(alarmEvent({ alarmId: 'a1', ts: T0 }));
    ledger.record(alarmEvent({ alarmId: 'a2', ts: T0 + 1_000 }));
    ledger.record(alarmEvent({ alarmId: 'a3', ts: T0 + 2_000 }));
    ledger.record(alarmEvent({ alarmId: 'a2', transition: 'cleared', ts: T0 + 3_000 }));
    expect(ledger.list({ state: 'all', limit: 10 }).map((a) => a.alarmId)).toEqual([
      'a3',
      'a2',
      'a1',
    ]);
    expect(ledger.list({ state: 'active', limit: 10 }).map((a) => a.alarmId)).toEqual(['a3', 'a1']);
    expect(ledger.list({ state: 'all', limit: 1 }).map((a) => a.alarmId)).toEqual(['a3']);
    expect(ledger.activeCount()).toBe(2);
  });

  it('refuses an alarmId another gateway already used, recording nothing', () => {
    ledger.record(alarmEvent());
    expect(() => ledger.record(alarmEvent({ gatewayId: 'gw-02', transition: 'cleared' }))).toThrow(
      AlarmConflictError,
    );
    expect(ledger.get('GT-101-gas.L2.1')?.state).toBe('active');
  });
});

describe('alarm ledger on disk', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps every distinct transition in an append-only event table that survives a restart', async () => {
    dir = mkdtempSync(join(tmpdir(), 'hw-ledger-'));
    const path = join(dir, 'hw.db');
    const ledger = new AlarmLedger({ path });
    await ledger.start();
    const raised = alarmEvent({ seq: 7 });
    ledger.record(raised);
    ledger.record(raised); // redelivery: same transition, same seq
    ledger.record(alarmEvent({ transition: 'cleared', seq: 8, ts: T0 + 1 }));
    await ledger.stop();

    const reopened = new AlarmLedger({ path });
    await reopened.start();
    expect(reopened.get('GT-101-gas.L2.1')?.state).toBe('cleared');
    await reopened.stop();

    const db = new Database(path);
    try {
      expect(
        db.prepare('SELECT transition, seq FROM alarm_events ORDER BY event_id').all(),
      ).toEqual([
        { transition: 'raised', seq: 7 },
        { transition: 'cleared', seq: 8 },
      ]);
      expect(() => db.prepare('DELETE FROM alarm_events').run()).toThrow('append-only');
      expect(() => db.prepare("UPDATE alarm_events SET transition = 'x'").run()).toThrow(
        'append-only',
      );
    } finally {
      db.close();
    }
  });
});
