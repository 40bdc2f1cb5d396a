/**
 * The alarm ledger on the embedded engine: what only a file shows (a restart, the append-only
 * triggers seen from another connection, the version-1 upgrade). Recording, idempotence,
 * conflicts, listing and nodes racing run on both engines in the shared suite
 * (tests/db/cases/alarm-ledger.ts).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AlarmLedger } from '../../server/alarms/ledger.js';
import { CentralServer } from '../../server/central-server.js';
import { parseServerConfig } from '../../server/config/index.js';
import { Database } from '../../server/db/database.js';
import { upgradeEmbeddedFile } from '../../server/db/embedded-upgrade.js';
import { alarmEvent, T0 } from './fixtures.js';

/** The identity of an alarm of the fixtures' gateway (ent-01 / gw-01). */
const key = (alarmId: string) => ({ enterpriseId: 'ent-01', gatewayId: 'gw-01', alarmId });

let dir: string;
let path: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hw-ledger-'));
  path = join(dir, 'hw.db');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A database and a ledger on `path`, started as the server starts them. */
async function open(): Promise<{
  database: Database;
  ledger: AlarmLedger;
  close(): Promise<void>;
}> {
  const database = new Database({ kind: 'sqlite', path });
  await database.start();
  const ledger = new AlarmLedger({ database });
  await ledger.start();
  return {
    database,
    ledger,
    async close() {
      await ledger.stop();
      await database.stop();
    },
  };
}

describe('alarm ledger on disk', () => {
  it('keeps every distinct transition in an append-only event table that survives a restart', async () => {
    const first = await open();
    const raised = alarmEvent({ seq: 7 });
    await first.ledger.record(raised);
    await first.ledger.record(raised); // redelivery: same transition, same seq
    await first.ledger.record(alarmEvent({ transition: 'cleared', seq: 8, ts: T0 + 1 }));
    await first.close();

    const reopened = await open();
    expect((await reopened.ledger.get(key('GT-101-gas.L2.1')))?.state).toBe('cleared');
    await reopened.close();

    const db = new BetterSqlite(path);
    try {
      expect(
        db.prepare('SELECT transition, seq FROM alarm_events ORDER BY event_id').all(),
      ).toEqual([
        { transition: 'raised', seq: 7 },
        { transition: 'cleared', seq: 8 },
      ]);
      expect(() => db.prepare('DELETE FROM alarm_events').run()).toThrow('append-only');
      expect(() => db.prepare("UPDATE alarm_events SET transition = 'x'").run()).toThrow(
        'append-only',
      );
    } finally {
      db.close();
    }
  });

  it('neither opens nor closes the database: stopping the ledger leaves it to its owner', async () => {
    const { database, ledger, close } = await open();
    await ledger.stop();
    await ledger.stop(); // safe twice
    expect(database.started).toBe(true);
    await expect(ledger.record(alarmEvent())).rejects.toThrow('alarm ledger is not started');
    await ledger.start();
    expect((await ledger.record(alarmEvent())).isNew).toBe(true);
    await close();
  });

  it('refuses to start on a database that is not started, naming it', async () => {
    const database = new Database({ kind: 'sqlite', path });
    const ledger = new AlarmLedger({ database });
    await expect(ledger.start()).rejects.toThrow(
      `alarm ledger: database '${path}' must be started first`,
    );
  });
});

/** The version-1 tables as main had them before issue 13 (alarms keyed by alarm id alone). */
const V1_FILE_SCHEMA = `
    CREATE TABLE alarms (
      alarm_id TEXT PRIMARY KEY, gateway_id TEXT NOT NULL, enterprise_id TEXT NOT NULL,
      rule_id TEXT NOT NULL, sensor_id TEXT NOT NULL, sensor_name TEXT, installation_id TEXT,
      location TEXT, gas TEXT, level INTEGER NOT NULL,
      state TEXT NOT NULL CHECK (state IN ('active', 'cleared')), value REAL, unit TEXT NOT NULL,
      setpoint REAL NOT NULL, raised_at INTEGER, cleared_at INTEGER, drill INTEGER NOT NULL,
      message TEXT, received_at INTEGER NOT NULL);
    CREATE INDEX alarms_recent ON alarms (COALESCE(raised_at, cleared_at));
    CREATE TABLE alarm_events (
      event_id INTEGER PRIMARY KEY AUTOINCREMENT, alarm_id TEXT NOT NULL, transition TEXT NOT NULL,
      gateway_id TEXT NOT NULL, enterprise_id TEXT NOT NULL, seq INTEGER NOT NULL,
      ts INTEGER NOT NULL, sent_at INTEGER NOT NULL, received_at INTEGER NOT NULL,
      level INTEGER NOT NULL, value REAL, drill INTEGER NOT NULL, payload TEXT NOT NULL,
      UNIQUE (alarm_id, transition, seq));
    CREATE TRIGGER alarm_events_no_delete BEFORE DELETE ON alarm_events
      BEGIN SELECT RAISE(ABORT, 'alarm_events is append-only'); END;
    INSERT INTO alarms VALUES ('GT-101-gas.L2.1', 'gw-01', 'ent-01', 'GT-101-gas', 'GT-101', NULL,
      NULL, NULL, 'methane', 2, 'active', 52.4, '%LEL', 50, 1000, NULL, 0, NULL, 1001);
    INSERT INTO alarm_events VALUES (1, 'GT-101-gas.L2.1', 'raised', 'gw-01', 'ent-01', 7, 1000,
      1000, 1001, 2, 52.4, 0, '{}');`;

describe('alarm ledger schema versions', () => {
  function writeV1File(): void {
    const old = new BetterSqlite(path);
    old.exec(V1_FILE_SCHEMA);
    old.close();
  }

  it('a version-1 file is refused by the database layer, naming the component and version', async () => {
    writeV1File();
    const database = new Database({ kind: 'sqlite', path });
    await expect(database.start()).rejects.toThrow(
      "table 'alarms' is at schema version 1 of 'alarm-ledger', not 2",
    );
  });

  it('after the embedded version-1 upgrade step, the ledger reads every alarm with its identity and history', async () => {
    writeV1File();
    // The step the server runs before the database layer opens an embedded file.
    expect(upgradeEmbeddedFile(path, randomBytes(32))).toEqual(['alarm-ledger']);
    expect(upgradeEmbeddedFile(path, randomBytes(32))).toEqual([]);

    const { ledger, close } = await open();
    expect(await ledger.get(key('GT-101-gas.L2.1'))).toMatchObject({
      state: 'active',
      raisedAt: 1000,
    });
    // Now another enterprise's gateway may use the same id.
    const other = await ledger.record(alarmEvent({ enterpriseId: 'ent-02', gatewayId: 'gw-02' }));
    expect(other.isNew).toBe(true);
    await close();

    const db = new BetterSqlite(path);
    try {
      expect(db.prepare('SELECT COUNT(*) FROM alarm_events').pluck().get()).toBe(2);
      expect(() => db.prepare('DELETE FROM alarm_events').run()).toThrow('append-only');
    } finally {
      db.close();
    }
  });
});

describe('a server upgraded from the first release', () => {
  it('embedded upgrade on a layer file: a second start leaves the disposal chain as it is (it was replayed as version 1)', async () => {
    const config = parseServerConfig({ http: { port: 0 }, mqtt: { port: 0 }, store: { path } });
    const first = new CentralServer(config, { dashboard: false });
    await first.start();
    await first.platform.disposal.track({ ...(await first.ledger.record(alarmEvent())).alarm });
    const head = await first.platform.disposal.head();
    await first.stop();
    expect(head).not.toBeNull();
    expect(upgradeEmbeddedFile(path, randomBytes(32))).toEqual([]);
    const second = new CentralServer(config, { dashboard: false });
    try {
      await second.start();
      expect(await second.platform.disposal.head()).toEqual(head);
      expect(await second.platform.disposal.verify()).toMatchObject({ ok: true });
    } finally {
      await second.stop();
    }
    const raw = new BetterSqlite(path, { readonly: true });
    try {
      const tables = raw
        .prepare("SELECT name FROM sqlite_master WHERE name = 'disposal_events_v1'")
        .all();
      expect(tables).toEqual([]);
    } finally {
      raw.close();
    }
  });

  it('embedded upgrade: starts on a version-1 file and keeps its alarms (the layer refused the file)', async () => {
    const old = new BetterSqlite(path);
    old.exec(V1_FILE_SCHEMA);
    old.close();
    const server = new CentralServer(
      parseServerConfig({ http: { port: 0 }, mqtt: { port: 0 }, store: { path } }),
      { dashboard: false },
    );
    try {
      await server.start();
      expect(await server.ledger.get(key('GT-101-gas.L2.1'))).toMatchObject({
        state: 'active',
        raisedAt: 1000,
      });
    } finally {
      await server.stop();
    }
  });
});
