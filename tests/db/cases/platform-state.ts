/**
 * Shared cases: the registry, sessions, audit rows and the fleet's tables on server/db, on every
 * backend, with two or more nodes (each its own Database on one store) where a cluster makes
 * them meet: the same gateway noted by two nodes, a session made on one node and used on
 * another, audit rows from several nodes, an enrolment token raced for by several nodes.
 *
 * Races on SQLite: embedded mode is one process with one Database (server/db/database.ts: a
 * second connection to the file in the same process that writes while the first is inside a
 * transaction stalls in the busy handler). There the racers are concurrent callers on the one
 * Database, which is the race embedded mode has; on PostgreSQL each racer is its own node.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../common/clock.js';
import type { SensorInfo } from '../../../protocol/index.js';
import type { AlarmRecord } from '../../../server/alarms/ledger.js';
import { AuditLog } from '../../../server/auth/audit-log.js';
import type { Database } from '../../../server/db/database.js';
import { enrolmentProofData } from '../../../server/fleet/enrolment.js';
import { FleetService } from '../../../server/fleet/fleet-service.js';
import { type EnrolledGateway, FleetStore } from '../../../server/fleet/fleet-store.js';
import type { GatewayPresence } from '../../../server/gateways.js';
import { AccessControl, hashPassword } from '../../../server/platform/access.js';
import { Registry } from '../../../server/platform/registry.js';
import type { Backend, StoreHandle } from '../backends.js';

const T0 = Date.UTC(2026, 11, 7, 8, 30, 0, 123);

const ENTERPRISES = [
  { id: 'ent-001', name: '示例化工有限公司', province: '江苏省', park: '江北新材料科技园' },
  { id: 'ent-002', name: 'B 化工', province: '江苏省', city: '南京市' },
];
const INSTALLATIONS = [
  {
    id: 'tank-farm-1',
    enterpriseId: 'ent-001',
    name: 'LPG tank farm',
    peopleWithin500m: 120,
    inventory: [{ chemical: 'methane', quantityT: 30 }],
  },
];

function methane(sensorId: string, level1: number | null): SensorInfo {
  return {
    sensorId,
    name: `Methane ${sensorId}`,
    kind: 'gas',
    gas: 'methane',
    unit: '%LEL',
    rangeMin: 0,
    rangeMax: 100,
    ...(level1 === null
      ? {}
      : {
          alarmLimits: [
            {
              ruleId: `${sensorId}-gas`,
              name: 'level1',
              level: 1 as const,
              direction: 'high' as const,
              // GB/T 50493-2019 §5.5.3: level-1 combustible setpoint <= 25 %LEL
              setpoint: level1,
              deadband: 2,
            },
          ],
        }),
  };
}

function presence(
  gatewayId: string,
  enterpriseId: string,
  sensors: SensorInfo[],
  lastSeen = T0,
): GatewayPresence {
  return {
    gatewayId,
    enterpriseId,
    state: 'online',
    lastSeen,
    sensors,
    software: '0.1.0',
    stale: false,
    staleReason: null,
    clockSkewMs: null,
    clockSkewed: false,
  };
}

export function platformStateCases(backend: Backend): void {
  let store: StoreHandle;
  let clock: ManualClock;
  const cleanups: (() => Promise<unknown>)[] = [];
  beforeEach(async () => {
    store = await backend.freshStore();
    clock = new ManualClock(T0);
  });
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!();
    await store.close();
  });

  /** `count` nodes, each its own Database on the store. */
  async function nodes(count: number): Promise<Database[]> {
    const out: Database[] = [];
    for (let i = 0; i < count; i++) out.push(await store.openNode(`node-${i}`));
    return out;
  }

  /** Racing nodes: separate Databases on PostgreSQL, one shared Database on SQLite. */
  async function racingNodes(count: number): Promise<Database[]> {
    if (backend.kind === 'postgres') return nodes(count);
    const [only] = await nodes(1);
    return Array.from({ length: count }, () => only!);
  }

  async function registries(count: number): Promise<Registry[]> {
    const dbs = await racingNodes(count);
    // Every node upserts the configured enterprises at its start, all at once here.
    const out = dbs.map(
      (database) =>
        new Registry({ database, enterprises: ENTERPRISES, installations: INSTALLATIONS }),
    );
    await Promise.all(out.map((r) => r.start()));
    for (const r of out) cleanups.push(() => r.stop());
    return out;
  }

  describe('registry', () => {
    it('nodes starting together upsert the configured enterprises and installations once', async () => {
      const [a, b] = await registries(3);
      expect(await a!.enterprises()).toEqual([
        {
          id: 'ent-001',
          name: '示例化工有限公司',
          jurisdiction: { province: '江苏省', park: '江北新材料科技园' },
        },
        { id: 'ent-002', name: 'B 化工', jurisdiction: { province: '江苏省', city: '南京市' } },
      ]);
      const installations = await b!.installations('ent-001');
      expect(installations).toHaveLength(1);
      expect(installations[0]).toMatchObject({
        id: 'tank-farm-1',
        peopleWithin500m: 120,
        inventory: INSTALLATIONS[0]!.inventory,
        gradingError: null,
      });
      expect(installations[0]!.grading).not.toBeNull();
    });

    it('two nodes noting the same gateway at once both succeed: one row per sensor, heard by every node', async () => {
      const [a, b] = await registries(2);
      const sensors = Array.from({ length: 20 }, (_, i) =>
        methane(`GT-${String(i).padStart(3, '0')}`, 20),
      );
      for (let round = 0; round < 5; round++) {
        await Promise.all([
          a!.noteGateway(presence('gw-01', 'ent-003', sensors, T0 + round)),
          b!.noteGateway(presence('gw-01', 'ent-003', [...sensors].reverse(), T0 + round)),
        ]);
      }
      const seen = await b!.sensors('ent-003');
      expect(seen.map((s) => s.sensorId)).toEqual(sensors.map((s) => s.sensorId));
      expect(seen.every((s) => s.setpointLevel1 === 20 && s.gatewayId === 'gw-01')).toBe(true);
      // Only heard on MQTT: listed after the configured ones, without a jurisdiction.
      expect((await a!.enterprises()).map((e) => [e.id, e.jurisdiction])).toEqual([
        ['ent-001', { province: '江苏省', park: '江北新材料科技园' }],
        ['ent-002', { province: '江苏省', city: '南京市' }],
        ['ent-003', {}],
      ]);
      expect(await a!.enterprise('ent-003')).toEqual({
        id: 'ent-003',
        name: 'ent-003',
        jurisdiction: {},
      });
    });

    it('a setpoint taught by an alarm on one node survives a birth without setpoints noted on another', async () => {
      const [a, b] = await registries(2);
      await a!.noteGateway(presence('gw-01', 'ent-001', [methane('GT-101', null)]));
      const alarm = (level: 1 | 2, setpoint: number) =>
        ({ gatewayId: 'gw-01', sensorId: 'GT-101', level, setpoint }) as AlarmRecord;
      await Promise.all([a!.noteAlarm(alarm(1, 25)), b!.noteAlarm(alarm(2, 50))]);
      await b!.noteGateway(presence('gw-01', 'ent-001', [methane('GT-101', null)], T0 + 1));
      expect(await a!.sensors()).toEqual([
        expect.objectContaining({ sensorId: 'GT-101', setpointLevel1: 25, setpointLevel2: 50 }),
      ]);
      // A birth that states a setpoint wins over the one alarms taught.
      await a!.noteGateway(presence('gw-01', 'ent-001', [methane('GT-101', 20)], T0 + 2));
      expect((await b!.sensors('ent-001'))[0]).toMatchObject({
        setpointLevel1: 20,
        setpointLevel2: 50,
      });
    });

    it('enterprises(): one statement gives what the two queries it replaced gave, heard by gateway or by sensors alone', async () => {
      const [node] = await nodes(1);
      const registry = new Registry({
        database: node!,
        enterprises: ENTERPRISES,
        installations: INSTALLATIONS,
      });
      await registry.start();
      cleanups.push(() => registry.stop());
      // The replaced code: the configured rows in id order, then every enterprise id of a
      // gateway or a sensor not configured, sorted in JavaScript (code-unit order).
      const twoQueries = async () => {
        const db = node!.db;
        const rows = await db
          .selectFrom('registry_enterprises')
          .selectAll()
          .orderBy('id')
          .execute();
        const known = new Set(rows.map((r) => r.id));
        const heard = (
          await db
            .selectFrom('registry_gateways')
            .select('enterprise_id')
            .union(db.selectFrom('registry_sensors').select('enterprise_id'))
            .execute()
        )
          .map((r) => r.enterprise_id)
          .filter((id) => !known.has(id))
          .sort();
        return [rows.map((r) => r.id), heard];
      };
      const split = async () => {
        const all = await registry.enterprises();
        const configured = new Set(ENTERPRISES.map((e) => e.id));
        return [
          all.filter((e) => configured.has(e.id)).map((e) => e.id),
          all.filter((e) => !configured.has(e.id)).map((e) => e.id),
        ];
      };
      expect(await split()).toEqual(await twoQueries());
      // Many enterprises by their sensors (the index walk takes one step per enterprise), some
      // sharing a configured id, ids whose case orders them differently in a locale collation.
      for (let i = 0; i < 40; i++) {
        const enterpriseId = i % 10 === 0 ? 'ent-001' : `${i % 2 ? 'Ent' : 'ent'}-${100 + i}`;
        await registry.noteGateway(
          presence(`gw-${i}`, enterpriseId, [methane('GT-1', 20), methane('GT-2', null)]),
        );
      }
      // A gateway without sensors: heard by its gateway row alone.
      await registry.noteGateway(presence('gw-bare', 'ent-bare', []));
      // A gateway moved to another enterprise: its old sensors keep the old id, heard by them alone.
      await registry.noteGateway(presence('gw-moved', 'ent-old', [methane('GT-9', 20)]));
      await registry.noteGateway(presence('gw-moved', 'ent-new', [methane('GT-10', 20)]));
      const [configured, heard] = await twoQueries();
      expect(heard).toHaveLength(36 + 3);
      expect(heard).toContain('ent-old');
      expect(heard).toContain('ent-bare');
      expect(await split()).toEqual([configured, heard]);
      const all = await registry.enterprises();
      expect(all.find((e) => e.id === 'ent-old')).toEqual({
        id: 'ent-old',
        name: 'ent-old',
        jurisdiction: {},
      });
      expect(all.find((e) => e.id === 'ent-001')?.jurisdiction).toEqual({
        province: '江苏省',
        park: '江北新材料科技园',
      });
    });

    it('enterprises(): a gateway noted on another node after a read is in the next read', async () => {
      const [a, b] = await registries(2);
      expect((await a!.enterprises()).map((e) => e.id)).toEqual(['ent-001', 'ent-002']);
      await b!.noteGateway(presence('gw-07', 'ent-007', [methane('GT-101', 20)]));
      expect((await a!.enterprises()).map((e) => e.id)).toEqual(['ent-001', 'ent-002', 'ent-007']);
      expect(await a!.enterprise('ent-007')).toEqual({
        id: 'ent-007',
        name: 'ent-007',
        jurisdiction: {},
      });
    });

    it('refuses to run before its database is started, and after stop', async () => {
      const [node] = await nodes(1);
      const registry = new Registry({ database: node!, enterprises: [], installations: [] });
      await expect(registry.sensors()).rejects.toThrow('registry is not started');
      await registry.start();
      await registry.stop();
      await expect(registry.enterprises()).rejects.toThrow('registry is not started');
    });
  });

  describe('sessions', () => {
    const USERS = [
      {
        username: 'regulator',
        role: 'regulator' as const,
        passwordHash: hashPassword('correct horse'),
        jurisdiction: { province: '江苏省' },
      },
    ];

    async function accessNodes(count: number): Promise<AccessControl[]> {
      const out: AccessControl[] = [];
      for (const database of await nodes(count)) {
        const access = new AccessControl({ database, users: USERS, tokenTtlMs: 60_000, clock });
        await access.start();
        cleanups.push(() => access.stop());
        out.push(access);
      }
      return out;
    }

    it('a session made on node A authenticates on node B, and a logout on B ends it on A', async () => {
      const [a, b] = await accessNodes(2);
      expect(await a!.login('regulator', 'wrong')).toBeNull();
      expect(await a!.login('nobody', 'correct horse')).toBeNull();
      const session = await a!.login('regulator', 'correct horse');
      expect(session).not.toBeNull();
      expect(await b!.authenticate(session!.token)).toMatchObject({
        username: 'regulator',
        role: 'regulator',
        jurisdiction: { province: '江苏省' },
      });
      await b!.logout(session!.token);
      expect(await a!.authenticate(session!.token)).toBeNull();
      expect(await b!.authenticate(session!.token)).toBeNull();
    });

    it('a session expires on every node at its time, and the next login clears expired rows', async () => {
      const [a, b] = await accessNodes(2);
      const first = await a!.login('regulator', 'correct horse');
      clock.advance(59_999);
      expect(await b!.authenticate(first!.token)).not.toBeNull();
      clock.advance(1);
      expect(await b!.authenticate(first!.token)).toBeNull();
      const second = await b!.login('regulator', 'correct horse');
      expect(await a!.authenticate(second!.token)).not.toBeNull();
      const rows = await store.nodes[0]!.db.selectFrom('platform_sessions').selectAll().execute();
      expect(rows).toEqual([
        { token_hash: expect.any(String), username: 'regulator', expires_at: T0 + 120_000 },
      ]);
      // Only the hash is stored, never the token.
      expect(rows[0]!.token_hash).not.toBe(second!.token);
    });
  });

  describe('audit records', () => {
    function auditOn(database: Database, nodeId: string, extra: Partial<AuditLogOptions> = {}) {
      const audit = new AuditLog({ path: null, clock, database, nodeId, ...extra });
      cleanups.push(() => audit.stop());
      return audit;
    }
    type AuditLogOptions = ConstructorParameters<typeof AuditLog>[0];
    const rowsOf = (database: Database) =>
      database.db.selectFrom('audit_records').selectAll().orderBy('id').execute();

    it('records from two nodes reach the table in batches, each row naming its node', async () => {
      const [a, b] = await nodes(2);
      const auditA = auditOn(a!, 'node-a');
      const auditB = auditOn(b!, 'node-b');
      await Promise.all([auditA.start(), auditB.start()]);
      for (let i = 0; i < 10; i++) {
        auditA.record({
          category: 'broker',
          event: 'connect-refused',
          reason: `wrong password ${i}`,
          clientId: 'gw-99',
          remoteAddress: '10.0.0.9',
        });
        auditB.record({
          category: 'ingest',
          event: 'rejected',
          reason: 'schema',
          gatewayId: 'gw-01',
          topic: 'hazardwatch/v1/ent-001/gw-01/telemetry',
          payloadBytes: 512,
          detail: 'x'.repeat(1_000),
        });
      }
      // record() only queued: nothing is in the table until the flush.
      expect(await rowsOf(a!)).toEqual([]);
      await Promise.all([auditA.flushDatabase(), auditB.flushDatabase()]);
      const rows = await rowsOf(b!);
      expect(rows).toHaveLength(20);
      expect(rows.filter((r) => r.node_id === 'node-a')).toHaveLength(10);
      expect(rows.find((r) => r.node_id === 'node-a')).toEqual({
        id: expect.any(Number),
        at: T0,
        time: new Date(T0).toISOString(),
        node_id: 'node-a',
        category: 'broker',
        event: 'connect-refused',
        reason: 'wrong password 0',
        client_id: 'gw-99',
        username: null,
        gateway_id: null,
        remote_address: '10.0.0.9',
        topic: null,
        detail: null,
        payload_bytes: null,
        suppressed_count: null,
      });
      const fromB = rows.find((r) => r.node_id === 'node-b')!;
      expect(fromB).toMatchObject({ payload_bytes: 512, gateway_id: 'gw-01' });
      expect(fromB.detail).toHaveLength(301); // cut as in the file
      expect(auditA.databaseRecordsStored).toBe(10);
    });

    it('the queue flushes by itself shortly after a record', async () => {
      const [a] = await nodes(1);
      const audit = auditOn(a!, 'node-a', { flushIntervalMs: 5 });
      await audit.start();
      audit.record({ category: 'fleet', event: 'enrolled', reason: 'r', gatewayId: 'gw-03' });
      const deadline = Date.now() + 5_000;
      while ((await rowsOf(a!)).length === 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(await rowsOf(a!)).toEqual([expect.objectContaining({ event: 'enrolled' })]);
    });

    it('the rate limit bounds the rows as it bounds the file: the rest is one suppressed row', async () => {
      const [a] = await nodes(1);
      const audit = auditOn(a!, 'node-a', { maxRecordsPerSecond: 5 });
      await audit.start();
      for (let i = 0; i < 1_000; i++) {
        audit.record({ category: 'ingest', event: 'rejected', reason: 'flood' });
      }
      await audit.stop();
      const rows = await rowsOf(a!);
      expect(rows).toHaveLength(6);
      expect(rows.at(-1)).toMatchObject({ event: 'suppressed', suppressed_count: 995 });
    });

    it('retention: rows older than retentionMs and beyond maxRows are deleted', async () => {
      const [a] = await nodes(1);
      const audit = auditOn(a!, 'node-a', {
        retentionMs: 60_000,
        maxRows: 10,
        pruneIntervalMs: 0,
        maxRecordsPerSecond: 10_000,
      });
      await audit.start();
      audit.record({ category: 'ingest', event: 'rejected', reason: 'old' });
      await audit.flushDatabase();
      clock.advance(60_001);
      for (let i = 0; i < 25; i++) {
        audit.record({ category: 'ingest', event: 'rejected', reason: `new ${i}` });
      }
      await audit.flushDatabase();
      const rows = await rowsOf(a!);
      expect(rows.map((r) => r.reason)).toEqual(
        Array.from({ length: 10 }, (_, i) => `new ${i + 15}`),
      );
    });

    it('a failing insert is logged and counted, never thrown into record() or stop()', async () => {
      const [a] = await nodes(1);
      const audit = auditOn(a!, 'node-a');
      await audit.start();
      await a!.db.schema.dropTable('audit_records').execute();
      expect(() =>
        audit.record({ category: 'broker', event: 'connect-refused', reason: 'x' }),
      ).not.toThrow();
      await expect(audit.stop()).resolves.toBeUndefined();
      expect(audit.databaseFailures).toBe(1);
      expect(audit.databaseRecordsLost).toBe(1);
      expect(audit.recent()).toHaveLength(1); // still answered from memory
    });
  });

  describe('fleet', () => {
    const gateway = (gatewayId: string, enrolledAt = T0): EnrolledGateway => ({
      gatewayId,
      enterpriseId: 'ent-001',
      passwordHash: 'scrypt$c2FsdA==$a2V5',
      publicKey: '-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----',
      keyFingerprint: 'e'.repeat(64),
      enrolledAt,
      revokedAt: null,
      revokedBy: null,
      revokeReason: null,
    });

    async function fleetStores(count: number): Promise<FleetStore[]> {
      return (await racingNodes(count)).map((db) => new FleetStore(db));
    }

    it('a token raced for by 8 nodes is consumed by exactly one, which records its gateway', async () => {
      const stores = await fleetStores(8);
      for (let round = 0; round < 10; round++) {
        const hash = `${round}`.padStart(64, 'a');
        await stores[0]!.addToken({
          tokenHash: hash,
          enterpriseId: 'ent-001',
          gatewayId: null,
          createdBy: 'admin',
          createdAt: T0,
          expiresAt: T0 + 3_600_000,
          usedAt: null,
          usedBy: null,
        });
        const results = await Promise.all(
          stores.map((s, i) => s.consumeToken(hash, T0 + 1, gateway(`gw-${round}-${i}`))),
        );
        expect({ round, winners: results.filter(Boolean).length }).toEqual({ round, winners: 1 });
        const winner = results.indexOf(true);
        expect(await stores[1]!.token(hash)).toMatchObject({
          usedAt: T0 + 1,
          usedBy: `gw-${round}-${winner}`,
        });
      }
      const enrolled = await stores[3]!.gateways();
      expect(enrolled).toHaveLength(10);
      // A used token never enrols again, on any node.
      expect(await stores[5]!.consumeToken('0'.padStart(64, 'a'), T0 + 2, gateway('gw-x'))).toBe(
        false,
      );
    });

    it('a gateway enrolled through node A is known, revocable and pushable through node B', async () => {
      const [dbA, dbB] = await nodes(2);
      const published: string[] = [];
      const service = (database: Database) => {
        const fleet = new FleetService({
          database,
          clock,
          publish: async (topic) => {
            published.push(topic);
          },
          disconnect: () => 0,
          audit: () => {},
          mqttUrl: () => 'mqtt://127.0.0.1:1883',
        });
        cleanups.push(() => fleet.stop());
        return fleet;
      };
      const a = service(dbA!);
      const b = service(dbB!);
      await a.start();
      await b.start();
      const { token } = await a.createToken({ enterpriseId: 'ent-001', by: 'admin' });
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
      const proof = sign('sha256', enrolmentProofData(token, publicKeyPem), privateKey);
      const request = { token, publicKeyPem, proof: proof.toString('base64'), gatewayId: 'gw-5' };
      const enrolled = await b.enrol(request, 'localhost');
      expect(enrolled).toMatchObject({ gatewayId: 'gw-5', enterpriseId: 'ent-001' });
      // The token is spent for node A too.
      await expect(a.enrol(request, 'localhost')).rejects.toThrow(
        'enrolment token unknown or already used',
      );
      expect(a.gateway('gw-5')).toBeUndefined(); // A's memory has not heard yet
      await a.refresh();
      expect(a.gateway('gw-5')).toMatchObject({ enterpriseId: 'ent-001', revokedAt: null });
      const pushed = await a.pushVersion('gw-5', {
        config: 'gateway: {}',
        rules: [],
        reason: 'MoC 7',
        by: 'admin',
      });
      await b.refresh();
      expect(b.applyExpected('gw-5')).toBe(true);
      expect((await b.versions('gw-5')).map((d) => d.version)).toEqual([pushed.version]);
      expect(await b.revoke('gw-5', 'admin', 'decommissioned')).toBe(true);
      await a.refresh();
      expect(a.gateway('gw-5')?.revokedAt).toBe(T0);
      expect(a.directory.find('gw-5')).toBe('revoked');
    });

    it('an expired token is not consumed', async () => {
      const [a] = await fleetStores(1);
      await a!.addToken({
        tokenHash: 'f'.repeat(64),
        enterpriseId: 'ent-001',
        gatewayId: 'gw-9',
        createdBy: 'admin',
        createdAt: T0,
        expiresAt: T0 + 1_000,
        usedAt: null,
        usedBy: null,
      });
      expect(await a!.consumeToken('f'.repeat(64), T0 + 1_000, gateway('gw-9'))).toBe(false);
      expect(await a!.gateways()).toEqual([]);
    });

    it('revocation, versions and statuses are shared; a version number is stored once', async () => {
      const [a, b] = await fleetStores(2);
      await a!.addToken({
        tokenHash: 'f'.repeat(64),
        enterpriseId: 'ent-001',
        gatewayId: null,
        createdBy: 'admin',
        createdAt: T0,
        expiresAt: T0 + 1_000,
        usedAt: null,
        usedBy: null,
      });
      expect(await a!.consumeToken('f'.repeat(64), T0, gateway('gw-7'))).toBe(true);
      const results = await Promise.all([
        a!.revoke('gw-7', T0 + 5, 'admin', 'stolen'),
        b!.revoke('gw-7', T0 + 6, 'root', 'lost'),
      ]);
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await b!.gateway('gw-7')).toMatchObject({ revokedAt: expect.any(Number) });
      const doc = (version: number, by: string) =>
        ({ v: 1, version, by, reason: 'MoC 42' }) as never;
      await a!.addVersion('gw-7', doc(1, 'alice'));
      const raced = await Promise.allSettled([
        a!.addVersion('gw-7', doc(2, 'alice')),
        b!.addVersion('gw-7', doc(2, 'bob')),
      ]);
      expect(raced.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect((await b!.versions('gw-7')).map((d) => d.version)).toEqual([2, 1]);
      expect((await a!.latestVersion('gw-7'))?.version).toBe(2);
      const status = (version: number) =>
        ({ v: 1, version, state: 'applied', runningVersion: version, errors: [] }) as never;
      await Promise.all([a!.setStatus('gw-7', status(1)), b!.setStatus('gw-7', status(2))]);
      await a!.setStatus('gw-7', status(2));
      expect(await b!.statuses()).toEqual(new Map([['gw-7', status(2)]]));
    });
  });
}
