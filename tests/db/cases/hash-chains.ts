/**
 * Shared cases: the two keyed hash chains (the disposal ledger and the hazard ledger), on every
 * backend: append and verify, tampering found (a chain row rewritten, a projection row forged,
 * another key), and nodes appending to one chain at the same moment without forking it.
 *
 * Racing: on PostgreSQL two nodes are two Databases (two pools) on one database, as two server
 * processes are; on SQLite a process has one Database (database.ts: one connection per file per
 * process), so the race there is many concurrent callers and two ledger objects on that one.
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../common/clock.js';
import { DisposalLedger } from '../../../server/alarms/disposal.js';
import type { AlarmRecord } from '../../../server/alarms/ledger.js';
import type { Database } from '../../../server/db/database.js';
import { SupervisionStore } from '../../../server/supervision/store.js';
import { alarmRecord } from '../../platform/fixtures.js';
import type { Backend, StoreHandle } from '../backends.js';

const T0 = Date.UTC(2026, 11, 7, 8, 0, 0);
const RACE_APPENDS = 40;

const alarm = (i: number, overrides: Partial<AlarmRecord> = {}): AlarmRecord =>
  alarmRecord({ alarmId: `a-${i}`, ...overrides });

/**
 * Rewrites rows behind the ledger's back, as someone with write access to the database would:
 * the append-only triggers are switched off first (SQLite: dropped; PostgreSQL: disabled).
 */
async function forge(node: Database, table: string, statement: string): Promise<void> {
  if (node.kind === 'sqlite') {
    await sql.raw(`DROP TRIGGER IF EXISTS ${table}_no_update`).execute(node.db);
  } else {
    await sql.raw(`ALTER TABLE ${table} DISABLE TRIGGER USER`).execute(node.db);
  }
  await sql.raw(statement).execute(node.db);
}

export function hashChainCases(backend: Backend): void {
  let store: StoreHandle;
  let clock: ManualClock;
  const key = randomBytes(32);
  beforeEach(async () => {
    store = await backend.freshStore();
    clock = new ManualClock(T0);
  });
  afterEach(async () => {
    await store.close();
  });

  async function disposalOn(node: Database, withKey = key): Promise<DisposalLedger> {
    const ledger = new DisposalLedger({ database: node, clock, key: withKey });
    await ledger.start();
    return ledger;
  }

  async function hazardsOn(node: Database, withKey = key): Promise<SupervisionStore> {
    const s = new SupervisionStore({ database: node, clock, key: withKey });
    await s.start();
    return s;
  }

  const openHazard = (s: SupervisionStore, i: number) =>
    s.append({
      hazardId: null,
      enterpriseId: 'ent-01',
      installationId: null,
      action: 'opened',
      actor: 'system',
      detail: {
        kind: 'data-quality',
        severity: 'general',
        title: `hazard ${i}`,
        source: 'screening',
        evidence: { i },
        deadline: T0 + 86_400_000,
      },
    });

  /** Two racing writers: two nodes on PostgreSQL, two ledger objects on one node on SQLite. */
  async function racingNodes(): Promise<[Database, Database]> {
    const a = await store.openNode('node-a');
    const b = backend.kind === 'postgres' ? await store.openNode('node-b') : a;
    return [a, b];
  }

  describe('disposal chain', () => {
    it('appends keyed rows 1..n that verify, with head() and hashAt() naming the newest', async () => {
      const ledger = await disposalOn(await store.openNode('node-1'));
      expect(await ledger.head()).toBeNull();
      await ledger.track(alarm(1));
      clock.advance(1_000);
      await ledger.acknowledge(alarm(1), 'op1', '现场确认');
      await ledger.escalate(alarm(1), 2, 'not disposed');
      const events = await ledger.events(alarm(1));
      expect(events.map((e) => [e.seq, e.action])).toEqual([
        [1, 'raised'],
        [2, 'acknowledged'],
        [3, 'escalated'],
        [4, 'escalated'],
      ]);
      expect(await ledger.head()).toEqual({ seq: 4, hash: events[3]!.hash });
      expect(await ledger.hashAt(2)).toBe(events[1]!.hash);
      expect(await ledger.hashAt(5)).toBeUndefined();
      expect(await ledger.verify()).toMatchObject({
        ok: true,
        rows: 4,
        brokenAt: null,
        head: { seq: 4 },
      });
      expect(await ledger.disposition(alarm(1))).toMatchObject({
        status: 'acknowledged',
        acknowledgedBy: 'op1',
        escalationLevel: 2,
      });
    });

    it('finds a rewritten row (its MAC no longer matches) and names it', async () => {
      const node = await store.openNode('node-1');
      const ledger = await disposalOn(node);
      for (let i = 1; i <= 3; i++) await ledger.track(alarm(i));
      await forge(
        node,
        'disposal_events',
        `UPDATE disposal_events SET actor = 'mallory' WHERE seq = 2`,
      );
      expect(await ledger.verify()).toMatchObject({
        ok: false,
        brokenAt: 2,
        reason: 'hash does not match the row content (or another key made it)',
      });
    });

    it('finds a forged disposition (the table says closed, the chain does not)', async () => {
      const node = await store.openNode('node-1');
      const ledger = await disposalOn(node);
      await ledger.track(alarm(1));
      await ledger.track(alarm(2));
      await sql`UPDATE alarm_dispositions SET status = 'closed', closed_by = 'nobody'
        WHERE alarm_id = 'a-2'`.execute(node.db);
      const result = await ledger.verify();
      expect(result).toMatchObject({ ok: false, brokenAt: 2 });
      expect(result.projection.differences).toBe(1);
      expect(result.projection.problems[0]).toMatch(/a-2.*status: chain "open", table "closed"/);
    });

    it('refuses a chain made with another key at its first row', async () => {
      const node = await store.openNode('node-1');
      await (await disposalOn(node)).track(alarm(1));
      const other = await disposalOn(node, randomBytes(32));
      expect(await other.verify()).toMatchObject({ ok: false, brokenAt: 1 });
    });

    it(`${RACE_APPENDS} appends racing from two nodes make one chain of ${RACE_APPENDS} links that verifies`, async () => {
      const [a, b] = await racingNodes();
      const ledgers = [await disposalOn(a), await disposalOn(b)];
      await Promise.all(
        Array.from({ length: RACE_APPENDS }, (_, i) => ledgers[i % 2]!.track(alarm(i))),
      );
      const result = await ledgers[0]!.verify();
      expect(result).toMatchObject({ ok: true, rows: RACE_APPENDS, brokenAt: null });
      expect(result.head?.seq).toBe(RACE_APPENDS);
      expect(await ledgers[1]!.head()).toEqual(result.head);
    });

    it('two nodes tracking the same alarms at once record each raise and clear once', async () => {
      const [a, b] = await racingNodes();
      const ledgers = [await disposalOn(a), await disposalOn(b)];
      const alarms = Array.from({ length: 10 }, (_, i) =>
        alarm(i, { state: 'cleared', clearedAt: T0 + 5_000 }),
      );
      const appended = await Promise.all(alarms.flatMap((al) => ledgers.map((l) => l.track(al))));
      expect(appended.flat()).toHaveLength(20);
      expect(await ledgers[1]!.verify()).toMatchObject({ ok: true, rows: 20 });
      for (const al of alarms) {
        expect((await ledgers[0]!.events(al)).map((e) => e.action)).toEqual(['raised', 'cleared']);
      }
    });

    it('two nodes escalating the same alarm at once record each level once', async () => {
      const [a, b] = await racingNodes();
      const ledgers = [await disposalOn(a), await disposalOn(b)];
      await ledgers[0]!.track(alarm(1));
      const rows = await Promise.all([
        ledgers[0]!.escalate(alarm(1), 3, 'not acknowledged'),
        ledgers[1]!.escalate(alarm(1), 3, 'not acknowledged'),
      ]);
      expect(rows.flat().map((r) => r.detail.level)).toEqual([1, 2, 3]);
      expect(await ledgers[0]!.verify()).toMatchObject({ ok: true, rows: 4 });
    });
  });

  describe('hazard chain', () => {
    it('appends keyed rows that verify; records are numbered from the chain', async () => {
      const s = await hazardsOn(await store.openNode('node-1'));
      const first = await openHazard(s, 1);
      expect(first.hazardId).toBe('HZ-000001');
      await s.append({
        hazardId: first.hazardId,
        enterpriseId: 'ent-01',
        installationId: null,
        action: 'assigned',
        actor: 'admin',
        detail: { responsible: '李四' },
      });
      expect((await openHazard(s, 2)).hazardId).toBe('HZ-000003');
      expect((await s.events(first.hazardId)).map((e) => e.action)).toEqual(['opened', 'assigned']);
      const head = await s.head();
      expect(head?.seq).toBe(3);
      expect(await s.hashAt(3)).toBe(head?.hash);
      expect(await s.verify()).toMatchObject({ ok: true, rows: 3, brokenAt: null });
    });

    it('finds a rewritten row and a forged record', async () => {
      const node = await store.openNode('node-1');
      const s = await hazardsOn(node);
      for (let i = 1; i <= 3; i++) await openHazard(s, i);
      await sql`UPDATE hazards SET record = replace(record, '"status":"open"', '"status":"closed"')
        WHERE hazard_id = 'HZ-000003'`.execute(node.db);
      expect(await s.verify()).toMatchObject({
        ok: false,
        brokenAt: 3,
        projection: { differences: 1, problems: ['HZ-000003: differs from the chain'] },
      });
      await forge(node, 'hazard_events', `UPDATE hazard_events SET detail = '{}' WHERE seq = 2`);
      expect(await s.verify()).toMatchObject({
        ok: false,
        brokenAt: 2,
        reason: 'hash does not match the row content (or another key made it)',
      });
    });

    it('refuses a chain made with another key at its first row', async () => {
      const node = await store.openNode('node-1');
      await openHazard(await hazardsOn(node), 1);
      expect(await (await hazardsOn(node, randomBytes(32))).verify()).toMatchObject({
        ok: false,
        brokenAt: 1,
      });
    });

    it(`${RACE_APPENDS} records opened racing from two nodes: ${RACE_APPENDS} links, distinct ids, verified`, async () => {
      const [a, b] = await racingNodes();
      const stores = [await hazardsOn(a), await hazardsOn(b)];
      const opened = await Promise.all(
        Array.from({ length: RACE_APPENDS }, (_, i) => openHazard(stores[i % 2]!, i)),
      );
      expect(new Set(opened.map((h) => h.hazardId)).size).toBe(RACE_APPENDS);
      expect(await stores[1]!.verify()).toMatchObject({
        ok: true,
        rows: RACE_APPENDS,
        head: { seq: RACE_APPENDS },
      });
    });
  });

  it('both chains race at once without disturbing each other (one lock per chain)', async () => {
    const [a, b] = await racingNodes();
    const disposal = [await disposalOn(a), await disposalOn(b)];
    const hazards = [await hazardsOn(a), await hazardsOn(b)];
    await Promise.all(
      Array.from({ length: RACE_APPENDS }, (_, i) =>
        i % 2 === 0
          ? disposal[(i / 2) % 2]!.track(alarm(i))
          : openHazard(hazards[i % 4 === 1 ? 0 : 1]!, i),
      ),
    );
    expect(await disposal[0]!.verify()).toMatchObject({ ok: true, rows: RACE_APPENDS / 2 });
    expect(await hazards[0]!.verify()).toMatchObject({ ok: true, rows: RACE_APPENDS / 2 });
  });
}
