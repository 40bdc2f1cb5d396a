/**
 * The platform's periodic ledger self-check raises a platform alarm when the ledger fails to
 * verify, and a version-1 (unkeyed) disposal chain is migrated into the keyed one by the legacy
 * embedded upgrade (disposal-migrate.ts; the ledger on server/db no longer runs it itself).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { DISPOSAL_LEDGER_SCHEMA_VERSION } from '../../server/alarms/disposal.js';
import { chainHash, legacyChainHash } from '../../server/alarms/disposal-chain.js';
import { migrateV1 } from '../../server/alarms/disposal-migrate.js';
import {
  type DispositionRow,
  dispositionFromRow,
  type EventRow,
  eventFromRow,
  SCHEMA,
} from '../../server/alarms/disposal-store.js';
import { walkChain } from '../../server/alarms/hash-chain.js';
import type { AlarmLedger, AlarmRecord } from '../../server/alarms/ledger.js';
import { migrateComponent } from '../../server/alarms/schema-version.js';
import { parseServerConfig } from '../../server/config/index.js';
import { Database as PlatformDatabase } from '../../server/db/database.js';
import { EventHub } from '../../server/events.js';
import { GatewayRegistry } from '../../server/gateways.js';
import { LEDGER_INTEGRITY_RULE, Platform } from '../../server/platform/platform.js';
import { SqliteTelemetryStore } from '../../server/store/sqlite-store.js';
import { alarmEvent, T0 } from '../server/fixtures.js';
import { testLedger } from '../support/ledger.js';
import { PLATFORM_CONFIG } from './harness.js';

describe('ledger self-check on the platform', () => {
  let dir: string;
  let path: string;
  let clock: ManualClock;
  let ledger: AlarmLedger;
  let store: SqliteTelemetryStore;
  let platform: Platform;
  let events: EventHub;
  let database: PlatformDatabase;

  beforeEach(async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    dir = mkdtempSync(join(tmpdir(), 'hw-self-check-'));
    path = join(dir, 'hazardwatch.db');
    clock = new ManualClock(T0);
    ledger = testLedger({ path, clock });
    store = new SqliteTelemetryStore({ path, clock });
    events = new EventHub();
    database = new PlatformDatabase({ kind: 'sqlite', path });
    await database.start();
    await store.start();
    await ledger.start();
    database = new PlatformDatabase({ kind: 'sqlite', path });
    await database.start();
    const config = parseServerConfig({ ...PLATFORM_CONFIG, store: { path } });
    platform = new Platform({
      config: config.platform,
      enterprises: config.enterprises,
      path,
      database,
      events,
      ledger,
      gateways: new GatewayRegistry(clock),
      store,
      clock,
      ledgerIntegrity: { verifyIntervalMs: 600_000, anchorIntervalMs: 60_000 },
    });
    await platform.start();
  });

  afterEach(async () => {
    await platform.stop();
    await database.stop();
    await ledger.stop();
    await store.stop();
    await database.stop();
    vi.useRealTimers();
    rmSync(dir, { recursive: true, force: true });
  });

  it('anchors every anchorIntervalMs and raises one platform alarm when a self-check fails', async () => {
    const raised: AlarmRecord[] = [];
    events.on('alarm', (a) => {
      if (a.ruleId === LEDGER_INTEGRITY_RULE) raised.push(a);
    });
    const { alarm } = await ledger.record(
      alarmEvent({ enterpriseId: 'ent-a', gatewayId: 'gw-ent-a' }),
    );
    // As ingest does: the committed-alarm event (disposal tracking), then the dashboards' event.
    await events.emitAlarmCommitted({
      alarm,
      transition: 'raised',
      changed: true,
      source: 'gateway',
    });
    events.emit('alarm', alarm);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(platform.integrity.anchorsWritten).toBe(1);

    await vi.advanceTimersByTimeAsync(600_000);
    expect(platform.integrity.lastResult?.ok).toBe(true);
    expect(raised).toEqual([]);

    const db = new Database(path);
    db.prepare("UPDATE alarm_dispositions SET status = 'closed', closed_by = 'forged'").run();
    db.close();
    await vi.advanceTimersByTimeAsync(600_000);
    await vi.advanceTimersByTimeAsync(600_000);
    expect(platform.integrity.lastResult).toMatchObject({ ok: false, brokenAt: 1 });
    // Raised once the ledger has committed it.
    await vi.waitFor(() => expect(raised).toHaveLength(1));
    expect(raised[0]).toMatchObject({
      enterpriseId: '_platform',
      gatewayId: '_server',
      state: 'active',
      level: 1,
      message: expect.stringMatching(/^disposal ledger verification failed at row 1: /),
    });
    // Only administrators see it (not a real enterprise), and no emergency centre is paged.
    expect(await platform.canSee(null, '_platform')).toBe(true);
    expect(platform.mqtt?.notifications() ?? []).toEqual([]);
  });
});

describe('disposal ledger schema migration', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('replays a version-1 sha256 chain into the keyed chain, keeps the original, rebuilds dispositions', async () => {
    dir = mkdtempSync(join(tmpdir(), 'hw-disposal-v1-'));
    const path = join(dir, 'hazardwatch.db');
    const db = new Database(path);
    db.exec(`
      CREATE TABLE alarms (alarm_id TEXT PRIMARY KEY, gateway_id TEXT NOT NULL, enterprise_id TEXT NOT NULL);
      INSERT INTO alarms VALUES ('a-1', 'gw-01', 'ent-01');
      CREATE TABLE disposal_events (seq INTEGER PRIMARY KEY AUTOINCREMENT, alarm_id TEXT NOT NULL,
        enterprise_id TEXT NOT NULL, action TEXT NOT NULL, actor TEXT NOT NULL, detail TEXT NOT NULL,
        at INTEGER NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL UNIQUE);
      CREATE INDEX disposal_events_alarm ON disposal_events (alarm_id, seq);
      CREATE TRIGGER disposal_events_no_delete BEFORE DELETE ON disposal_events
        BEGIN SELECT RAISE(ABORT, 'disposal_events is append-only'); END;
      CREATE TABLE alarm_dispositions (alarm_id TEXT PRIMARY KEY, enterprise_id TEXT NOT NULL,
        level INTEGER NOT NULL, drill INTEGER NOT NULL, status TEXT NOT NULL, opened_at INTEGER NOT NULL,
        acknowledged_at INTEGER, acknowledged_by TEXT, assignee TEXT, measures INTEGER NOT NULL DEFAULT 0,
        closed_at INTEGER, closed_by TEXT, escalation_level INTEGER NOT NULL DEFAULT 0);
      INSERT INTO alarm_dispositions VALUES ('a-1', 'ent-01', 2, 0, 'acknowledged', ${T0 - 5}, ${T0 + 1},
        'op1', NULL, 0, NULL, NULL, 0);`);
    let prev = '0'.repeat(64);
    const rows = [
      { action: 'raised', actor: 'system', detail: { level: 2, drill: false }, at: T0 },
      { action: 'acknowledged', actor: 'op1', detail: {}, at: T0 + 1 },
    ];
    rows.forEach((row, i) => {
      const event = { seq: i + 1, alarmId: 'a-1', enterpriseId: 'ent-01', ...row };
      const hash = legacyChainHash(prev, event);
      db.prepare(
        'INSERT INTO disposal_events (seq, alarm_id, enterprise_id, action, actor, detail, at, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ).run(
        i + 1,
        'a-1',
        'ent-01',
        row.action,
        row.actor,
        JSON.stringify(row.detail),
        row.at,
        prev,
        hash,
      );
      prev = hash;
    });
    db.close();

    // The legacy embedded upgrade, as the embedded server ran it on start (schema-version.ts).
    const key = randomBytes(32);
    const raw = new Database(path);
    try {
      migrateComponent(raw, {
        component: 'disposal-ledger',
        version: DISPOSAL_LEDGER_SCHEMA_VERSION,
        existingTable: 'disposal_events',
        create: (d) => d.exec(SCHEMA),
        steps: { 1: (d) => migrateV1(d, key, 'test file') },
        what: 'test file',
      });
      const events = raw
        .prepare<[], EventRow>('SELECT * FROM disposal_events ORDER BY seq')
        .all()
        .map(eventFromRow);
      async function* chain() {
        yield* events;
      }
      // The keyed chain verifies with the one walk both ledgers use (hash-chain.ts).
      const walk = await walkChain(
        chain(),
        (prev, e) => chainHash(key, prev, e),
        () => null,
      );
      expect(walk).toMatchObject({ rows: 2, broken: null });
      const disposition = raw
        .prepare<[], DispositionRow>('SELECT * FROM alarm_dispositions')
        .all()
        .map(dispositionFromRow);
      expect(disposition).toEqual([
        expect.objectContaining({
          gatewayId: 'gw-01',
          status: 'acknowledged',
          acknowledgedBy: 'op1',
          openedAt: T0 - 5, // kept from the old table
        }),
      ]);
      expect(events.map((e) => [e.seq, e.action, e.at])).toEqual([
        [1, 'raised', T0],
        [2, 'acknowledged', T0 + 1],
      ]);
      expect(raw.prepare('SELECT COUNT(*) FROM disposal_events_v1').pluck().get()).toBe(2);
    } finally {
      raw.close();
    }
  });
});
