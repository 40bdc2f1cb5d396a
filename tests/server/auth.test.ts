import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { AuditLog } from '../../server/auth/audit-log.js';
import { MqttAccess } from '../../server/auth/mqtt-access.js';
import {
  generateSecret,
  hashPassword,
  isPasswordHash,
  verifyPassword,
} from '../../server/auth/password.js';
import { ConfigError, parseServerConfig } from '../../server/config/index.js';

describe('password hashes', () => {
  it('stores scrypt with its cost and a random salt, and verifies only the right password', async () => {
    const hash = await hashPassword('correct horse');
    expect(hash).toMatch(/^scrypt\$1024\$8\$1\$[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}$/);
    expect(hash).not.toContain('correct horse');
    expect(await hashPassword('correct horse')).not.toBe(hash); // salted
    expect(await verifyPassword('correct horse', hash)).toBe(true);
    expect(await verifyPassword('correct horsf', hash)).toBe(false);
    expect(isPasswordHash(hash)).toBe(true);
  });

  it('keeps a higher cost inside the hash and refuses malformed or absurd hashes', async () => {
    const strong = await hashPassword('pw', { cost: 2 ** 14 });
    expect(strong.split('$')[1]).toBe('16384');
    expect(await verifyPassword('pw', strong)).toBe(true);
    expect(await verifyPassword('pw', 'plain-text')).toBe(false);
    expect(await verifyPassword('pw', 'scrypt$3$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA')).toBe(false);
    expect(await verifyPassword('pw', `scrypt$${2 ** 30}$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA`)).toBe(
      false,
    );
    await expect(hashPassword('pw', { cost: 1000 })).rejects.toThrow(/power of two/);
  });

  it('generates 256-bit secrets', () => {
    const secret = generateSecret();
    expect(Buffer.from(secret, 'base64url')).toHaveLength(32);
    expect(generateSecret()).not.toBe(secret);
  });
});

describe('MQTT access decisions', () => {
  it('checks a password once per cache period', async () => {
    const clock = new ManualClock();
    const access = new MqttAccess({
      mode: 'password',
      users: [
        {
          username: 'gw-01',
          role: 'gateway',
          enterpriseId: 'ent-01',
          passwordHash: await hashPassword('pw', { cost: 2 ** 14 }),
        },
      ],
      cacheTtlMs: 60_000,
      now: () => clock.now(),
    });
    const connect = () => access.authenticate('gw-01', 'gw-01', Buffer.from('pw'), undefined);
    await connect();
    await connect();
    expect(access.scryptChecks).toBe(1); // the second connect came from the cache
    await expect(
      access.authenticate('gw-01', 'gw-01', Buffer.from('nope'), undefined),
    ).rejects.toThrow("wrong password for 'gw-01'");
    expect(access.scryptChecks).toBe(2); // a different password is never served from the cache
    clock.advance(60_001);
    await connect();
    expect(access.scryptChecks).toBe(3); // the cache period is over: checked again
  });

  it('lets a gateway publish only its own gateway channels and subscribe only to its ack and command', () => {
    const access = new MqttAccess({
      mode: 'password',
      users: [{ username: 'gw-01', role: 'gateway', enterpriseId: 'ent-01' }],
    });
    const gw = { username: 'gw-01', role: 'gateway' as const, enterpriseId: 'ent-01' };
    const cases: [string, boolean][] = [
      ['hazardwatch/v1/ent-01/gw-01/telemetry', true],
      ['hazardwatch/v1/ent-01/gw-01/alarm', true],
      ['hazardwatch/v1/ent-01/gw-01/status', true],
      ['hazardwatch/v1/ent-01/gw-01/ack', false],
      ['hazardwatch/v1/ent-01/gw-01/command', false],
      ['hazardwatch/v1/ent-01/gw-02/telemetry', false],
      ['hazardwatch/v1/ent-02/gw-01/telemetry', false],
      ['hazardwatch/v2/ent-01/gw-01/telemetry', false],
      ['hazardwatch/v1/ent-01/gw-01/telemetry/extra', false],
    ];
    expect(cases.map(([topic]) => [topic, access.mayPublish(gw, topic)])).toEqual(cases);
    expect(access.maySubscribe(gw, 'hazardwatch/v1/ent-01/gw-01/ack')).toBe(true);
    expect(access.maySubscribe(gw, 'hazardwatch/v1/ent-01/gw-01/command')).toBe(true);
    for (const filter of ['#', '+/#', '$SYS/#', 'hazardwatch/v1/ent-01/gw-01/+', 'a/b']) {
      expect(access.maySubscribe(gw, filter)).toBe(false);
    }
    expect(access.mayPublish(null, 'hazardwatch/v1/ent-01/gw-01/telemetry')).toBe(false);
  });
});

describe('MQTT security config', () => {
  const problemsOf = (mqtt: object): readonly string[] => {
    try {
      parseServerConfig({ mqtt });
    } catch (err) {
      if (err instanceof ConfigError) return err.problems;
      throw err;
    }
    return [];
  };

  it("allows mode 'none' only on loopback and names what each mode needs", () => {
    expect(problemsOf({ host: '127.0.0.1' })).toEqual([]);
    expect(problemsOf({ host: '0.0.0.0' })).toEqual([
      "mqtt.auth.mode: 'none' lets anyone publish and is allowed only on a loopback host; use 'password' or 'mtls' (got host '0.0.0.0')",
    ]);
    expect(
      problemsOf({ auth: { mode: 'mtls', users: [{ username: 'gw-1', role: 'gateway' }] } }),
    ).toEqual([
      "mqtt.tls.caFile: is required when mqtt.auth.mode is 'mtls'",
      'mqtt.auth.users[0].enterpriseId: is required for a gateway',
    ]);
    expect(problemsOf({ auth: { mode: 'password' } })).toEqual([
      "mqtt.auth.users: 'password' mode needs users (or mqtt.auth.usersFile)",
    ]);
    expect(
      problemsOf({
        auth: {
          mode: 'password',
          users: [{ username: 'gw-1', role: 'gateway', enterpriseId: 'e', passwordHash: 'x' }],
        },
      }),
    ).toEqual(['mqtt.auth.users[0].passwordHash: must match pattern "^scrypt\\$" (got <hidden>)']);
    expect(
      problemsOf({
        auth: {
          mode: 'password',
          users: [{ username: 'c', role: 'client', passwordHash: 'scrypt$x', subscribe: ['#'] }],
        },
      }),
    ).toEqual([
      expect.stringMatching(/^mqtt\.auth\.users\[0\]\.subscribe\[0\]: must match pattern/),
    ]);
  });
});

describe('audit log', () => {
  let dir: string;
  let clock: ManualClock;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hw-audit-'));
    clock = new ManualClock(Date.UTC(2026, 0, 1));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const lines = (file: string) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  it('appends one JSON line per record with the time, cutting long strings', async () => {
    const path = join(dir, 'sub', 'audit.jsonl');
    const audit = new AuditLog({ path, clock });
    await audit.start();
    audit.record({ category: 'broker', event: 'connect-refused', reason: 'wrong password' });
    audit.record({
      category: 'ingest',
      event: 'rejected',
      reason: 'schema',
      detail: 'x'.repeat(1000),
    });
    await audit.stop();
    await audit.stop(); // safe twice
    const written = lines(path);
    expect(written[0]).toEqual({
      time: '2026-01-01T00:00:00.000Z',
      category: 'broker',
      event: 'connect-refused',
      reason: 'wrong password',
    });
    expect(String(written[1]?.detail)).toHaveLength(301);
  });

  it('rotates at maxBytes, keeping one older file', async () => {
    const path = join(dir, 'audit.jsonl');
    const audit = new AuditLog({ path, clock, maxBytes: 1_024, maxRecordsPerSecond: 10_000 });
    await audit.start();
    for (let i = 0; i < 100; i++) {
      audit.record({ category: 'ingest', event: 'rejected', reason: `r${i}` });
    }
    await audit.stop();
    const current = lines(path);
    const previous = lines(`${path}.1`);
    expect(readFileSync(path).length).toBeLessThanOrEqual(1_024);
    expect(current.at(-1)?.reason).toBe('r99');
    expect(previous.length).toBeGreaterThan(0);
    expect(current.length + previous.length).toBeLessThan(100); // older rotations are gone
  });

  it('writes at most maxRecordsPerSecond and summarises the rest', async () => {
    const path = join(dir, 'audit.jsonl');
    const audit = new AuditLog({ path, clock, maxRecordsPerSecond: 5 });
    await audit.start();
    for (let i = 0; i < 1_000; i++) {
      audit.record({ category: 'ingest', event: 'rejected', reason: 'flood' });
    }
    await audit.stop();
    const written = lines(path);
    expect(written).toHaveLength(6);
    expect(written.at(-1)).toMatchObject({ event: 'suppressed', count: 995 });
    expect(audit.recorded).toBe(1_000);
  });
});
