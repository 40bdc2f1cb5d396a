/**
 * Prepared statements kept across queries on the embedded engine. Kysely's SQLite driver calls
 * `prepare(sql)` for every query it runs, so better-sqlite3 parses and plans the same SQL again
 * each time; on the alarm path (ledger commit before the emergency page) that was most of the
 * cost of a record() (about 60-120 µs of CPU per call, measured for issue 14). This hands Kysely
 * the connection with `prepare` answered from a cache keyed by the SQL text.
 *
 * A statement is reused only when it is not busy (an open `iterate()` of a streamed query):
 * a busy one gets a fresh, uncached statement. The cache is bounded (least recently used out),
 * since SQL with a variable `IN (?, ...)` list makes one text per list length. SQLite re-prepares
 * a cached statement itself after a schema change (sqlite3_prepare_v3), so migrations need no
 * flush. Statements are finalised with the connection.
 */
import type { SqliteDatabase as KyselySqliteDatabase, SqliteStatement } from 'kysely';
import type { SqliteDatabase } from '../store/sqlite.js';

export const STATEMENT_CACHE_DEFAULTS = {
  maxStatements: 500, // distinct SQL texts kept; the stores issue a few dozen
} as const;

export function withStatementCache(
  sqlite: SqliteDatabase,
  maxStatements: number = STATEMENT_CACHE_DEFAULTS.maxStatements,
): KyselySqliteDatabase {
  const cache = new Map<string, ReturnType<SqliteDatabase['prepare']>>();
  return {
    close: () => sqlite.close(),
    prepare(sql: string): SqliteStatement {
      const cached = cache.get(sql);
      if (cached && !cached.busy) {
        // Most recently used last: Map keeps insertion order.
        cache.delete(sql);
        cache.set(sql, cached);
        return cached;
      }
      const statement = sqlite.prepare(sql);
      if (!cached) {
        cache.set(sql, statement);
        if (cache.size > maxStatements) cache.delete(cache.keys().next().value as string);
      }
      return statement;
    },
  };
}
