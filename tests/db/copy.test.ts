/**
 * The copy tool (server/db/copy.ts, platform-copy.ts) against a real PostgreSQL 15: an embedded
 * file filled by the real stores on a SQLite Database (alarm ledger, disposal chain, an emergency
 * delivery paged to a real HTTP receiver, the registry, a session, the hazard ledger, grades and
 * outages) is copied, then the target is opened with the same stores: every row reads back the
 * same, both chains verify with the plant's key, and new writes continue the numbering.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { DisposalLedger } from '../../server/alarms/disposal.js';
import { AlarmLedger, type AlarmRecord } from '../../server/alarms/ledger.js';
import { Database } from '../../server/db/database.js';
import {
  CLUSTER_ONLY_TABLES,
  COPIED_TABLES,
  CopyRefusedError,
  copyPlatform,
} from '../../server/db/platform-copy.js';
import { EmergencyNotifier } from '../../server/linkage/emergency-notifier.js';
import { AccessControl, hashPassword } from '../../server/platform/access.js';
import { Registry } from '../../server/platform/registry.js';
import { SupervisionStore } from '../../server/supervision/store.js';
import { alarmEvent, SENSORS, T0 } from '../server/fixtures.js';
import { type PostgresServer, startPostgres } from '../support/postgres.js';

const REPO = path.resolve(import.meta.dirname, '../..');
const USERS = [
  {
    username: 'regulator',
    role: 'regulator' as const,
    passwordHash: hashPassword('correct horse'),
    jurisdiction: { province: '江苏省' },
  },
];
const ENTERPRISES = [{ id: 'ent-01', name: '示例化工有限公司', province: '江苏省' }];
const TOKEN_TTL_MS = 3_600_000;

/** One emergency centre that accepts every page. */
async function receiver(): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(202, { 'content-type': 'application/json' }).end('{}'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { server, url: `http://127.0.0.1:${port}/api/v1/notifications` };
}

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The stores a server runs, on one Database. */
async function storesOn(database: Database, key: Buffer, clock: ManualClock) {
  const ledger = new AlarmLedger({ database, clock });
  const disposal = new DisposalLedger({ database, clock, key });
  const registry = new Registry({ database, enterprises: ENTERPRISES, installations: [] });
  const access = new AccessControl({ database, users: USERS, tokenTtlMs: TOKEN_TTL_MS, clock });
  const supervision = new SupervisionStore({ database, clock, key });
  const all = [ledger, disposal, registry, access, supervision];
  for (const s of all) await s.start();
  return {
    ledger,
    disposal,
    registry,
    access,
    supervision,
    stop: async () => {
      for (const s of all.reverse()) await s.stop();
    },
  };
}

interface Plant {
  token: string;
  alarms: AlarmRecord[];
}

/** Fills `file` as a running embedded server would. */
async function buildPlant(file: string, key: Buffer, clock: ManualClock): Promise<Plant> {
  const database = new Database({ kind: 'sqlite', path: file });
  await database.start();
  const centre = await receiver();
  try {
    const s = await storesOn(database, key, clock);
    const first = (await s.ledger.record(alarmEvent({ alarmId: 'GT-101-gas.L2.1' }))).alarm;
    await s.ledger.record(
      alarmEvent({ alarmId: 'GT-101-gas.L2.1', transition: 'acknowledged', ts: T0 + 5_000 }),
    );
    const second = (
      await s.ledger.record(
        alarmEvent({ alarmId: 'GT-102-gas.L1.1', sensorId: 'GT-102', level: 1 }),
      )
    ).alarm;
    const cleared = (
      await s.ledger.record(
        alarmEvent({
          alarmId: 'GT-102-gas.L1.1',
          sensorId: 'GT-102',
          level: 1,
          transition: 'cleared',
          ts: T0 + 9_000,
        }),
      )
    ).alarm;
    await s.disposal.track(first);
    clock.advance(60_000);
    await s.disposal.acknowledge(first, 'zhang.san', '现场确认');
    await s.disposal.close(first, 'zhang.san', '泄漏点已封堵');
    await s.disposal.track(cleared);
    // Chain: raised, acknowledged, closed; raised, cleared; escalated to 1 and 2: 7 rows.
    await s.disposal.escalate(second, 2, 'not acknowledged');

    const notifier = new EmergencyNotifier({
      database,
      nodeId: 'plant',
      clock,
      centres: [
        {
          id: 'ec-county',
          name: '县应急中心',
          url: centre.url,
          secret: 'linkage-secret-0123456789',
          minLevel: 2,
        },
      ],
      sweepIntervalMs: 3_600_000,
    });
    await notifier.start();
    expect(await notifier.notify(first)).toBe(1);
    await until(async () => (await notifier.counts()).delivered === 1, 'the page delivered');
    await notifier.stop();

    await s.registry.noteGateway({
      gatewayId: 'gw-01',
      enterpriseId: 'ent-01',
      state: 'online',
      lastSeen: T0,
      sensors: SENSORS,
      software: '0.1.0',
      stale: false,
      staleReason: null,
      clockSkewMs: null,
      clockSkewed: false,
    });
    const session = await s.access.login('regulator', 'correct horse');
    const hazard = await s.supervision.append({
      hazardId: null,
      enterpriseId: 'ent-01',
      installationId: null,
      action: 'opened',
      actor: 'system',
      detail: {
        kind: 'data-quality',
        severity: 'general',
        title: '探测器离线',
        source: 'screening',
        evidence: {},
        deadline: T0 + 86_400_000,
      },
    });
    await s.supervision.append({
      hazardId: hazard.hazardId,
      enterpriseId: 'ent-01',
      installationId: null,
      action: 'assigned',
      actor: 'admin',
      detail: { responsible: '李四' },
    });
    await s.supervision.recordGrade({
      installationId: 'unit-1',
      enterpriseId: 'ent-01',
      at: T0,
      sumRatio: 1.375,
      r: 42.5,
      isMajorHazard: true,
      grade: 2,
      previousGrade: null,
      inventory: [{ chemical: 'methane', quantityT: 55 }],
    });
    await s.supervision.startOutage('ent-01', 'gw-01', T0 + 1_000, 12);
    // Audit rows, one deleted (retention): AUTOINCREMENT's mark is then above the max id.
    await database.db
      .insertInto('audit_records')
      .values(
        [1, 2, 3].map((i) => ({
          at: T0 + i,
          time: new Date(T0 + i).toISOString(),
          node_id: 'plant',
          category: 'broker',
          event: 'connect-refused',
          reason: 'bad password',
        })),
      )
      .execute();
    await database.db.deleteFrom('audit_records').where('id', '=', 3).execute();
    await s.stop();
    return { token: session!.token, alarms: [first, cleared] };
  } finally {
    await database.stop();
    await new Promise((resolve) => centre.server.close(resolve));
  }
}

async function allRows(database: Database, table: string): Promise<string[]> {
  const { rows } = await sql<Record<string, unknown>>`SELECT * FROM ${sql.table(table)}`.execute(
    database.db,
  );
  return rows
    .map((r) => JSON.stringify(Object.entries(r).sort(([a], [b]) => a.localeCompare(b))))
    .sort();
}

describe('copy an embedded plant into PostgreSQL', () => {
  let postgres: PostgresServer;
  let dir: string;
  let file: string;
  let key: Buffer;
  let clock: ManualClock;
  let plant: Plant;
  const open: Database[] = [];

  beforeAll(async () => {
    postgres = await startPostgres();
  }, 60_000);
  afterAll(async () => {
    await postgres?.stop();
  });
  beforeEach(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'hw-copy-'));
    file = path.join(dir, 'hazardwatch.db');
    key = randomBytes(32);
    clock = new ManualClock(T0);
    plant = await buildPlant(file, key, clock);
  });
  afterEach(async () => {
    for (const d of open.splice(0)) await d.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function started(database: Database): Promise<Database> {
    open.push(database);
    await database.start();
    return database;
  }
  const sqliteNode = () => started(new Database({ kind: 'sqlite', path: file }));
  const postgresNode = (url: string) =>
    started(new Database({ kind: 'postgres', url, poolSize: 2 }));

  it('copies every table row for row; the stores read the same back and both chains verify', async () => {
    const url = await postgres.createDatabase();
    const report = await copyPlatform({ from: file, to: url, ledgerKey: key, batchRows: 2 });
    expect(report.tables.map((t) => t.table)).toEqual([...COPIED_TABLES]);
    expect(report.disposal).toMatchObject({ rows: 7, head: { seq: 7 } });
    expect(report.hazard).toMatchObject({ rows: 2, head: { seq: 2 } });
    const byTable = new Map(report.tables.map((t) => [t.table, t]));
    expect(byTable.get('alarm_events')).toMatchObject({
      source: 4,
      target: 4,
      identity: { column: 'event_id', next: 5 },
    });
    expect(byTable.get('disposal_events')?.identity).toEqual({ column: 'seq', next: 8 });
    // id 3 was deleted in the embedded file and is never given again.
    expect(byTable.get('audit_records')).toMatchObject({
      source: 2,
      identity: { column: 'id', next: 4 },
    });

    const source = await sqliteNode();
    const target = await postgresNode(url);
    for (const table of COPIED_TABLES) {
      const rows = await allRows(source, table);
      expect(await allRows(target, table), table).toEqual(rows);
      expect(byTable.get(table)).toMatchObject({ source: rows.length, target: rows.length });
    }
    expect((await allRows(source, 'delivery_claims')).length).toBe(1);
    for (const table of CLUSTER_ONLY_TABLES)
      expect(await allRows(target, table), table).toEqual([]);

    const before = await storesOn(source, key, clock);
    const after = await storesOn(target, key, clock);
    expect(await after.ledger.list()).toEqual(await before.ledger.list());
    for (const alarm of plant.alarms) {
      expect(await after.disposal.events(alarm)).toEqual(await before.disposal.events(alarm));
      expect(await after.disposal.disposition(alarm)).toEqual(
        await before.disposal.disposition(alarm),
      );
    }
    expect(await after.disposal.verify()).toMatchObject({ ok: true, rows: 7 });
    expect(await after.supervision.verify()).toMatchObject({ ok: true, rows: 2 });
    expect(await after.supervision.hazards()).toEqual(await before.supervision.hazards());
    expect(await after.supervision.gradeHistory('unit-1')).toEqual(
      await before.supervision.gradeHistory('unit-1'),
    );
    expect(await after.supervision.outages(0)).toEqual(await before.supervision.outages(0));
    expect(await after.registry.sensors()).toEqual(await before.registry.sensors());
    expect(await after.access.authenticate(plant.token)).toMatchObject({ username: 'regulator' });
    await before.stop();
    await after.stop();
  });

  it('after the copy, new writes on the target continue every numbering: chain seq max+1, no identity collision', async () => {
    const url = await postgres.createDatabase();
    await copyPlatform({ from: file, to: url, ledgerKey: key });
    const target = await postgresNode(url);
    const s = await storesOn(target, key, clock);
    const [, cleared] = plant.alarms;
    clock.advance(1_000);
    const ack = await s.disposal.acknowledge(cleared!, 'li.si', 'checked');
    expect(ack.status).toBe('acknowledged');
    const events = await s.disposal.events(cleared!);
    expect(events.at(-1)).toMatchObject({ seq: 8, action: 'acknowledged' });
    expect(await s.disposal.verify()).toMatchObject({ ok: true, rows: 8 });

    const next = await s.supervision.append({
      hazardId: null,
      enterpriseId: 'ent-01',
      installationId: null,
      action: 'opened',
      actor: 'system',
      detail: {
        kind: 'data-quality',
        severity: 'general',
        title: 'new',
        source: 'screening',
        evidence: {},
        deadline: T0,
      },
    });
    expect(next.hazardId).toBe('HZ-000003');
    expect(await s.supervision.verify()).toMatchObject({ ok: true, rows: 3 });

    const recorded = await s.ledger.record(
      alarmEvent({ alarmId: 'GT-103-gas.L2.1', sensorId: 'GT-103' }),
    );
    expect(recorded.isNew).toBe(true);
    const ids = await target.db
      .selectFrom('alarm_events')
      .select('event_id')
      .orderBy('event_id')
      .execute();
    expect(ids.map((r) => r.event_id)).toEqual([1, 2, 3, 4, 5]);
    expect(await s.supervision.startOutage('ent-01', 'gw-02', T0 + 2_000, 3)).toBe(true);
    const outages = await target.db
      .selectFrom('supervision_outages')
      .select('id')
      .orderBy('id')
      .execute();
    expect(outages.map((r) => r.id)).toEqual([1, 2]);
    const audit = await target.db
      .insertInto('audit_records')
      .values({
        at: T0,
        time: new Date(T0).toISOString(),
        node_id: 'server-1',
        category: 'broker',
        event: 'connect-refused',
        reason: 'x',
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    expect(audit.id).toBe(4);
    await s.stop();
  });

  it('refuses a target that already holds rows, naming the table, and changes nothing there', async () => {
    const url = await postgres.createDatabase();
    const target = await postgresNode(url);
    await target.db
      .insertInto('platform_sessions')
      .values({ token_hash: 'f'.repeat(64), username: 'someone', expires_at: T0 })
      .execute();
    await expect(copyPlatform({ from: file, to: url, ledgerKey: key })).rejects.toThrow(
      /already holds platform rows in platform_sessions \(1 rows\).*never merges/,
    );
    await expect(copyPlatform({ from: file, to: url, ledgerKey: key })).rejects.toBeInstanceOf(
      CopyRefusedError,
    );
    for (const table of COPIED_TABLES) {
      expect((await allRows(target, table)).length, table).toBe(
        table === 'platform_sessions' ? 1 : 0,
      );
    }

    // A second copy onto a target the first one filled is refused the same way.
    const filled = await postgres.createDatabase();
    await copyPlatform({ from: file, to: filled, ledgerKey: key });
    await expect(copyPlatform({ from: file, to: filled, ledgerKey: key })).rejects.toThrow(
      /already holds platform rows in registry_enterprises \(1 rows\), registry_gateways/,
    );
  });

  it('refuses another key before writing anything: the source chain does not verify with it', async () => {
    const url = await postgres.createDatabase();
    await expect(copyPlatform({ from: file, to: url, ledgerKey: randomBytes(32) })).rejects.toThrow(
      /the disposal chain does not verify on the embedded file .* at row 1/,
    );
    const target = await postgresNode(url);
    for (const table of COPIED_TABLES) expect(await allRows(target, table), table).toEqual([]);
  });

  it('a copy with the wrong key leaves the plant chain keyed as it was (the embedded upgrade re-keyed a file the layer made)', async () => {
    const url = await postgres.createDatabase();
    await expect(copyPlatform({ from: file, to: url, ledgerKey: randomBytes(32) })).rejects.toThrow(
      CopyRefusedError,
    );
    const source = await sqliteNode();
    const s = await storesOn(source, key, clock);
    expect(await s.disposal.verify()).toMatchObject({ ok: true, rows: 7 });
    const tables = await sql<{ name: string }>`SELECT name FROM sqlite_master
      WHERE type = 'table' AND name = 'disposal_events_v1'`.execute(source.db);
    expect(tables.rows).toEqual([]);
    await s.stop();
  });

  it('refuses an embedded file that does not exist, creating none', async () => {
    const missing = path.join(dir, 'elsewhere.db');
    await expect(
      copyPlatform({ from: missing, to: await postgres.createDatabase(), ledgerKey: key }),
    ).rejects.toThrow(`the embedded file '${missing}' does not exist`);
    expect(existsSync(missing)).toBe(false);
  });

  it('is all or nothing: a row PostgreSQL refuses late in the copy leaves the target empty, its identities untouched', async () => {
    const source = await sqliteNode();
    // SQLite keeps a NUL in text; PostgreSQL refuses it. platform_sessions is copied after the chains.
    await source.db
      .insertInto('platform_sessions')
      .values({ token_hash: 'e'.repeat(64), username: 'bad\u0000name', expires_at: T0 })
      .execute();
    await source.stop();
    const url = await postgres.createDatabase();
    await expect(copyPlatform({ from: file, to: url, ledgerKey: key })).rejects.toThrow(
      /table 'platform_sessions': the rows after rowid 0: .*0x00/,
    );
    const target = await postgresNode(url);
    for (const table of COPIED_TABLES) expect(await allRows(target, table), table).toEqual([]);
    const first = await target.db
      .insertInto('alarm_events')
      .values({
        alarm_id: 'a',
        transition: 'raised',
        gateway_id: 'gw-01',
        enterprise_id: 'ent-01',
        seq: 1,
        ts: T0,
        sent_at: T0,
        received_at: T0,
        level: 2,
        value: null,
        drill: 0,
        payload: '{}',
      })
      .returning('event_id')
      .executeTakeFirstOrThrow();
    expect(first.event_id).toBe(1);
  });

  describe('command line', () => {
    function run(args: string[], env: NodeJS.ProcessEnv = {}) {
      return new Promise<{ code: number | null; stdout: string; stderr: string }>(
        (resolve, reject) => {
          const child = spawn(process.execPath, ['--import', 'tsx', 'server/db/copy.ts', ...args], {
            cwd: REPO,
            env: { ...process.env, LOG_LEVEL: 'warn', HAZARDWATCH_LEDGER_KEY: '', ...env },
          });
          let stdout = '';
          let stderr = '';
          child.stdout.on('data', (d: Buffer) => {
            stdout += d;
          });
          child.stderr.on('data', (d: Buffer) => {
            stderr += d;
          });
          child.on('error', reject);
          child.on('close', (code) => resolve({ code, stdout, stderr }));
        },
      );
    }

    it('--help prints the usage and exits 0', async () => {
      const r = await run(['--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(
        'usage: tsx server/db/copy.ts --from <sqlite file> --to <postgres url>',
      );
    }, 30_000);

    it('a bad --to exits 2 naming it, without its password', async () => {
      const r = await run(['--from', file, '--to', 'mysql://root:s3cret@db/plant']);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("--to: 'mysql://root:***@db/plant' is not a PostgreSQL URL");
      expect(r.stderr + r.stdout).not.toContain('s3cret');
      const missing = await run(['--to', 'postgres://h/db']);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain('--from is required');
    }, 30_000);

    it('copies with the key file and prints a per-table summary; the password never shows', async () => {
      const keyFile = path.join(dir, 'plant.key');
      writeFileSync(keyFile, `${key.toString('hex')}\n`, { mode: 0o600 });
      // The test cluster trusts loopback, so any password gets in; it must not be printed.
      const url = (await postgres.createDatabase()).replace('hazardwatch@', 'hazardwatch:s3cret@');
      const r = await run(['--from', file, '--to', url, '--ledger-key-file', keyFile]);
      expect(r.stderr).not.toContain('s3cret');
      expect(r.code).toBe(0);
      expect(r.stdout).not.toContain('s3cret');
      expect(r.stdout).toContain('to:   postgres://hazardwatch:***@127.0.0.1');
      expect(r.stdout).toMatch(/^alarm_events\s+4\s+4\s+event_id 5$/m);
      expect(r.stdout).toMatch(/^disposal chain: 7 rows verified, head 7 [0-9a-f]{64}$/m);
      expect(r.stdout).toMatch(/^OK: 23 tables, \d+ rows copied and verified$/m);
      const again = await run(['--from', file, '--to', url, '--ledger-key-file', keyFile]);
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(
        /copy failed: target 'postgres:\/\/hazardwatch:\*\*\*@.*already holds platform rows in registry_enterprises/,
      );
    }, 60_000);
  });
});
