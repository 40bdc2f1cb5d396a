/**
 * Shared cases: the alarm ledger (server/alarms/ledger.ts), on every backend: recording,
 * idempotence, reordering, identity conflicts, listing and paging, the append-only history, and
 * nodes recording the same events (one after the other, and racing).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../common/clock.js';
import { ALARM_TRANSITIONS, type AlarmEvent } from '../../../protocol/index.js';
import {
  type AlarmConflict,
  AlarmLedger,
  type AlarmRecord,
  type RecordResult,
} from '../../../server/alarms/ledger.js';
import type { Database } from '../../../server/db/database.js';
import { alarmEvent, T0 } from '../../server/fixtures.js';
import type { Backend, StoreHandle } from '../backends.js';

/** The identity of an alarm of the fixtures' gateway (ent-01 / gw-01). */
const key = (alarmId: string) => ({ enterpriseId: 'ent-01', gatewayId: 'gw-01', alarmId });

const lifecycle = ALARM_TRANSITIONS.filter((t) => t !== 'raised' && t !== 'cleared');

export function alarmLedgerCases(backend: Backend): void {
  let store: StoreHandle;
  let clock: ManualClock;
  let node: Database;
  let ledger: AlarmLedger;
  let conflicts: AlarmConflict[];
  const running: AlarmLedger[] = [];

  async function ledgerOn(database: Database): Promise<AlarmLedger> {
    const l = new AlarmLedger({ database, clock, onConflict: (c) => conflicts.push(c) });
    await l.start();
    running.push(l);
    return l;
  }

  beforeEach(async () => {
    store = await backend.freshStore();
    clock = new ManualClock(T0 + 500);
    conflicts = [];
    node = await store.openNode('node-a');
    ledger = await ledgerOn(node);
  });
  afterEach(async () => {
    for (const l of running.splice(0)) await l.stop();
    await store.close();
  });

  const events = async (database: Database) =>
    database.db
      .selectFrom('alarm_events')
      .select(['alarm_id', 'transition', 'seq'])
      .orderBy('event_id')
      .execute();

  describe('alarm ledger', () => {
    it.each(lifecycle)(
      'keeps a %s transition as history only: an active alarm stays as it was raised',
      async (transition) => {
        const raised = (await ledger.record(alarmEvent())).alarm;
        const result = await ledger.record(alarmEvent({ transition, ts: T0 + 5_000, value: 60 }));
        expect(result).toMatchObject({ isNew: false, changed: false, alarm: raised });
        expect(await ledger.get(raised)).toEqual(raised);
        expect((await events(node)).map((e) => e.transition)).toEqual(['raised', transition]);
      },
    );

    it.each(lifecycle)(
      'creates no alarm from a %s transition that arrives first, so the late raise is still active',
      async (transition) => {
        // A shelve of an idle point names the point key, not an occurrence.
        await ledger.record(alarmEvent({ alarmId: 'GT-101-gas.level2', transition }));
        expect(await ledger.get(key('GT-101-gas.level2'))).toBeUndefined();
        await ledger.record(alarmEvent({ transition, ts: T0 - 1 }));
        expect(await ledger.get(key('GT-101-gas.L2.1'))).toBeUndefined();
        const { alarm, isNew } = await ledger.record(alarmEvent());
        expect(isNew).toBe(true);
        expect(alarm.state).toBe('active');
        expect(await ledger.activeCount()).toBe(1);
      },
    );

    it('records a raised alarm as new and active with everything the event said, value for value', async () => {
      const { isNew, changed, alarm } = await ledger.record(alarmEvent());
      expect(isNew).toBe(true);
      expect(changed).toBe(true);
      const expected: AlarmRecord = {
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
        setpoint: 50, // GB/T 50493-2019 §5.5.3 item 1: level 2 <= 50 %LEL
        raisedAt: T0,
        clearedAt: null,
        drill: false,
        message: null,
        receivedAt: T0 + 500,
      };
      expect(alarm).toEqual(expected);
      // As read back from the database (numbers as numbers, nulls as nulls on both engines).
      expect(await ledger.get(key('GT-101-gas.L2.1'))).toEqual(expected);
    });

    it('keeps the event as received, with the server time it arrived', async () => {
      const raised = alarmEvent({ seq: 41, sentAt: T0 + 7 });
      await ledger.record(raised);
      const rows = await node.db.selectFrom('alarm_events').selectAll().execute();
      expect(rows).toEqual([
        {
          event_id: expect.any(Number),
          alarm_id: 'GT-101-gas.L2.1',
          transition: 'raised',
          gateway_id: 'gw-01',
          enterprise_id: 'ent-01',
          seq: 41,
          ts: T0,
          sent_at: T0 + 7,
          received_at: T0 + 500,
          level: 2,
          value: 52.4,
          drill: 0,
          payload: JSON.stringify(raised),
        },
      ]);
      await expect(node.db.deleteFrom('alarm_events').execute()).rejects.toThrow('append-only');
    });

    it('does not create a second alarm nor a second event when a raise is redelivered', async () => {
      const raised = alarmEvent();
      await ledger.record(raised);
      const again = await ledger.record(raised);
      expect(again).toMatchObject({ isNew: false, changed: false });
      expect(await ledger.list({ state: 'all', limit: 10 })).toHaveLength(1);
      expect(await events(node)).toHaveLength(1);
    });

    it('clears an active alarm once', async () => {
      await ledger.record(alarmEvent());
      const cleared = alarmEvent({ transition: 'cleared', value: 12, ts: T0 + 60_000 });
      const first = await ledger.record(cleared);
      expect(first).toMatchObject({ isNew: false, changed: true });
      expect(first.alarm).toMatchObject({
        state: 'cleared',
        raisedAt: T0,
        clearedAt: T0 + 60_000,
        value: 52.4,
      });
      expect((await ledger.record(cleared)).changed).toBe(false);
      expect(await ledger.get(key('GT-101-gas.L2.1'))).toEqual(first.alarm);
    });

    it('creates a cleared alarm when the clear arrives before its raise, and the late raise does not reactivate it', async () => {
      const cleared = await ledger.record(
        alarmEvent({ transition: 'cleared', value: 12, ts: T0 + 60_000 }),
      );
      expect(cleared.isNew).toBe(true);
      expect(cleared.alarm).toMatchObject({
        state: 'cleared',
        raisedAt: null,
        clearedAt: T0 + 60_000,
      });
      const late = await ledger.record(alarmEvent({ transition: 'raised', ts: T0 }));
      expect(late).toMatchObject({ isNew: false, changed: true });
      expect(late.alarm).toMatchObject({
        state: 'cleared',
        raisedAt: T0,
        clearedAt: T0 + 60_000,
        value: 52.4,
      });
      expect(await ledger.get(key('GT-101-gas.L2.1'))).toEqual(late.alarm);
      expect(await ledger.list({ state: 'active', limit: 10 })).toEqual([]);
    });

    it('keeps the same alarm id of two gateways of two enterprises as two alarms (issue 13)', async () => {
      const mine = await ledger.record(alarmEvent());
      const theirs = await ledger.record(
        alarmEvent({ enterpriseId: 'ent-02', gatewayId: 'gw-02' }),
      );
      expect(mine.isNew).toBe(true);
      expect(theirs.isNew).toBe(true);
      await ledger.record(
        alarmEvent({
          enterpriseId: 'ent-02',
          gatewayId: 'gw-02',
          transition: 'cleared',
          ts: T0 + 1,
        }),
      );
      expect((await ledger.get(key('GT-101-gas.L2.1')))?.state).toBe('active');
      const other = { enterpriseId: 'ent-02', gatewayId: 'gw-02', alarmId: 'GT-101-gas.L2.1' };
      expect((await ledger.get(other))?.state).toBe('cleared');
      expect(await ledger.activeSummary()).toEqual([
        { enterpriseId: 'ent-01', level1: 0, level2: 1, drills: 0 },
      ]);
    });

    it('counts active alarms per enterprise by level, drills apart', async () => {
      await ledger.record(alarmEvent({ alarmId: 'a1', level: 1 }));
      await ledger.record(alarmEvent({ alarmId: 'a2', level: 2 }));
      await ledger.record(alarmEvent({ alarmId: 'a3', level: 2, drill: true }));
      await ledger.record(alarmEvent({ alarmId: 'a4', level: 2, transition: 'cleared' }));
      await ledger.record(
        alarmEvent({ alarmId: 'b1', enterpriseId: 'ent-02', gatewayId: 'gw-02', level: 1 }),
      );
      const summary = await ledger.activeSummary();
      expect(summary.sort((a, b) => a.enterpriseId.localeCompare(b.enterpriseId))).toEqual([
        { enterpriseId: 'ent-01', level1: 1, level2: 1, drills: 1 },
        { enterpriseId: 'ent-02', level1: 1, level2: 0, drills: 0 },
      ]);
      expect(await ledger.activeCount()).toBe(4);
    });

    it('records a reused identity with another rule under a derived id, reports it and drops nothing', async () => {
      await ledger.record(alarmEvent());
      const reused = await ledger.record(alarmEvent({ ruleId: 'GT-102-gas', sensorId: 'GT-102' }));
      expect(reused).toMatchObject({ isNew: true, changed: true });
      expect(reused.alarm).toMatchObject({
        alarmId: 'GT-101-gas.L2.1~GT-102-gas~GT-102',
        sensorId: 'GT-102',
        state: 'active',
      });
      expect(reused.conflict?.recordedAs).toBe('GT-101-gas.L2.1~GT-102-gas~GT-102');
      expect(conflicts).toEqual([
        {
          key: key('GT-101-gas.L2.1'),
          recordedAs: 'GT-101-gas.L2.1~GT-102-gas~GT-102',
          known: { ruleId: 'GT-101-gas', sensorId: 'GT-101' },
          got: expect.objectContaining({ ruleId: 'GT-102-gas', sensorId: 'GT-102' }),
        },
      ]);
      // Its clear finds the same derived occurrence; the first alarm is untouched.
      await ledger.record(
        alarmEvent({ ruleId: 'GT-102-gas', sensorId: 'GT-102', transition: 'cleared', ts: T0 + 9 }),
      );
      expect((await ledger.get(key('GT-101-gas.L2.1~GT-102-gas~GT-102')))?.state).toBe('cleared');
      expect((await ledger.get(key('GT-101-gas.L2.1')))?.state).toBe('active');
      // Both transitions are history of the derived id, each with the event as it arrived.
      const rows = await node.db
        .selectFrom('alarm_events')
        .select(['alarm_id', 'transition', 'payload'])
        .orderBy('event_id')
        .execute();
      expect(rows.map((r) => [r.alarm_id, r.transition])).toEqual([
        ['GT-101-gas.L2.1', 'raised'],
        ['GT-101-gas.L2.1~GT-102-gas~GT-102', 'raised'],
        ['GT-101-gas.L2.1~GT-102-gas~GT-102', 'cleared'],
      ]);
      expect(JSON.parse(rows[1]!.payload).alarmId).toBe('GT-101-gas.L2.1');
    });

    it('lists newest first, active only on request, ties in byte order of the identity', async () => {
      await ledger.record(alarmEvent({ alarmId: 'a1', ts: T0 }));
      await ledger.record(alarmEvent({ alarmId: 'a2', ts: T0 + 1_000 }));
      await ledger.record(alarmEvent({ alarmId: 'a3', ts: T0 + 2_000 }));
      await ledger.record(alarmEvent({ alarmId: 'a2', transition: 'cleared', ts: T0 + 3_000 }));
      // Same time: 'B' (0x42) before 'a' (0x61) in byte order, whatever the database's locale.
      await ledger.record(alarmEvent({ alarmId: 'b', ts: T0 + 5_000 }));
      await ledger.record(alarmEvent({ alarmId: 'B', ts: T0 + 5_000 }));
      const ids = (alarms: AlarmRecord[]) => alarms.map((a) => a.alarmId);
      expect(ids(await ledger.list({ state: 'all', limit: 10 }))).toEqual([
        'B',
        'b',
        'a3',
        'a2',
        'a1',
      ]);
      expect(ids(await ledger.list({ state: 'active', limit: 10 }))).toEqual([
        'B',
        'b',
        'a3',
        'a1',
      ]);
      expect(ids(await ledger.list({ state: 'all', limit: 1 }))).toEqual(['B']);
      expect(await ledger.list({ enterpriseIds: [] })).toEqual([]);
      expect(await ledger.list({ enterpriseIds: ['ent-02'] })).toEqual([]);
      expect(await ledger.activeCount()).toBe(4);
    });

    it('pages a time range oldest first by keyset, in the caller’s enterprises, every alarm once', async () => {
      for (let i = 0; i < 7; i++) {
        await ledger.record(alarmEvent({ alarmId: `a${i}`, ts: T0 + Math.floor(i / 2) * 1_000 }));
        await ledger.record(
          alarmEvent({
            alarmId: `a${i}`,
            enterpriseId: 'ent-02',
            gatewayId: 'gw-02',
            ts: T0 + i * 1_000,
          }),
        );
      }
      // Cleared before its raise arrived: its time is the clear's.
      await ledger.record(alarmEvent({ alarmId: 'late', transition: 'cleared', ts: T0 + 1_500 }));
      const seen: string[] = [];
      let after = null;
      let pages = 0;
      do {
        const page = await ledger.listBetween({
          from: T0,
          to: T0 + 2_000,
          enterpriseIds: ['ent-01'],
          limit: 3,
          after,
        });
        seen.push(...page.alarms.map((a) => `${a.raisedAt ?? a.clearedAt}:${a.alarmId}`));
        after = page.next;
        pages++;
      } while (after && pages < 10);
      expect(seen).toEqual([
        `${T0}:a0`,
        `${T0}:a1`,
        `${T0 + 1_000}:a2`,
        `${T0 + 1_000}:a3`,
        `${T0 + 1_500}:late`,
        `${T0 + 2_000}:a4`,
        `${T0 + 2_000}:a5`,
      ]);
      expect(pages).toBe(3);
      const all = await ledger.listBetween({ from: T0, to: T0 + 60_000 });
      expect(all.alarms).toHaveLength(15);
      expect(all.next).toBeNull();
      expect(await ledger.listBetween({ from: T0, to: T0 + 1, enterpriseIds: [] })).toEqual({
        alarms: [],
        next: null,
      });
      await expect(ledger.listBetween({ from: T0, to: T0 + 1, limit: 0 })).rejects.toThrow(
        'listBetween limit must be an integer from 1 to 10000 (got 0)',
      );
    });

    it('refuses every call while not started, naming the ledger', async () => {
      const idle = new AlarmLedger({ database: node, clock });
      await expect(idle.record(alarmEvent())).rejects.toThrow('alarm ledger is not started');
      await expect(idle.list()).rejects.toThrow('alarm ledger is not started');
      await expect(idle.get(key('x'))).rejects.toThrow('alarm ledger is not started');
    });
  });

  describe('alarm ledger on two nodes', () => {
    it('a resent event that reaches another node is recognised: not a new alarm, not a second event', async () => {
      const other = await ledgerOn(await store.openNode('node-b'));
      const raised = alarmEvent();
      expect((await ledger.record(raised)).isNew).toBe(true);
      expect(await other.record(raised)).toMatchObject({ isNew: false, changed: false });
      const cleared = alarmEvent({ transition: 'cleared', ts: T0 + 60_000 });
      expect((await other.record(cleared)).changed).toBe(true);
      expect(await ledger.record(cleared)).toMatchObject({ isNew: false, changed: false });
      expect(await ledger.get(key('GT-101-gas.L2.1'))).toMatchObject({
        state: 'cleared',
        raisedAt: T0,
        clearedAt: T0 + 60_000,
      });
      expect(await events(node)).toEqual([
        { alarm_id: 'GT-101-gas.L2.1', transition: 'raised', seq: raised.seq },
        { alarm_id: 'GT-101-gas.L2.1', transition: 'cleared', seq: cleared.seq },
      ]);
    });

    it('two nodes racing on the same raises and clears: one creation per alarm, each transition applied once, nothing lost', async () => {
      // Two server processes on PostgreSQL. Embedded mode runs one Database per process
      // (server/db/database.ts): its racers are two ledgers on that one Database.
      const otherNode = backend.kind === 'postgres' ? await store.openNode('node-b') : node;
      const other = await ledgerOn(otherNode);
      const ALARMS = 40;
      const perAlarm: { event: AlarmEvent; via: AlarmLedger }[][] = [];
      for (let i = 0; i < ALARMS; i++) {
        const raised = alarmEvent({ alarmId: `race-${i}`, ts: T0 + i });
        const cleared = alarmEvent({ alarmId: `race-${i}`, transition: 'cleared', ts: T0 + i + 1 });
        // Every event reaches both nodes (a redelivery after a reconnect to the other one).
        perAlarm.push([
          { event: raised, via: ledger },
          { event: cleared, via: other },
          { event: raised, via: other },
          { event: cleared, via: ledger },
        ]);
      }
      const results: RecordResult[][] = await Promise.all(
        perAlarm.map((calls) => Promise.all(calls.map(({ event, via }) => via.record(event)))),
      );
      for (let i = 0; i < ALARMS; i++) {
        const r = results[i]!;
        const summary = {
          alarm: i,
          created: r.filter((x) => x.isNew).length,
          // The creation, and the other transition once (a late raise fills in raisedAt).
          changed: r.filter((x) => x.changed).length,
        };
        expect(summary).toEqual({ alarm: i, created: 1, changed: 2 });
        expect(await other.get(key(`race-${i}`))).toMatchObject({
          state: 'cleared',
          raisedAt: T0 + i,
          clearedAt: T0 + i + 1,
        });
      }
      const history = await events(node);
      expect(history).toHaveLength(2 * ALARMS);
      expect(new Set(history.map((e) => `${e.alarm_id}/${e.transition}`)).size).toBe(2 * ALARMS);
      expect(await ledger.activeCount()).toBe(0);
    });

    it('two nodes racing on a reused identity: one derived occurrence, both audited, the first alarm untouched', async () => {
      const otherNode = backend.kind === 'postgres' ? await store.openNode('node-b') : node;
      const other = await ledgerOn(otherNode);
      await ledger.record(alarmEvent());
      const reused = alarmEvent({ ruleId: 'GT-102-gas', sensorId: 'GT-102' });
      const [a, b] = await Promise.all([ledger.record(reused), other.record(reused)]);
      expect([a!.isNew, b!.isNew].sort()).toEqual([false, true]);
      expect(a!.conflict?.recordedAs).toBe('GT-101-gas.L2.1~GT-102-gas~GT-102');
      expect(b!.conflict?.recordedAs).toBe('GT-101-gas.L2.1~GT-102-gas~GT-102');
      expect(conflicts).toHaveLength(2);
      expect((await ledger.list({ state: 'all' })).map((x) => x.alarmId).sort()).toEqual([
        'GT-101-gas.L2.1',
        'GT-101-gas.L2.1~GT-102-gas~GT-102',
      ]);
      expect(await ledger.get(key('GT-101-gas.L2.1'))).toMatchObject({ ruleId: 'GT-101-gas' });
      expect(await events(node)).toHaveLength(2);
    });
  });
}
