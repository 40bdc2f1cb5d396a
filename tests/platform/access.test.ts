import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ENTERPRISES,
  type Harness,
  PASSWORD,
  type RaisedAlarm,
  startHarness,
  VISIBLE,
} from './harness.js';

/** Every role tried against data it must not see. */
describe('platform access scoping', () => {
  let h: Harness;
  const tokens: Record<string, string> = {};
  const alarms: Record<string, RaisedAlarm> = {};

  const get = async (url: string, user?: string) => {
    const response = await h.app.inject({
      method: 'GET',
      url,
      headers: user ? { authorization: `Bearer ${tokens[user]}` } : {},
    });
    const json = response.headers['content-type']?.toString().startsWith('application/json');
    const body = (json ? response.json() : {}) as Record<string, unknown>;
    return { status: response.statusCode, body, raw: response.body };
  };

  beforeAll(async () => {
    h = await startHarness();
    for (const user of Object.keys(VISIBLE)) tokens[user] = await h.login(user);
    for (const e of ENTERPRISES) alarms[e] = await h.raise(e);
  });

  afterAll(async () => {
    await h.stop();
  });

  const users = Object.keys(VISIBLE);

  it.each(users)('ranks only the enterprises %s may see', async (user) => {
    const { status, body } = await get('/api/v1/enterprises', user);
    expect(status).toBe(200);
    const ids = (body.enterprises as { id: string }[]).map((e) => e.id).sort();
    expect(ids).toEqual(VISIBLE[user]);
  });

  const pairs = users.flatMap((user) => ENTERPRISES.map((e) => [user, e] as const));

  it.each(pairs)(
    '%s asking for enterprise %s gets 200 inside its scope and 403 outside',
    async (user, e) => {
      const { status, body } = await get(`/api/v1/enterprises/${e}`, user);
      if (VISIBLE[user]?.includes(e)) {
        expect(status).toBe(200);
        expect((body.enterprise as { id: string }).id).toBe(e);
      } else {
        expect(status).toBe(403);
        expect(body.code).toBe('HW_FORBIDDEN');
      }
    },
  );

  it.each(pairs)(
    "%s reading %s's alarm disposal gets 200 inside its scope and 403 outside",
    async (user, e) => {
      const { status } = await get(`/api/v1/alarms/${alarms[e]}/disposal`, user);
      expect(status).toBe(VISIBLE[user]?.includes(e) ? 200 : 403);
    },
  );

  it.each(pairs)(
    "%s acknowledging %s's alarm outside its scope gets 403 and changes nothing",
    async (user, e) => {
      if (VISIBLE[user]?.includes(e)) return expect(VISIBLE[user]).toContain(e);
      const response = await h.app.inject({
        method: 'POST',
        url: `/api/v1/alarms/${alarms[e]}/acknowledge`,
        headers: { authorization: `Bearer ${tokens[user]}` },
        payload: {},
      });
      expect(response.statusCode).toBe(403);
      expect((await h.platform.disposal.disposition(alarms[e]!))?.status).toBe('open');
    },
  );

  it.each(users)('%s sees only its alarms, sensors, gateways and ledger rows', async (user) => {
    const visible = new Set(VISIBLE[user]);
    const alarmsSeen = (await get('/api/v1/alarms?state=all', user)).body.alarms as {
      enterpriseId: string;
    }[];
    expect(new Set(alarmsSeen.map((a) => a.enterpriseId))).toEqual(visible);
    const sensors = (await get('/api/v1/sensors', user)).body.sensors as { enterpriseId: string }[];
    expect(new Set(sensors.map((s) => s.enterpriseId))).toEqual(visible);
    const gateways = (await get('/api/v1/gateways', user)).body.gateways as {
      enterpriseId: string;
    }[];
    expect(new Set(gateways.map((g) => g.enterpriseId))).toEqual(visible);
    const csv = (await get('/api/v1/ledger/export.csv', user)).raw;
    const rows = csv.trim().split('\r\n').slice(1);
    expect(new Set(rows.map((r) => r.split(',')[1]))).toEqual(visible);
  });

  it.each(pairs)("%s reading %s's telemetry gets 403 outside its scope", async (user, e) => {
    const { status } = await get(`/api/v1/telemetry?gatewayId=gw-${e}&sensorId=GT-101`, user);
    expect(status).toBe(VISIBLE[user]?.includes(e) ? 200 : 403);
  });

  it('answers an unknown id exactly as an id out of scope, so ids cannot be enumerated', async () => {
    const unknown = await get('/api/v1/enterprises/ent-zzz', 'reg-k2');
    const outside = await get('/api/v1/enterprises/ent-a', 'reg-k2');
    expect(unknown.status).toBe(outside.status);
    expect(unknown.body.code).toBe(outside.body.code);
    const unknownAlarm = await get(
      '/api/v1/alarms/ent-b/gw-ent-b/no-such-alarm/disposal',
      'reg-k2',
    );
    expect(unknownAlarm.status).toBe(403);
    const outsideAlarm = await get(`/api/v1/alarms/${alarms['ent-a']}/disposal`, 'reg-k2');
    expect(unknownAlarm.body.code).toBe(outsideAlarm.body.code);
  });

  it('lets the emergency centre read its region but take no disposal step', async () => {
    const response = await h.app.inject({
      method: 'POST',
      url: `/api/v1/alarms/${alarms['ent-d']}/acknowledge`,
      headers: { authorization: `Bearer ${tokens['ecc-p2']}` },
      payload: {},
    });
    expect(response.statusCode).toBe(403);
    expect(response.json()).toMatchObject({ code: 'HW_ROLE_FORBIDDEN' });
  });

  it('lets administrators and regulators verify the ledger, nobody else', async () => {
    for (const user of ['op-a', 'ecc-p2']) {
      expect((await get('/api/v1/ledger/verify', user)).status).toBe(403);
    }
    for (const user of ['admin', 'reg-p1']) {
      const response = await get('/api/v1/ledger/verify', user);
      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({ ok: true, brokenAt: null, problems: [] });
    }
  });

  it('refuses platform routes without a token, and a made-up token', async () => {
    expect((await get('/api/v1/enterprises')).status).toBe(401);
    const forged = await h.app.inject({
      method: 'GET',
      url: '/api/v1/alarms',
      headers: { authorization: 'Bearer forged-token-0123456789' },
    });
    expect(forged.statusCode).toBe(401);
  });

  it('refuses a wrong password without saying whether the user exists', async () => {
    const wrong = await h.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username: 'reg-p1', password: 'nope' },
    });
    const nobody = await h.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username: 'nobody', password: PASSWORD },
    });
    expect(wrong.statusCode).toBe(401);
    expect(nobody.json()).toEqual(wrong.json());
  });

  it('ends a session at logout and when it expires', async () => {
    const token = await h.login('reg-c1');
    const me = () =>
      h.app.inject({
        method: 'GET',
        url: '/api/v1/me',
        headers: { authorization: `Bearer ${token}` },
      });
    expect((await me()).statusCode).toBe(200);
    await h.app.inject({
      method: 'POST',
      url: '/api/v1/auth/logout',
      headers: { authorization: `Bearer ${token}` },
    });
    expect((await me()).statusCode).toBe(401);
    const other = await h.login('reg-c1');
    h.clock.advance(h.platform.config.tokenTtlMs);
    const expired = await h.app.inject({
      method: 'GET',
      url: '/api/v1/me',
      headers: { authorization: `Bearer ${other}` },
    });
    expect(expired.statusCode).toBe(401);
  });
});

describe('platform access with requireAuth and rate limits', () => {
  it('keeps health public, asks for a token for reads, and limits each user', async () => {
    const h = await startHarness({ requireAuth: true, rateLimitPerMinute: 5 });
    try {
      expect((await h.app.inject({ method: 'GET', url: '/api/v1/health' })).statusCode).toBe(200);
      expect((await h.app.inject({ method: 'GET', url: '/api/v1/alarms' })).statusCode).toBe(401);
      expect((await h.app.inject({ method: 'GET', url: '/api/v1/stream' })).statusCode).toBe(401);
      const token = await h.login('reg-p1');
      const other = await h.login('op-a');
      const call = (t: string) =>
        h.app.inject({
          method: 'GET',
          url: '/api/v1/alarms',
          headers: { authorization: `Bearer ${t}` },
        });
      for (let i = 0; i < 5; i++) expect((await call(token)).statusCode).toBe(200);
      const limited = await call(token);
      expect(limited.statusCode).toBe(429);
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      // Another user has a bucket of its own.
      expect((await call(other)).statusCode).toBe(200);
      h.clock.advance(12_000); // 5 per minute: one token back after 12 s
      expect((await call(token)).statusCode).toBe(200);
    } finally {
      await h.stop();
    }
  });

  it('limits login attempts per client address', async () => {
    const h = await startHarness();
    try {
      const attempt = () =>
        h.app.inject({
          method: 'POST',
          url: '/api/v1/auth/login',
          payload: { username: 'admin', password: 'x' },
        });
      const codes: number[] = [];
      for (let i = 0; i < 11; i++) codes.push((await attempt()).statusCode);
      expect(codes.slice(0, 10).every((c) => c === 401)).toBe(true);
      expect(codes[10]).toBe(429);
    } finally {
      await h.stop();
    }
  });
});
