/** Shared cases: migrations and the platform tables, on every backend. */
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LATEST_MIGRATION, MIGRATIONS } from '../../../server/db/migrations/index.js';
import type { PlatformSchema } from '../../../server/db/schema.js';
import type { Backend, StoreHandle } from '../backends.js';
import { ORDER_BY, STORE_ROWS } from './fixtures.js';

const TABLES = Object.keys(STORE_ROWS) as (keyof PlatformSchema)[];

export function schemaCases(backend: Backend): void {
  let store: StoreHandle;
  beforeEach(async () => {
    store = await backend.freshStore();
  });
  afterEach(async () => {
    await store.close();
  });

  describe('migrations', () => {
    it('apply every migration to an empty store, creating every platform table', async () => {
      const node = await store.openNode('node-1');
      expect(await node.appliedMigrations()).toEqual(Object.keys(MIGRATIONS));
      const tables = (await node.db.introspection.getTables()).map((t) => t.name);
      expect(tables).toEqual(expect.arrayContaining(TABLES));
    });

    it('are idempotent: a second node (or a restart) applies none and changes nothing', async () => {
      const first = await store.openNode('node-1');
      const before = await first.db.introspection.getTables();
      const second = await store.openNode('node-2');
      expect(await second.migrate()).toEqual({ applied: [], latest: LATEST_MIGRATION });
      expect(await first.migrate()).toEqual({ applied: [], latest: LATEST_MIGRATION });
      expect(await second.db.introspection.getTables()).toEqual(before);
    });

    it('give every table exactly the columns the stores write', async () => {
      const node = await store.openNode('node-1');
      const tables = await node.db.introspection.getTables();
      for (const table of TABLES) {
        const columns = tables.find((t) => t.name === table)?.columns.map((c) => c.name);
        const written = Object.keys(STORE_ROWS[table][0]!);
        const generated = {
          alarm_events: 'event_id',
          disposal_events: 'seq',
          audit_records: 'id',
          hazard_events: 'seq',
          supervision_grade_history: 'id',
          supervision_outages: 'id',
        };
        const expected = [generated[table as keyof typeof generated], ...written].filter(Boolean);
        expect({ table, columns: columns?.sort() }).toEqual({ table, columns: expected.sort() });
      }
    });
  });

  describe('the platform tables', () => {
    it('accept and return what the stores store, value for value', async () => {
      const node = await store.openNode('node-1');
      for (const table of TABLES) {
        await node.db.insertInto(table).values(STORE_ROWS[table]).execute();
        const rows = await node.db
          .selectFrom(table)
          .selectAll()
          .orderBy(sql.ref(ORDER_BY[table]))
          .execute();
        const expected = STORE_ROWS[table].map((row, i) => {
          if (table === 'alarm_events') return { event_id: i + 1, ...row };
          if (table === 'disposal_events') return { seq: i + 1, ...row };
          if (table === 'audit_records') return { id: i + 1, ...row };
          if (table === 'hazard_events') return { seq: i + 1, ...row };
          if (table === 'supervision_grade_history') return { id: i + 1, ...row };
          if (table === 'supervision_outages') return { id: i + 1, ...row };
          return row;
        });
        expect({ table, rows }).toEqual({ table, rows: expected });
      }
    });

    it('read back from another node what one node wrote', async () => {
      const writer = await store.openNode('node-1');
      const reader = await store.openNode('node-2');
      await writer.db.insertInto('alarms').values(STORE_ROWS.alarms).execute();
      const rows = await reader.db.selectFrom('alarms').select('alarm_id').execute();
      expect(rows.map((r) => r.alarm_id).sort()).toEqual(['GT-101:L2', 'O2-7:LO']);
    });

    it.each(['alarm_events', 'disposal_events', 'hazard_events'] as const)(
      '%s is append-only: UPDATE and DELETE are refused, naming the table',
      async (table) => {
        const node = await store.openNode('node-1');
        await node.db
          .insertInto(table)
          .values(STORE_ROWS[table] as never)
          .execute();
        await expect(
          node.db.updateTable(table).set({ enterprise_id: 'forged' }).execute(),
        ).rejects.toThrow(`${table} is append-only`);
        await expect(node.db.deleteFrom(table).execute()).rejects.toThrow(
          `${table} is append-only`,
        );
        const count = await node.db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow();
        expect(Number(count.n)).toBe(1);
      },
    );

    it('an alarm event resent to two nodes is stored once (identity + transition + seq, ON CONFLICT DO NOTHING)', async () => {
      const a = await store.openNode('node-1');
      const b = await store.openNode('node-2');
      const event = STORE_ROWS.alarm_events[0]!;
      const insert = (node: typeof a) =>
        node.db
          .insertInto('alarm_events')
          .values({ ...event, received_at: event.received_at + (node === a ? 0 : 5) })
          .onConflict((oc) =>
            oc
              .columns(['enterprise_id', 'gateway_id', 'alarm_id', 'transition', 'seq'])
              .doNothing(),
          )
          .returning('event_id')
          .executeTakeFirst();
      const results = await Promise.all([insert(a), insert(b)]);
      expect(results.filter((r) => r !== undefined)).toHaveLength(1);
      await expect(a.db.insertInto('alarm_events').values(event).execute()).rejects.toThrow();
      const rows = await b.db.selectFrom('alarm_events').selectAll().execute();
      expect(rows).toHaveLength(1);
    });

    it('number the disposal chain 1, 2, 3 and never hand out a number twice', async () => {
      const node = await store.openNode('node-1');
      const base = STORE_ROWS.disposal_events[0]!;
      const seqs: number[] = [];
      for (let i = 0; i < 3; i++) {
        const row = await node.db
          .insertInto('disposal_events')
          .values({ ...base, hash: `${i}`.repeat(64) })
          .returning('seq')
          .executeTakeFirstOrThrow();
        seqs.push(row.seq);
      }
      expect(seqs).toEqual([1, 2, 3]);
    });

    it('refuse an alarm or delivery state the stores never write (CHECK constraints)', async () => {
      const node = await store.openNode('node-1');
      const alarm = { ...STORE_ROWS.alarms[0]!, state: 'bogus' as 'active' };
      await expect(node.db.insertInto('alarms').values(alarm).execute()).rejects.toThrow();
      const delivery = { ...STORE_ROWS.linkage_deliveries[0]!, state: 'sent' as 'pending' };
      await expect(
        node.db.insertInto('linkage_deliveries').values(delivery).execute(),
      ).rejects.toThrow();
    });

    it('keep one delivery per alarm identity and centre (the unique key ingest relies on)', async () => {
      const node = await store.openNode('node-1');
      const delivery = STORE_ROWS.linkage_deliveries[0]!;
      await node.db.insertInto('linkage_deliveries').values(delivery).execute();
      await expect(
        node.db
          .insertInto('linkage_deliveries')
          .values({ ...delivery, notification_id: 'ntf-other' })
          .execute(),
      ).rejects.toThrow();
    });
  });
}
