/**
 * The fleet store compiles its statements once, when it is made (server/fleet/fleet-store.ts):
 * it needs a started database for that, and each call binds its own values into the same
 * compiled statement. The cross-node behaviour is in tests/db/cases/platform-state.ts.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '../../protocol/index.js';
import { Database } from '../../server/db/database.js';
import { type EnrolledGateway, FleetStore } from '../../server/fleet/fleet-store.js';

const T0 = Date.UTC(2026, 11, 7, 8, 0, 0);

const gateway = (gatewayId: string): EnrolledGateway => ({
  gatewayId,
  enterpriseId: 'ent-001',
  passwordHash: 'scrypt$c2FsdA==$a2V5',
  publicKey: '-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----',
  keyFingerprint: 'e'.repeat(64),
  enrolledAt: T0,
  revokedAt: null,
  revokedBy: null,
  revokeReason: null,
});

const document = (version: number, reason: string) => ({
  v: PROTOCOL_VERSION,
  version,
  hash: `${version}`.padStart(64, '0'),
  config: 'gateway: {}\n',
  rules: [],
  by: 'admin',
  reason,
  issuedAt: T0 + version,
});

describe('fleet store', () => {
  let database: Database;

  beforeEach(async () => {
    database = new Database({ kind: 'sqlite', path: ':memory:' });
    await database.start();
  });

  afterEach(async () => {
    await database.stop();
  });

  it('refuses a database that is not started, naming it', () => {
    const unstarted = new Database({ kind: 'sqlite', path: ':memory:' });
    expect(() => new FleetStore(unstarted)).toThrow(
      "fleet store: database ':memory:' must be started first",
    );
  });

  it('rejects a call once the database stopped, rather than running its statement', async () => {
    const store = new FleetStore(database);
    await database.stop();
    await expect(store.gateways()).rejects.toThrow("database ':memory:' is not started");
  });

  it('binds each call’s values: tokens, gateways, versions and statuses stay apart', async () => {
    const store = new FleetStore(database);
    for (const [hash, gatewayId] of [
      ['a'.repeat(64), 'gw-a'],
      ['b'.repeat(64), null],
    ] as const) {
      await store.addToken({
        tokenHash: hash,
        enterpriseId: 'ent-001',
        gatewayId,
        createdBy: 'admin',
        createdAt: T0,
        expiresAt: T0 + 60_000,
        usedAt: null,
        usedBy: null,
      });
    }
    expect(await store.consumeToken('a'.repeat(64), T0 + 1, gateway('gw-a'))).toBe(true);
    expect(await store.consumeToken('a'.repeat(64), T0 + 2, gateway('gw-x'))).toBe(false);
    expect(await store.consumeToken('b'.repeat(64), T0 + 60_000, gateway('gw-b'))).toBe(false);
    expect(await store.consumeToken('b'.repeat(64), T0 + 3, gateway('gw-b'))).toBe(true);
    expect(await store.token('a'.repeat(64))).toMatchObject({ usedAt: T0 + 1, usedBy: 'gw-a' });
    expect(await store.token('b'.repeat(64))).toMatchObject({ usedAt: T0 + 3, usedBy: 'gw-b' });
    expect(await store.token('c'.repeat(64))).toBeUndefined();

    expect(await store.revoke('gw-a', T0 + 4, 'admin', 'lost')).toBe(true);
    expect(await store.revoke('gw-a', T0 + 5, 'admin', 'again')).toBe(false);
    expect(await store.gateway('gw-a')).toMatchObject({ revokedAt: T0 + 4, revokeReason: 'lost' });
    expect((await store.gateways()).map((g) => [g.gatewayId, g.revokedAt])).toEqual([
      ['gw-a', T0 + 4],
      ['gw-b', null],
    ]);

    await store.addVersion('gw-a', document(1, 'first'));
    await store.addVersion('gw-a', document(2, 'second'));
    await store.addVersion('gw-b', document(1, 'only'));
    expect((await store.latestVersion('gw-a'))?.reason).toBe('second');
    expect((await store.latestVersion('gw-b'))?.reason).toBe('only');
    expect(await store.latestVersion('gw-c')).toBeUndefined();
    expect((await store.versions('gw-a')).map((d) => d.version)).toEqual([2, 1]);
    expect(await store.latestVersions()).toEqual(
      new Map([
        ['gw-a', 2],
        ['gw-b', 1],
      ]),
    );

    const status = (runningVersion: number | null) => ({
      v: PROTOCOL_VERSION,
      version: 2,
      state: 'applied' as const,
      runningVersion,
      errors: [],
      ts: T0,
    });
    await store.setStatus('gw-a', status(1));
    await store.setStatus('gw-a', status(2));
    await store.setStatus('gw-b', status(null));
    const statuses = await store.statuses();
    expect(statuses.get('gw-a')?.runningVersion).toBe(2);
    expect(statuses.get('gw-b')?.runningVersion).toBeNull();
  });
});
