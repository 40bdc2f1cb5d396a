/**
 * Versioned migrations for the tables of one component in the server's shared SQLite file.
 * Several components share the file, so one `PRAGMA user_version` cannot say whose schema it is:
 * each component keeps its own row in `schema_versions`.
 *
 * A file made before versioning has the component's tables but no row: that is version 1.
 * Migration steps run in one transaction with the version bump, so a crash leaves either the old
 * schema or the new one, never half of each. A file newer than this code is refused by name.
 */
import { createLogger } from '../../common/logger.js';
import type { SqliteDatabase } from '../store/sqlite.js';

const log = createLogger('server.migrations');

export interface ComponentMigration {
  /** Row name in schema_versions, e.g. 'alarm-ledger'. */
  component: string;
  /** Version this code writes. */
  version: number;
  /** A table whose presence without a version row means "version 1". */
  existingTable: string;
  /** Creates the current schema (idempotent: IF NOT EXISTS). */
  create: (db: SqliteDatabase) => void;
  /** steps[n] migrates version n to n + 1. */
  steps: Record<number, (db: SqliteDatabase) => void>;
  /** For messages: `alarm ledger '/data/hazardwatch.db'`. */
  what: string;
}

export function schemaVersion(db: SqliteDatabase, component: string): number | undefined {
  db.exec(
    'CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL)',
  );
  return db
    .prepare<[string], number>('SELECT version FROM schema_versions WHERE component = ?')
    .pluck()
    .get(component);
}

/** The recorded version without creating anything (read-only connections). */
export function schemaVersionReadonly(db: SqliteDatabase, component: string): number | undefined {
  if (!tableExists(db, 'schema_versions')) return undefined;
  return db
    .prepare<[string], number>('SELECT version FROM schema_versions WHERE component = ?')
    .pluck()
    .get(component);
}

export function tableExists(db: SqliteDatabase, table: string): boolean {
  return (
    db
      .prepare<[string], number>("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?")
      .pluck()
      .get(table) !== undefined
  );
}

/** Brings the component's tables to `version`; returns the version found (0: new file). */
export function migrateComponent(db: SqliteDatabase, m: ComponentMigration): number {
  const recorded = schemaVersion(db, m.component);
  const found = recorded ?? (tableExists(db, m.existingTable) ? 1 : 0);
  if (found > m.version) {
    throw new Error(
      `${m.what}: schema version ${found} of '${m.component}' is newer than this server (${m.version}); refusing to open it`,
    );
  }
  db.transaction(() => {
    if (found === 0) {
      m.create(db);
    } else {
      for (let v = found; v < m.version; v++) {
        const step = m.steps[v];
        if (!step) throw new Error(`${m.what}: no migration from version ${v} of '${m.component}'`);
        step(db);
      }
      m.create(db);
    }
    db.prepare(
      'INSERT INTO schema_versions (component, version) VALUES (?, ?) ON CONFLICT (component) DO UPDATE SET version = excluded.version',
    ).run(m.component, m.version);
  })();
  if (found !== 0 && found < m.version) {
    log.warn(
      { component: m.component, from: found, to: m.version, what: m.what },
      'migrated an older schema',
    );
  }
  return found;
}
