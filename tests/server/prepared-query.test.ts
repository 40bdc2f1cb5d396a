/** Queries compiled once and bound per call (server/alarms/prepared-query.ts). */

import BetterSqlite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { prepare, slot, slots } from '../../server/alarms/prepared-query.js';

interface Schema {
  t: { id: string; n: number | null };
}

describe('prepared query', () => {
  let db: Kysely<Schema>;
  beforeEach(async () => {
    db = new Kysely<Schema>({
      dialect: new SqliteDialect({ database: new BetterSqlite(':memory:') }),
    });
    await db.schema.createTable('t').addColumn('id', 'text').addColumn('n', 'integer').execute();
  });
  afterEach(async () => {
    await db.destroy();
  });

  it('runs one compiled query with each call’s values, nulls included', async () => {
    const insert = prepare(db.insertInto('t').values(slots<Schema['t']>(['id', 'n'])), 'insert');
    const byId = prepare(
      db.selectFrom('t').selectAll().where('id', '=', slot<string>('id')),
      'select',
    );
    await db.executeQuery(insert.bind({ id: 'a', n: 1 }));
    await db.executeQuery(insert.bind({ n: null, id: 'b' }));
    expect((await db.executeQuery(byId.bind({ id: 'a' }))).rows).toEqual([{ id: 'a', n: 1 }]);
    expect((await db.executeQuery(byId.bind({ id: 'b' }))).rows).toEqual([{ id: 'b', n: null }]);
  });

  it('refuses a missing value by its slot name', () => {
    const byId = prepare(db.selectFrom('t').selectAll().where('id', '=', slot<string>('id')), 'q');
    expect(() => byId.bind({ ID: 'a' })).toThrow("prepared query: no value for slot 'id'");
  });

  it('refuses a query with a literal value, which would be frozen into every call', () => {
    expect(() =>
      prepare(
        db.selectFrom('t').selectAll().where('id', '=', slot<string>('id')).where('n', '=', 3),
        'mixed',
      ),
    ).toThrow("prepared query 'mixed': parameter 2 is a literal, not a slot");
  });
});
