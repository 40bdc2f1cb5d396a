import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { STREAM_DEFAULTS } from '../../server/api/stream.js';
import { AuditLog } from '../../server/auth/audit-log.js';
import { MqttAccess } from '../../server/auth/mqtt-access.js';
import {
  generateSecret,
  hashPassword,
  isPasswordHash,
  verifyPassword,
} from '../../server/auth/password.js';
import { FailureThrottle } from '../../server/auth/throttle.js';
import { ConfigError, parseServerConfig } from '../../server/config/index.js';
import { type Harness, PASSWORD, startHarness } from '../platform/harness.js';
import { waitFor } from './fixtures.js';

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

describe('authentication backoff (issue 13 item 6)', () => {
  const limits = {
    pair: { threshold: 3, baseMs: 1_000, maxMs: 8_000 },
    account: { threshold: 10, baseMs: 1_000, maxMs: 4_000 },
    address: { threshold: 20, baseMs: 1_000, maxMs: 60_000 },
  };

  it('backs a pair off exponentially up to its cap, and forgets after the window', () => {
    const clock = new ManualClock();
    const throttle = new FailureThrottle({ ...limits, windowMs: 60_000, clock });
    const waits: number[] = [];
    for (let i = 0; i < 6; i++) {
      throttle.failure('alice', '10.0.0.9');
      waits.push(throttle.check('alice', '10.0.0.9').waitMs);
    }
    // Free until the threshold, then 1, 2, 4, 8 s and capped at 8 s.
    expect(waits).toEqual([0, 0, 1_000, 2_000, 4_000, 8_000]);
    expect(throttle.check('alice', '10.0.0.9').by).toBe('pair');
    clock.advance(8_000);
    expect(throttle.check('alice', '10.0.0.9').waitMs).toBe(0);
    throttle.failure('alice', '10.0.0.9');
    clock.advance(60_001);
    // A quiet window forgets the failures: the next one is free again.
    throttle.failure('alice', '10.0.0.9');
    expect(throttle.check('alice', '10.0.0.9').waitMs).toBe(0);
  });

  it('slows an account attacked from many addresses, more gently than a pair', () => {
    const clock = new ManualClock();
    const throttle = new FailureThrottle({ ...limits, clock });
    for (let i = 0; i < 12; i++) throttle.failure('alice', `10.0.1.${i}`);
    const verdict = throttle.check('alice', '192.168.7.7');
    expect(verdict.by).toBe('account');
    expect(verdict.waitMs).toBe(4_000); // 1 s × 2^2, at the account's cap
    expect(throttle.check('bob', '10.0.1.1').waitMs).toBe(0);
  });

  it('blocks an address spraying many accounts, except for accounts known from it', () => {
    const clock = new ManualClock();
    const throttle = new FailureThrottle({ ...limits, clock });
    throttle.success('carol', '10.0.0.9'); // carol logged in from the office NAT last week
    for (let i = 0; i < 20; i++) throttle.failure(`user-${i}`, '10.0.0.9');
    expect(throttle.check('dave', '10.0.0.9')).toEqual({ waitMs: 1_000, by: 'address' });
    expect(throttle.check('carol', '10.0.0.9')).toEqual({ waitMs: 0, by: null });
    expect(throttle.check('dave', '10.0.0.10').waitMs).toBe(0);
    expect(throttle.refused).toBe(1);
  });

  it('a success clears the pair, not the account', () => {
    const clock = new ManualClock();
    const throttle = new FailureThrottle({ ...limits, clock });
    for (let i = 0; i < 10; i++) throttle.failure('alice', '10.0.0.9');
    throttle.success('alice', '10.0.0.9');
    expect(throttle.check('alice', '10.0.0.9').by).toBe('account');
  });
});

describe('platform login backoff', () => {
  const login = (h: Harness, username: string, password: string, remoteAddress: string) =>
    h.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username, password },
      remoteAddress,
    });

  it('lets the right password of another user behind the attacking address in', async () => {
    const h = await startHarness();
    try {
      const codes: number[] = [];
      for (let i = 0; i < 11; i++) {
        codes.push((await login(h, 'admin', `guess-${i}`, '10.0.0.9')).statusCode);
      }
      expect(codes.slice(0, 10).every((c) => c === 401)).toBe(true);
      expect(codes[10]).toBe(429);
      // A colleague behind the same NAT, right password: in.
      expect((await login(h, 'op-a', PASSWORD, '10.0.0.9')).statusCode).toBe(200);
      // The attacked account from the attacker's address stays blocked, right password or not.
      const blocked = await login(h, 'admin', PASSWORD, '10.0.0.9');
      expect(blocked.statusCode).toBe(429);
      expect(blocked.headers['retry-after']).toBe('60');
      // Its owner elsewhere is not blocked by the attacker's pair.
      expect((await login(h, 'admin', PASSWORD, '10.0.0.20')).statusCode).toBe(200);
    } finally {
      await h.stop();
    }
  });
});

describe('live streams per user', () => {
  it('refuses one stream more than the cap with a clear 429, and takes one again after a close', async () => {
    const h = await startHarness();
    const aborts: AbortController[] = [];
    try {
      await h.app.listen({ host: '127.0.0.1', port: 0 });
      const base = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
      const token = await h.login('op-a');
      const open = async () => {
        const abort = new AbortController();
        aborts.push(abort);
        const response = await fetch(`${base}/api/v1/stream?access_token=${token}`, {
          signal: abort.signal,
        });
        return { response, abort };
      };
      const streams = [];
      for (let i = 0; i < STREAM_DEFAULTS.maxStreamsPerUser; i++) streams.push(await open());
      expect(streams.every((s) => s.response.status === 200)).toBe(true);
      const refused = await open();
      expect(refused.response.status).toBe(429);
      expect(await refused.response.json()).toMatchObject({
        code: 'HW_TOO_MANY_STREAMS',
        message: `user 'op-a' already has 8 live streams open (at most 8); close one first`,
      });
      // Another user is not affected.
      const other = await fetch(`${base}/api/v1/stream?access_token=${await h.login('admin')}`, {
        signal: (() => {
          const abort = new AbortController();
          aborts.push(abort);
          return abort.signal;
        })(),
      });
      expect(other.status).toBe(200);
      streams[0]!.abort.abort();
      await waitFor(async () => (await open()).response.status === 200, 'a stream slot to free');
    } finally {
      for (const abort of aborts) abort.abort();
      await h.stop();
    }
  });
});
