/**
 * An embedded file made by today's stores is adopted by the database layer as it is: the layer
 * makes the same tables with the same columns (names, order, NOT NULL, keys, defaults, types by
 * SQLite affinity), keeps the rows, and refuses a file whose tables the stores never migrated.
 * The stores are the real classes, started on a temporary file; the two ported to the layer (the
 * disposal and hazard ledgers) have no embedded start any more, so their tables are made by the
 * embedded schema they had (disposal-store.ts, legacy-platform-ddl.ts) through schema-version.ts, as
 * the embedded server of the previous release did.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import BetterSqlite from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DISPOSAL_LEDGER_SCHEMA_VERSION, DisposalLedger } from '../../server/alarms/disposal.js';
import { appendRow, SCHEMA as DISPOSAL_SCHEMA } from '../../server/alarms/disposal-store.js';
import { AlarmLedger } from '../../server/alarms/ledger.js';
import {
  ALARM_LEDGER_SCHEMA,
  ALARM_LEDGER_SCHEMA_VERSION,
} from '../../server/alarms/ledger-schema.js';
import { migrateComponent } from '../../server/alarms/schema-version.js';
import { Database } from '../../server/db/database.js';
import { MIGRATIONS } from '../../server/db/migrations/index.js';
import { COPIED_TABLES } from '../../server/db/platform-copy.js';
import { prepareEmbeddedDeliveries } from '../../server/linkage/emergency-notifier.js';
import { prepareEmbeddedMqttLinkage } from '../../server/linkage/mqtt-linkage.js';
import { alarmEvent } from '../server/fixtures.js';
import { STORE_ROWS } from './cases/fixtures.js';
import {
  LEGACY_ACCESS_DDL,
  LEGACY_FLEET_DDL,
  LEGACY_HAZARD_LEDGER_VERSION,
  LEGACY_REGISTRY_DDL,
  LEGACY_SUPERVISION_DDL,
} from './legacy-platform-ddl.js';

/** The disposal and hazard ledgers' tables as their embedded versions made them. */
function makeLedgerTables(file: string, fill?: (db: BetterSqlite.Database) => void): void {
  const db = new BetterSqlite(file);
  try {
    for (const [component, version, table, schema] of [
      ['disposal-ledger', DISPOSAL_LEDGER_SCHEMA_VERSION, 'disposal_events', DISPOSAL_SCHEMA],
      ['hazard-ledger', LEGACY_HAZARD_LEDGER_VERSION, 'hazard_events', LEGACY_SUPERVISION_DDL],
    ] as const) {
      migrateComponent(db, {
        component,
        version,
        existingTable: table,
        create: (d) => d.exec(schema),
        steps: {},
        what: file,
      });
    }
    fill?.(db);
  } finally {
    db.close();
  }
}

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

/** The alarm ledger's tables as its embedded store created them before it moved onto server/db. */
function makeLegacyLedgerTables(file: string): void {
  const db = new BetterSqlite(file);
  try {
    migrateComponent(db, {
      component: 'alarm-ledger',
      version: ALARM_LEDGER_SCHEMA_VERSION,
      existingTable: 'alarms',
      create: (d) => d.exec(ALARM_LEDGER_SCHEMA),
      steps: {},
      what: `alarm ledger '${file}'`,
    });
  } finally {
    db.close();
  }
}

/** What the stores create today, on `file`. */
async function makeStoreFile(file: string): Promise<void> {
  makeLegacyLedgerTables(file);
  const stores: { start(): Promise<void>; stop(): Promise<void> }[] = [];
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
    // The emergency linkage is on server/db: its tables as its embedded upgrade made them.
    prepareEmbeddedDeliveries(raw, file);
    prepareEmbeddedMqttLinkage(raw, file);
  } finally {
    raw.close();
  }
  makeLedgerTables(file);
}

/**
 * Tables the layer brought with it, which no embedded store ever made: the security audit was
 * a JSONL file in embedded mode (server/auth/audit-log.ts), so there is nothing to adopt.
 */
const LAYER_ONLY_TABLES: readonly string[] = ['audit_records'];

/**
 * The tables the embedded stores made: everything the copy to PostgreSQL carries
 * (server/db/platform-copy.ts COPIED_TABLES) but the layer's own. Derived rather than listed
 * again, so a table added to the copy is checked here too; the test below asserts the store
 * file has exactly these, so a legacy table the copy forgets fails as well.
 */
const STORE_TABLES = COPIED_TABLES.filter((t) => !LAYER_ONLY_TABLES.includes(t));

/** The tables of a SQLite file, without SQLite's and the stores' bookkeeping. */
function tablesOf(file: string): string[] {
  const db = new BetterSqlite(file, { readonly: true });
  try {
    return db
      .prepare<[], { name: string }>(
        `SELECT name FROM sqlite_master WHERE type = 'table'
           AND name NOT IN ('sqlite_sequence', 'schema_versions') ORDER BY name`,
      )
      .all()
      .map((r) => r.name);
  } finally {
    db.close();
  }
}

describe('an embedded file made by the stores', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'hw-db-adopt-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('has exactly the tables the copy to PostgreSQL carries, less the layer-only ones', async () => {
    const storeFile = path.join(dir, 'stores.db');
    await makeStoreFile(storeFile);
    expect(tablesOf(storeFile)).toEqual([...STORE_TABLES].sort());
    for (const table of LAYER_ONLY_TABLES) expect(COPIED_TABLES).toContain(table);
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

  it("keeps the alarm ledger's rows: the ledger on the layer reads them and records onto them", async () => {
    const file = path.join(dir, 'hazardwatch.db');
    makeLegacyLedgerTables(file);
    const raw = new BetterSqlite(file);
    raw
      .prepare(
        `INSERT INTO alarms VALUES ('GT-101-gas.L2.1', 'gw-01', 'ent-01', 'GT-101-gas', 'GT-101',
          NULL, NULL, NULL, 'methane', 2, 'active', 52.4, '%LEL', 50, 1000, NULL, 0, NULL, 1001)`,
      )
      .run();
    raw.close();
    const layer = new Database({ kind: 'sqlite', path: file });
    await layer.start();
    const ledger = new AlarmLedger({ database: layer });
    await ledger.start();
    try {
      const key = { enterpriseId: 'ent-01', gatewayId: 'gw-01', alarmId: 'GT-101-gas.L2.1' };
      expect(await ledger.get(key)).toMatchObject({ state: 'active', raisedAt: 1000, value: 52.4 });
      const cleared = await ledger.record(
        alarmEvent({ ...key, transition: 'cleared', ts: 2000, value: 3 }),
      );
      expect(cleared).toMatchObject({ isNew: false, changed: true, alarm: { clearedAt: 2000 } });
      expect(await ledger.activeCount()).toBe(0);
    } finally {
      await ledger.stop();
      await layer.stop();
    }
  });

  it('keeps its disposal chain verifying under the ledger on the layer, and its hazard chain append-only', async () => {
    const file = path.join(dir, 'hazardwatch.db');
    const key = randomBytes(32);
    await makeStoreFile(file);
    makeLedgerTables(file, (db) => {
      for (const action of ['raised', 'acknowledged'] as const) {
        appendRow(db, key, {
          enterpriseId: 'ent-001',
          gatewayId: 'gw-01',
          alarmId: 'GT-101:L2',
          action,
          actor: action === 'raised' ? 'system' : 'zhang.san',
          detail: action === 'raised' ? { level: 2, drill: false, openedAt: 1 } : {},
          at: action === 'raised' ? 1 : 2,
        });
      }
    });
    const layer = new Database({ kind: 'sqlite', path: file });
    await layer.start();
    try {
      const ledger = new DisposalLedger({ database: layer, key });
      await ledger.start();
      // The projection rows were never written by appendRow alone: the chain itself verifies,
      // and the table differs by exactly that one alarm.
      expect(await ledger.verify()).toMatchObject({
        rows: 2,
        head: { seq: 2 },
        projection: { differences: 1 },
      });
      await ledger.track({
        alarmId: 'b',
        gatewayId: 'gw-01',
        enterpriseId: 'ent-001',
        ruleId: 'r',
        sensorId: 's',
        sensorName: null,
        installationId: null,
        location: null,
        gas: null,
        level: 1,
        state: 'active',
        value: 1,
        unit: '%LEL',
        setpoint: 1,
        raisedAt: 3,
        clearedAt: null,
        drill: false,
        message: null,
        receivedAt: 3,
      });
      expect(await ledger.head()).toMatchObject({ seq: 3 });
      expect(
        (await ledger.events({ enterpriseId: 'ent-001', gatewayId: 'gw-01', alarmId: 'b' }))[0]
          ?.prevHash,
      ).toBe(await ledger.hashAt(2));
      await layer.db.insertInto('hazard_events').values(STORE_ROWS.hazard_events).execute();
      await expect(layer.db.deleteFrom('hazard_events').execute()).rejects.toThrow(
        'hazard_events is append-only',
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
