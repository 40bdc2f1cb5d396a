import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { freePort } from '../../common/net.js';
import type { AlarmLedger } from '../../server/alarms/ledger.js';
import { buildApp } from '../../server/api/app.js';
import { Errors } from '../../server/api/errors.js';
import type { GatewayRegistry } from '../../server/gateways.js';
import type { Ingest } from '../../server/ingest.js';
import type { EmergencyNotifier } from '../../server/linkage/emergency-notifier.js';
import type { SqliteTelemetryStore } from '../../server/store/sqlite-store.js';
import { deliver, type ServerParts, startServerParts } from '../support/server-parts.js';
import { alarmEvent, batch, SECRET, SENSORS, status, T0, waitFor } from './fixtures.js';

describe('HTTP API', () => {
  let clock: ManualClock;
  let store: SqliteTelemetryStore;
  let ledger: AlarmLedger;
  let notifier: EmergencyNotifier;
  let gateways: GatewayRegistry;
  let ingest: Ingest;
  let app: FastifyInstance;

  const send = (channel: 'telemetry' | 'alarm' | 'status', payload: object, gatewayId = 'gw-01') =>
    deliver(ingest, 'ent-01', gatewayId, channel, payload);

  const get = async (url: string) => {
    const response = await app.inject({ method: 'GET', url });
    return { status: response.statusCode, body: response.json() as Record<string, unknown> };
  };

  let parts: ServerParts;
  beforeEach(async () => {
    clock = new ManualClock(T0);
    parts = await startServerParts({
      clock,
      notifier: {
        // Nothing listens there: the delivery stays pending.
        centres: [
          {
            id: 'ec-1',
            name: 'City',
            url: `http://127.0.0.1:${await freePort()}/`,
            secret: SECRET,
            minLevel: 2,
          },
        ],
        retryInitialMs: 60_000,
        retryMaxMs: 60_000,
      },
    });
    ({ store, ledger, notifier, gateways, ingest } = parts);
    const { events } = parts;
    app = buildApp({ store, ledger, gateways, notifier, ingest, events, clock, startedAt: T0 });
    await app.ready();
  });

  afterEach(async () => {
    await app.close();
    await parts.stop();
  });

  it('answers /api/v1/health with counts, telemetry age and uptime', async () => {
    expect((await get('/api/v1/health')).body).toEqual({
      status: 'ok',
      gatewaysOnline: 0,
      gatewaysKnown: 0,
      newestTelemetryAgeMs: null,
      ingest: { batches: 0, readings: 0, alarmEvents: 0, rejected: 0 },
      linkage: { pending: 0, delivered: 0 },
      uptimeS: 0,
    });
    await send('status', status({ sensors: SENSORS }));
    await send('status', status({ gatewayId: 'gw-02', state: 'offline' }), 'gw-02');
    await send('telemetry', batch([{ value: 1 }, { value: 2, sensorId: 'TT-201' }]));
    await send('alarm', alarmEvent());
    await ingest.handle({
      topic: 'hazardwatch/v1/ent-01/gw-01/nope',
      payload: Buffer.from('{}'),
      qos: 1,
      retain: false,
      clientId: 'gw-01',
    });
    clock.advance(42_000);
    expect((await get('/api/v1/health')).body).toEqual({
      status: 'ok',
      gatewaysOnline: 1,
      gatewaysKnown: 2,
      newestTelemetryAgeMs: 42_000,
      ingest: { batches: 1, readings: 2, alarmEvents: 1, rejected: 1 },
      linkage: { pending: 1, delivered: 0 },
      uptimeS: 42,
    });
  });

  it('lists catalogued sensors with their latest values, and uncatalogued ones by id', async () => {
    await send('status', status({ sensors: SENSORS }));
    await send(
      'telemetry',
      batch([
        { sensorId: 'GT-101', value: 12.5, ts: T0 + 1 },
        { sensorId: 'XV-9', value: true, quality: 'uncertain', reason: 'stale', ts: T0 + 2 },
      ]),
    );
    const { status: code, body } = await get('/api/v1/sensors');
    expect(code).toBe(200);
    expect(body.sensors).toEqual([
      {
        gatewayId: 'gw-01',
        enterpriseId: 'ent-01',
        sensorId: 'GT-101',
        name: 'Reactor hall methane',
        kind: 'gas',
        unit: '%LEL',
        gas: 'methane',
        installationId: 'unit-1',
        location: 'Reactor hall, east wall',
        value: 12.5,
        quality: 'good',
        ts: T0 + 1,
      },
      {
        gatewayId: 'gw-01',
        enterpriseId: 'ent-01',
        sensorId: 'TT-201',
        name: 'Tank 2 temperature',
        kind: 'temperature',
        unit: '°C',
        value: null,
        quality: 'bad',
        reason: 'no data yet',
        ts: null,
      },
      {
        gatewayId: 'gw-01',
        enterpriseId: 'ent-01',
        sensorId: 'XV-9',
        name: 'XV-9',
        kind: 'other',
        unit: '',
        value: true,
        quality: 'uncertain',
        reason: 'stale',
        ts: T0 + 2,
      },
    ]);
  });

  it('lists alarms newest first, active by default, in the documented shape', async () => {
    await send('alarm', alarmEvent({ alarmId: 'a1', ts: T0 }));
    await send(
      'alarm',
      alarmEvent({ alarmId: 'a2', ts: T0 + 1_000, sensorName: undefined, drill: true }),
    );
    await send('alarm', alarmEvent({ alarmId: 'a1', transition: 'cleared', ts: T0 + 2_000 }));

    const active = await get('/api/v1/alarms');
    expect(active.body.alarms).toEqual([
      {
        id: 'a2',
        gatewayId: 'gw-01',
        enterpriseId: 'ent-01',
        ruleId: 'GT-101-gas',
        sensorId: 'GT-101',
        sensorName: null,
        installationId: 'unit-1',
        location: 'Reactor hall, east wall',
        gas: 'methane',
        level: 2,
        state: 'active',
        value: 52.4,
        unit: '%LEL',
        setpoint: 50,
        raisedAt: '2026-01-01T08:00:01.000Z',
        clearedAt: null,
        drill: true,
      },
    ]);
    const all = await get('/api/v1/alarms?state=all&limit=100');
    expect(
      (all.body.alarms as { id: string; state: string; clearedAt: string | null }[]).map((a) => [
        a.id,
        a.state,
        a.clearedAt,
      ]),
    ).toEqual([
      ['a2', 'active', null],
      ['a1', 'cleared', '2026-01-01T08:00:02.000Z'],
    ]);
  });

  it('refuses bad query parameters with a coded 400', async () => {
    for (const url of [
      '/api/v1/alarms?state=open',
      '/api/v1/alarms?limit=0',
      '/api/v1/telemetry?sensorId=GT-101',
    ]) {
      const { status: code, body } = await get(url);
      expect(code, url).toBe(400);
      expect(body).toMatchObject({
        statusCode: 400,
        code: Errors.validation.code,
        error: 'Bad Request',
      });
    }
    const badTime = await get('/api/v1/telemetry?gatewayId=gw-01&sensorId=GT-101&from=yesterday');
    expect(badTime.body).toMatchObject({ code: Errors.badTime.code });
    expect(badTime.body.message).toContain("(got 'yesterday')");
    const backwards = await get(
      `/api/v1/telemetry?gatewayId=gw-01&sensorId=GT-101&from=${T0 + 1}&to=${T0}`,
    );
    expect(backwards.body).toMatchObject({ statusCode: 400, code: Errors.badRange.code });
  });

  it('lists gateways with state, last seen time and catalogue size', async () => {
    await send('status', status({ sensors: SENSORS }));
    clock.advance(5_000);
    await send('status', status({ gatewayId: 'gw-02', state: 'offline' }), 'gw-02');
    expect((await get('/api/v1/gateways')).body).toEqual({
      gateways: [
        {
          gatewayId: 'gw-01',
          enterpriseId: 'ent-01',
          state: 'online',
          lastSeen: '2026-01-01T08:00:00.000Z',
          sensors: 2,
        },
        {
          gatewayId: 'gw-02',
          enterpriseId: 'ent-01',
          state: 'offline',
          lastSeen: '2026-01-01T08:00:05.000Z',
          sensors: 0,
        },
      ],
    });
  });

  it('returns one sensor’s readings in a range given as epoch ms or ISO 8601', async () => {
    await send(
      'telemetry',
      batch(
        Array.from({ length: 5 }, (_, i) => ({ sensorId: 'GT-101', value: i, ts: T0 + i * 1000 })),
      ),
    );
    const byMs = await get(
      `/api/v1/telemetry?gatewayId=gw-01&sensorId=GT-101&from=${T0 + 1000}&to=${T0 + 3000}`,
    );
    expect(byMs.body).toEqual({
      readings: [
        { ts: T0 + 1000, value: 1, quality: 'good' },
        { ts: T0 + 2000, value: 2, quality: 'good' },
        { ts: T0 + 3000, value: 3, quality: 'good' },
      ],
    });
    const byIso = await get(
      '/api/v1/telemetry?gatewayId=gw-01&sensorId=GT-101&from=2026-01-01T08:00:03Z&to=2026-01-01T09:00:00Z&limit=1',
    );
    expect(byIso.body).toEqual({ readings: [{ ts: T0 + 4000, value: 4, quality: 'good' }] });
    clock.advance(60_000);
    const lastHour = await get('/api/v1/telemetry?gatewayId=gw-01&sensorId=GT-101');
    expect((lastHour.body.readings as unknown[]).length).toBe(5);
  });

  it('lists linkage deliveries', async () => {
    await send('alarm', alarmEvent());
    await waitFor(
      async () => (await notifier.deliveries())[0]?.lastError,
      'the failed first attempt',
    );
    const { body } = await get('/api/v1/linkage/deliveries');
    expect(body.deliveries).toEqual([
      {
        notificationId: expect.stringMatching(/^ntf-[0-9a-f]{32}$/),
        enterpriseId: 'ent-01',
        gatewayId: 'gw-01',
        alarmId: 'GT-101-gas.L2.1',
        centreId: 'ec-1',
        centreName: 'City',
        state: 'pending',
        attempts: 1,
        lastStatus: null,
        lastError: expect.any(String),
        createdAt: '2026-01-01T08:00:00.000Z',
        nextAttemptAt: expect.any(String),
        deliveredAt: null,
      },
    ]);
  });

  it('answers unknown routes with a coded 404 and serves the dashboard at /', async () => {
    const missing = await get('/api/v1/nothing?x=1');
    expect(missing).toEqual({
      status: 404,
      body: {
        statusCode: 404,
        code: Errors.routeNotFound.code,
        error: 'Not Found',
        message: 'no route GET /api/v1/nothing',
      },
    });
    const page = await app.inject({ method: 'GET', url: '/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
  });
});
