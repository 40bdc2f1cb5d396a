/**
 * An embedded file made by today's stores is adopted by the database layer as it is: the layer
 * makes the same tables with the same columns (names, order, NOT NULL, keys, defaults, types by
 * SQLite affinity), keeps the rows, and refuses a file whose tables the stores never migrated.
 * The stores are the real classes, started on a temporary file.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import BetterSqlite from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DisposalLedger } from '../../server/alarms/disposal.js';
import { AlarmLedger } from '../../server/alarms/ledger.js';
import { Database } from '../../server/db/database.js';
import { MIGRATIONS } from '../../server/db/migrations/index.js';
import { EmergencyNotifier } from '../../server/linkage/emergency-notifier.js';
import { MqttLinkage } from '../../server/linkage/mqtt-linkage.js';
import { LEGACY_ACCESS_DDL, LEGACY_FLEET_DDL, LEGACY_REGISTRY_DDL } from './legacy-platform-ddl.js';

/** SQLite type affinity (SQLite docs, "Datatypes In SQLite" §3.1, rules in order). */
function affinity(declared: string): string {
  const t = declared.toUpperCase();
  if (t.includes('INT')) return 'INTEGER';
  if (/CHAR|CLOB|TEXT/.test(t)) return 'TEXT';
  if (t === '' || t.includes('BLOB')) return 'BLOB';
  if (/REAL|FLOA|DOUB/.test(t)) return 'REAL';
  return 'NUMERIC';
}

interface ColumnInfo {
  name: string;
  type: string;
  notnull: number;
  dflt_value: string | null;
  pk: number;
}

function columnsOf(file: string, table: string) {
  const db = new BetterSqlite(file, { readonly: true });
  try {
    return db
      .prepare<[], ColumnInfo>(`PRAGMA table_info(${table})`)
      .all()
      .map((c) => ({
        name: c.name,
        affinity: affinity(c.type),
        notnull: c.notnull,
        dflt: c.dflt_value,
        pk: c.pk,
      }));
  } finally {
    db.close();
  }
}

/** What the stores create today, on `file`. */
async function makeStoreFile(file: string): Promise<void> {
  const stores = [
    new AlarmLedger({ path: file }),
    new DisposalLedger({ path: file, key: randomBytes(32) }),
    new EmergencyNotifier({ path: file, centres: [] }),
    new MqttLinkage({ path: file, topic: 'hazardwatch/linkage', publish: async () => {} }),
  ];
  for (const store of stores) await store.start();
  for (const store of stores.reverse()) await store.stop();
  // Registry, sessions and fleet are on server/db now: their tables as those stores made them,
  // and the row the registry upserted from the config at its start.
  const raw = new BetterSqlite(file);
  try {
    raw.exec(LEGACY_REGISTRY_DDL);
    raw.exec(LEGACY_ACCESS_DDL);
    raw.exec(LEGACY_FLEET_DDL);
    raw
      .prepare(
        'INSERT INTO registry_enterprises (id, name, province, city, county, park) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run('ent-001', '示例化工有限公司', '江苏省', null, null, '江北新材料科技园');
    raw
      .prepare(
        'INSERT INTO fleet_tokens (token_hash, enterprise_id, gateway_id, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run('f'.repeat(64), 'ent-001', null, 'admin', 1, 2);
  } finally {
    raw.close();
  }
}

const STORE_TABLES = [
  'alarms',
  'alarm_events',
  'disposal_events',
  'alarm_dispositions',
  'linkage_deliveries',
  'linkage_mqtt',
  'linkage_mqtt_receipts',
  'registry_enterprises',
  'registry_installations',
  'registry_gateways',
  'registry_sensors',
  'platform_sessions',
  'fleet_tokens',
  'fleet_gateways',
  'fleet_versions',
  'fleet_status',
];

describe('an embedded file made by the stores', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'hw-db-adopt-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('has exactly the columns the layer creates on a new file, table for table', async () => {
    const storeFile = path.join(dir, 'stores.db');
    const layerFile = path.join(dir, 'layer.db');
    await makeStoreFile(storeFile);
    const layer = new Database({ kind: 'sqlite', path: layerFile });
    await layer.start();
    await layer.stop();
    for (const table of STORE_TABLES) {
      expect({ table, columns: columnsOf(layerFile, table) }).toEqual({
        table,
        columns: columnsOf(storeFile, table),
      });
    }
  });

  it('is adopted with its rows, and the append-only triggers still hold', async () => {
    const file = path.join(dir, 'hazardwatch.db');
    await makeStoreFile(file);
    const layer = new Database({ kind: 'sqlite', path: file });
    await layer.start();
    try {
      expect(await layer.appliedMigrations()).toEqual(Object.keys(MIGRATIONS));
      expect(await layer.db.selectFrom('fleet_tokens').select('token_hash').execute()).toEqual([
        { token_hash: 'f'.repeat(64) },
      ]);
      const enterprises = await layer.db.selectFrom('registry_enterprises').selectAll().execute();
      expect(enterprises).toEqual([
        {
          id: 'ent-001',
          name: '示例化工有限公司',
          province: '江苏省',
          city: null,
          county: null,
          park: '江北新材料科技园',
        },
      ]);
      await layer.db
        .insertInto('alarm_events')
        .values({
          alarm_id: 'a',
          transition: 'raised',
          gateway_id: 'g',
          enterprise_id: 'e',
          seq: 1,
          ts: 1,
          sent_at: 1,
          received_at: 1,
          level: 2,
          value: 55,
          drill: 0,
          payload: '{}',
        })
        .execute();
      await expect(layer.db.deleteFrom('alarm_events').execute()).rejects.toThrow(
        'alarm_events is append-only',
      );
    } finally {
      await layer.stop();
    }
  });

  it('whose alarm ledger is at an older schema version is refused, naming table, component and version', async () => {
    const file = path.join(dir, 'old.db');
    await makeStoreFile(file);
    const raw = new BetterSqlite(file);
    raw.prepare("UPDATE schema_versions SET version = 1 WHERE component = 'alarm-ledger'").run();
    raw.close();
    const layer = new Database({ kind: 'sqlite', path: file });
    await expect(layer.start()).rejects.toThrow(
      "table 'alarms' is at schema version 1 of 'alarm-ledger', not 2",
    );
    expect(layer.started).toBe(false);
  });
});
