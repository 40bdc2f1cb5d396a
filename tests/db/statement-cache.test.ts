/** The embedded engine's statement cache (server/db/statement-cache.ts) under Kysely. */
import BetterSqlite from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { withStatementCache } from '../../server/db/statement-cache.js';

describe('statement cache', () => {
  let sqlite: BetterSqlite.Database;
  let prepared: string[];
  beforeEach(() => {
    sqlite = new BetterSqlite(':memory:');
    sqlite.exec('CREATE TABLE t (n INTEGER)');
    sqlite.exec('INSERT INTO t VALUES (1), (2), (3)');
    prepared = [];
    const prepare = sqlite.prepare.bind(sqlite);
    sqlite.prepare = ((text: string) => {
      prepared.push(text);
      return prepare(text);
    }) as typeof sqlite.prepare;
  });
  afterEach(() => {
    if (sqlite.open) sqlite.close();
  });

  it('prepares each SQL text once and runs it again with new parameters', () => {
    const db = withStatementCache(sqlite);
    const select = 'SELECT n FROM t WHERE n >= ? ORDER BY n';
    expect(db.prepare(select).all([2])).toEqual([{ n: 2 }, { n: 3 }]);
    expect(db.prepare(select).all([3])).toEqual([{ n: 3 }]);
    expect(db.prepare('INSERT INTO t VALUES (?)').run([4]).changes).toBe(1);
    expect(db.prepare(select).all([4])).toEqual([{ n: 4 }]);
    expect(prepared).toEqual([select, 'INSERT INTO t VALUES (?)']);
  });

  it('gives a fresh statement while the cached one is still iterating (a streamed query)', () => {
    const db = withStatementCache(sqlite);
    const select = 'SELECT n FROM t ORDER BY n';
    const outer = db.prepare(select).iterate([]);
    expect(outer.next().value).toEqual({ n: 1 });
    expect(db.prepare(select).all([])).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    expect([...outer]).toEqual([{ n: 2 }, { n: 3 }]);
    expect(prepared).toEqual([select, select]);
  });

  it('keeps at most maxStatements texts, dropping the least recently used', () => {
    const db = withStatementCache(sqlite, 2);
    for (const text of ['SELECT 1', 'SELECT 2', 'SELECT 1', 'SELECT 3', 'SELECT 1', 'SELECT 2']) {
      db.prepare(text).all([]);
    }
    // 'SELECT 2' fell out when 'SELECT 3' came in ('SELECT 1' had been used since).
    expect(prepared).toEqual(['SELECT 1', 'SELECT 2', 'SELECT 3', 'SELECT 2']);
  });

  it('closes the connection it wraps', () => {
    withStatementCache(sqlite).close();
    expect(sqlite.open).toBe(false);
  });
});
