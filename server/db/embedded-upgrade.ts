/**
 * The one-time upgrade of an embedded file made by an earlier release, run before the database
 * layer opens it (server/central-server.ts, SQLite only). Earlier releases kept one schema version
 * per component in `schema_versions` and migrated their own tables at start
 * (server/alarms/schema-version.ts); migration 0001 adopts only the versions this release's
 * tables match and refuses older ones by name. This step brings an older component up to that
 * version with the steps those stores shipped, so a plant that upgrades keeps its alarm history,
 * its disposal chain (replayed into the keyed chain) and its pending emergency deliveries.
 *
 * Only components whose table exists are touched; a new or already current file, and a file the
 * layer has migrated, are left as they are (each step is one transaction with its version bump, schema-version.ts). The disposal
 * chain's version-1 replay needs the ledger key, so the caller passes the key the server uses.
 */
import { existsSync } from 'node:fs';
import { createLogger } from '../../common/logger.js';
import { DISPOSAL_LEDGER_SCHEMA_VERSION } from '../alarms/disposal.js';
import { migrateV1 as migrateDisposalV1 } from '../alarms/disposal-migrate.js';
import { SCHEMA as DISPOSAL_SCHEMA } from '../alarms/disposal-store.js';
import {
  ALARM_LEDGER_SCHEMA,
  ALARM_LEDGER_SCHEMA_VERSION,
  MIGRATE_ALARM_LEDGER_V1_TO_V2,
} from '../alarms/ledger-schema.js';
import { migrateComponent, schemaVersion } from '../alarms/schema-version.js';
import { prepareEmbeddedDeliveries } from '../linkage/emergency-notifier.js';
import { prepareEmbeddedMqttLinkage } from '../linkage/mqtt-linkage.js';
import { isMemoryPath, openDatabase } from '../store/sqlite.js';

const log = createLogger('server.db');

function hasTable(db: ReturnType<typeof openDatabase>, table: string): boolean {
  return (
    db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table) !==
    undefined
  );
}

/**
 * Upgrades the components of `path` that an earlier release left at an older version; returns
 * the components it upgraded (empty for a new or current file).
 */
export function upgradeEmbeddedFile(path: string, ledgerKey: Buffer): string[] {
  if (isMemoryPath(path) || !existsSync(path)) return [];
  const db = openDatabase(path);
  const upgraded: string[] = [];
  const what = `embedded file '${path}'`;
  try {
    // A file the layer already migrated is never an earlier release's: its components carry no
    // schema_versions rows (the layer versions the file as a whole), which the checks below
    // would read as version 1 and "upgrade" again, replaying the disposal chain.
    if (
      hasTable(db, 'kysely_migration') &&
      db.prepare("SELECT 1 FROM kysely_migration WHERE name = '0001-platform-state'").get() !==
        undefined
    ) {
      return [];
    }
    const older = (component: string, table: string, current: number) =>
      hasTable(db, table) && (schemaVersion(db, component) ?? 1) < current;
    if (older('alarm-ledger', 'alarms', ALARM_LEDGER_SCHEMA_VERSION)) {
      migrateComponent(db, {
        component: 'alarm-ledger',
        version: ALARM_LEDGER_SCHEMA_VERSION,
        existingTable: 'alarms',
        create: (d) => d.exec(ALARM_LEDGER_SCHEMA),
        steps: { 1: (d) => d.exec(MIGRATE_ALARM_LEDGER_V1_TO_V2) },
        what,
      });
      upgraded.push('alarm-ledger');
    }
    // After the alarm ledger: the disposal replay reads each alarm's gateway from it.
    if (older('disposal-ledger', 'disposal_events', DISPOSAL_LEDGER_SCHEMA_VERSION)) {
      migrateComponent(db, {
        component: 'disposal-ledger',
        version: DISPOSAL_LEDGER_SCHEMA_VERSION,
        existingTable: 'disposal_events',
        create: (d) => d.exec(DISPOSAL_SCHEMA),
        steps: { 1: (d) => migrateDisposalV1(d, ledgerKey, what) },
        what,
      });
      upgraded.push('disposal-ledger');
    }
    if (older('linkage-deliveries', 'linkage_deliveries', 2)) {
      prepareEmbeddedDeliveries(db, what);
      upgraded.push('linkage-deliveries');
    }
    if (older('linkage-mqtt', 'linkage_mqtt', 2)) {
      prepareEmbeddedMqttLinkage(db, what);
      upgraded.push('linkage-mqtt');
    }
  } finally {
    db.close();
  }
  if (upgraded.length > 0)
    log.info({ path, upgraded }, 'embedded file upgraded from an earlier release');
  return upgraded;
}
