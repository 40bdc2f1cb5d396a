import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { ALARM_TRANSITIONS } from '../../protocol/index.js';
import { type AlarmConflict, AlarmLedger } from '../../server/alarms/ledger.js';
import { alarmEvent, T0 } from './fixtures.js';

/** The identity of an alarm of the fixtures' gateway (ent-01 / gw-01). */
const key = (alarmId: string) => ({ enterpriseId: 'ent-01', gatewayId: 'gw-01', alarmId });

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
      expect(ledger.get(raised)).toEqual(raised);
    },
  );

  it.each(lifecycle)(
    'creates no alarm from a %s transition that arrives first, so the late raise is still active',
    (transition) => {
      // A shelve of an idle point names the point key, not an occurrence.
      ledger.record(alarmEvent({ alarmId: 'GT-101-gas.level2', transition }));
      expect(ledger.get(key('GT-101-gas.level2'))).toBeUndefined();
      ledger.record(alarmEvent({ transition, ts: T0 - 1 }));
      expect(ledger.get(key('GT-101-gas.L2.1'))).toBeUndefined();
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
    expect(ledger.get(key('GT-101-gas.L2.1'))).toEqual(alarm);
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

  it('keeps the same alarm id of two gateways of two enterprises as two alarms (issue 13)', () => {
    const mine = ledger.record(alarmEvent());
    const theirs = ledger.record(alarmEvent({ enterpriseId: 'ent-02', gatewayId: 'gw-02' }));
    expect(mine.isNew).toBe(true);
    expect(theirs.isNew).toBe(true);
    ledger.record(
      alarmEvent({ enterpriseId: 'ent-02', gatewayId: 'gw-02', transition: 'cleared', ts: T0 + 1 }),
    );
    expect(ledger.get(key('GT-101-gas.L2.1'))?.state).toBe('active');
    expect(
      ledger.get({ enterpriseId: 'ent-02', gatewayId: 'gw-02', alarmId: 'GT-101-gas.L2.1' })?.state,
    ).toBe('cleared');
    expect(ledger.activeSummary()).toEqual([
      { enterpriseId: 'ent-01', level1: 0, level2: 1, drills: 0 },
    ]);
  });

  it('records a reused identity with another rule under a derived id, reports it and drops nothing', async () => {
    const conflicts: AlarmConflict[] = [];
    await ledger.stop();
    ledger = new AlarmLedger({ path: ':memory:', clock, onConflict: (c) => conflicts.push(c) });
    await ledger.start();
    ledger.record(alarmEvent());
    const reused = ledger.record(alarmEvent({ ruleId: 'GT-102-gas', sensorId: 'GT-102' }));
    expect(reused).toMatchObject({ isNew: true, changed: true });
    expect(reused.alarm).toMatchObject({
      alarmId: 'GT-101-gas.L2.1~GT-102-gas~GT-102',
      sensorId: 'GT-102',
      state: 'active',
    });
    expect(conflicts).toEqual([
      {
        key: key('GT-101-gas.L2.1'),
        recordedAs: 'GT-101-gas.L2.1~GT-102-gas~GT-102',
        known: { ruleId: 'GT-101-gas', sensorId: 'GT-101' },
        got: expect.objectContaining({ ruleId: 'GT-102-gas', sensorId: 'GT-102' }),
      },
    ]);
    // Its clear finds the same derived occurrence; the first alarm is untouched.
    ledger.record(
      alarmEvent({ ruleId: 'GT-102-gas', sensorId: 'GT-102', transition: 'cleared', ts: T0 + 9 }),
    );
    expect(ledger.get(key('GT-101-gas.L2.1~GT-102-gas~GT-102'))?.state).toBe('cleared');
    expect(ledger.get(key('GT-101-gas.L2.1'))?.state).toBe('active');
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
    expect(reopened.get(key('GT-101-gas.L2.1'))?.state).toBe('cleared');
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

describe('alarm ledger schema migration', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** The version-1 tables as main had them before issue 13 (alarms keyed by alarm id alone). */
  const V1_SCHEMA = `
    CREATE TABLE alarms (
      alarm_id TEXT PRIMARY KEY, gateway_id TEXT NOT NULL, enterprise_id TEXT NOT NULL,
      rule_id TEXT NOT NULL, sensor_id TEXT NOT NULL, sensor_name TEXT, installation_id TEXT,
      location TEXT, gas TEXT, level INTEGER NOT NULL,
      state TEXT NOT NULL CHECK (state IN ('active', 'cleared')), value REAL, unit TEXT NOT NULL,
      setpoint REAL NOT NULL, raised_at INTEGER, cleared_at INTEGER, drill INTEGER NOT NULL,
      message TEXT, received_at INTEGER NOT NULL);
    CREATE INDEX alarms_recent ON alarms (COALESCE(raised_at, cleared_at));
    CREATE TABLE alarm_events (
      event_id INTEGER PRIMARY KEY AUTOINCREMENT, alarm_id TEXT NOT NULL, transition TEXT NOT NULL,
      gateway_id TEXT NOT NULL, enterprise_id TEXT NOT NULL, seq INTEGER NOT NULL,
      ts INTEGER NOT NULL, sent_at INTEGER NOT NULL, received_at INTEGER NOT NULL,
      level INTEGER NOT NULL, value REAL, drill INTEGER NOT NULL, payload TEXT NOT NULL,
      UNIQUE (alarm_id, transition, seq));
    CREATE TRIGGER alarm_events_no_delete BEFORE DELETE ON alarm_events
      BEGIN SELECT RAISE(ABORT, 'alarm_events is append-only'); END;
    INSERT INTO alarms VALUES ('GT-101-gas.L2.1', 'gw-01', 'ent-01', 'GT-101-gas', 'GT-101', NULL,
      NULL, NULL, 'methane', 2, 'active', 52.4, '%LEL', 50, 1000, NULL, 0, NULL, 1001);
    INSERT INTO alarm_events VALUES (1, 'GT-101-gas.L2.1', 'raised', 'gw-01', 'ent-01', 7, 1000,
      1000, 1001, 2, 52.4, 0, '{}');`;

  it('migrates a version-1 file in place: every alarm keeps its identity and its history', async () => {
    dir = mkdtempSync(join(tmpdir(), 'hw-ledger-v1-'));
    const path = join(dir, 'hw.db');
    const old = new Database(path);
    old.exec(V1_SCHEMA);
    old.close();

    const ledger = new AlarmLedger({ path });
    await ledger.start();
    expect(ledger.get(key('GT-101-gas.L2.1'))).toMatchObject({ state: 'active', raisedAt: 1000 });
    // Now another enterprise's gateway may use the same id.
    const other = ledger.record(alarmEvent({ enterpriseId: 'ent-02', gatewayId: 'gw-02' }));
    expect(other.isNew).toBe(true);
    await ledger.stop();

    const db = new Database(path);
    try {
      expect(
        db
          .prepare("SELECT version FROM schema_versions WHERE component = 'alarm-ledger'")
          .pluck()
          .get(),
      ).toBe(2);
      expect(db.prepare('SELECT COUNT(*) FROM alarm_events').pluck().get()).toBe(2);
      expect(() => db.prepare('DELETE FROM alarm_events').run()).toThrow('append-only');
    } finally {
      db.close();
    }
  });
});
