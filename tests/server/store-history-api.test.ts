import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { buildApp } from '../../server/api/app.js';
import type { SqliteTelemetryStore } from '../../server/store/sqlite-store.js';
import { type ServerParts, startServerParts } from '../support/server-parts.js';
import { batch, T0 } from './fixtures.js';

describe('history API over the telemetry store', () => {
  let clock: ManualClock;
  let parts: ServerParts;
  let store: SqliteTelemetryStore;
  let app: FastifyInstance;

  const get = async (url: string) => {
    const response = await app.inject({ method: 'GET', url });
    return { status: response.statusCode, body: response.json() as Record<string, unknown> };
  };

  beforeEach(async () => {
    clock = new ManualClock(T0 + 3_600_000);
    parts = await startServerParts({
      clock,
      notifier: { retryInitialMs: 1_000, retryMaxMs: 1_000 },
    });
    const { ledger, gateways, notifier, ingest, events } = parts;
    store = parts.store;
    app = buildApp({ store, ledger, gateways, notifier, ingest, events, clock, dashboard: false });
    await app.ready();
    await store.writeBatch(
      batch([
        { sensorId: 'GT-101', value: 10, ts: T0 },
        { sensorId: 'GT-101', value: 30, ts: T0 + 30_000 },
        { sensorId: 'GT-101', value: 50, quality: 'uncertain', reason: 'drift', ts: T0 + 90_000 },
        { sensorId: 'GT-101', value: null, quality: 'bad', reason: 'timeout', ts: T0 + 150_000 },
      ]),
    );
  });

  afterEach(async () => {
    await app.close();
    await parts.stop();
  });

  const sensor = 'gatewayId=gw-01&sensorId=GT-101';

  it('answers raw readings with quality, reason, receive time and seq, oldest first', async () => {
    const { status, body } = await get(
      `/api/v1/history/raw?${sensor}&from=${T0 + 1}&to=${new Date(T0 + 150_000).toISOString()}&limit=2`,
    );
    expect(status).toBe(200);
    expect(body.from).toBe(T0 + 1);
    expect(body.to).toBe(T0 + 150_000);
    expect(body.readings).toEqual([
      {
        gatewayId: 'gw-01',
        enterpriseId: 'ent-01',
        sensorId: 'GT-101',
        ts: T0 + 90_000,
        value: 50,
        quality: 'uncertain',
        reason: 'drift',
        receivedAt: T0 + 3_600_000,
        seq: expect.any(Number),
      },
      expect.objectContaining({ ts: T0 + 150_000, value: null, quality: 'bad', reason: 'timeout' }),
    ]);
  });

  it('answers per-interval mean, min, max and count, leaving bad readings out', async () => {
    const { status, body } = await get(
      `/api/v1/history/aggregate?${sensor}&from=${T0}&to=${T0 + 179_999}&intervalMs=60000`,
    );
    expect(status).toBe(200);
    expect(body).toEqual({
      from: T0,
      to: T0 + 179_999,
      intervalMs: 60_000,
      buckets: [
        { ts: T0, mean: 20, min: 10, max: 30, count: 2 },
        { ts: T0 + 60_000, mean: 50, min: 50, max: 50, count: 1 },
      ],
    });
  });

  it('picks an interval of whole seconds for about 500 buckets when none is given', async () => {
    const { body } = await get(`/api/v1/history/aggregate?${sensor}`);
    // Default window: 24 h back from now → 172.8 s, rounded up to 173 s.
    expect(body.intervalMs).toBe(173_000);
    expect(body.to).toBe(T0 + 3_600_000);
  });

  it('refuses an interval that would make more than 10,000 buckets', async () => {
    const { status, body } = await get(
      `/api/v1/history/aggregate?${sensor}&from=0&to=${T0}&intervalMs=1000`,
    );
    expect(status).toBe(400);
    expect(body.code).toBe('HW_VALIDATION');
    expect(String(body.message)).toMatch(/at most 10000/);
  });

  it('answers the newest reading, or the newest at or before a time, or null', async () => {
    expect(
      ((await get(`/api/v1/history/latest?${sensor}`)).body.reading as { ts: number }).ts,
    ).toBe(T0 + 150_000);
    const earlier = await get(`/api/v1/history/latest?${sensor}&at=${T0 + 60_000}`);
    expect(earlier.body.reading).toMatchObject({ ts: T0 + 30_000, value: 30 });
    const none = await get('/api/v1/history/latest?gatewayId=gw-01&sensorId=NOPE');
    expect(none).toEqual({ status: 200, body: { reading: null } });
  });

  it('rejects bad ids, bad times and reversed ranges with the API error codes', async () => {
    expect((await get('/api/v1/history/raw?gatewayId=gw/01&sensorId=GT-101')).body.code).toBe(
      'HW_VALIDATION',
    );
    expect((await get(`/api/v1/history/raw?${sensor}&from=yesterday`)).body.code).toBe(
      'HW_BAD_TIME',
    );
    expect((await get(`/api/v1/history/raw?${sensor}&from=${T0 + 1}&to=${T0}`)).body.code).toBe(
      'HW_BAD_RANGE',
    );
  });
});
