/**
 * A server without sockets for the supervision tests: the real ingest, stores, platform and
 * supervision service on one temporary SQLite file (as the central server runs them), a
 * ManualClock, and the API through inject().
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { ManualClock } from '../../common/clock.js';
import type { AlarmEvent, Reading, SensorInfo } from '../../protocol/index.js';
import { buildApp } from '../../server/api/app.js';
import { parseServerConfig } from '../../server/config/index.js';
import type { EventHub } from '../../server/events.js';
import { Platform } from '../../server/platform/platform.js';
import { defaultSupervisionConfig } from '../../server/supervision/config.js';
import { SupervisionService } from '../../server/supervision/service.js';
import { alarmEvent, T0 } from '../server/fixtures.js';
import { deliver, startServerParts } from '../support/server-parts.js';

export const PASSWORD = 'correct horse battery';
export const KEY = Buffer.alloc(32, 7);

/** Two enterprises in two counties of one city; a methane tank with a level sensor at ent-a. */
export function supervisionConfig(supervision: Record<string, unknown> = {}) {
  return {
    store: { path: ':memory:' },
    enterprises: [
      { id: 'ent-a', name: 'A 化工', province: 'P1', city: 'C1', county: 'K1' },
      { id: 'ent-b', name: 'B 化工', province: 'P1', city: 'C1', county: 'K2' },
    ],
    platform: {
      installations: [
        {
          id: 'unit-1',
          enterpriseId: 'ent-a',
          name: 'LNG tank farm',
          peopleWithin500m: 40, // α = 1.2 (GB 18218-2018 Table 5)
          inventory: [{ chemical: 'methane', quantityT: 30 }], // S = 30/50 = 0.6: not major
        },
      ],
      users: [
        { username: 'admin', role: 'admin', password: PASSWORD },
        { username: 'op-a', role: 'enterprise', enterpriseId: 'ent-a', password: PASSWORD },
        { username: 'op-b', role: 'enterprise', enterpriseId: 'ent-b', password: PASSWORD },
        {
          username: 'reg-k1',
          role: 'regulator',
          jurisdiction: { province: 'P1', city: 'C1', county: 'K1' },
          password: PASSWORD,
        },
        {
          username: 'reg-k2',
          role: 'regulator',
          jurisdiction: { province: 'P1', city: 'C1', county: 'K2' },
          password: PASSWORD,
        },
      ],
      supervision: {
        vessels: [
          {
            id: 'T-1',
            installationId: 'unit-1',
            chemical: 'methane',
            gatewayId: 'gw-a',
            sensorId: 'LT-301',
            capacityM3: 200,
            densityTPerM3: 0.45, // LNG, t/m³: full = 90 t
          },
        ],
        ...supervision,
      },
    },
  };
}

export const SENSORS_A: SensorInfo[] = [
  {
    sensorId: 'GT-101',
    name: 'Tank farm methane',
    kind: 'gas',
    unit: '%LEL',
    gas: 'methane',
    installationId: 'unit-1',
  },
  { sensorId: 'LT-301', name: 'Tank 1 level', kind: 'level', unit: '%', installationId: 'unit-1' },
];

export interface Harness {
  clock: ManualClock;
  app: FastifyInstance;
  events: EventHub;
  platform: Platform;
  supervision: SupervisionService;
  path: string;
  status(
    enterpriseId: string,
    gatewayId: string,
    state: 'online' | 'offline',
    sensors?: SensorInfo[],
  ): Promise<void>;
  read(enterpriseId: string, gatewayId: string, readings: Partial<Reading>[]): Promise<void>;
  /** An alarm transition from the gateway (fixture event with these overrides). */
  alarm(enterpriseId: string, gatewayId: string, event: Partial<AlarmEvent>): Promise<void>;
  login(username: string): Promise<string>;
  get<T>(token: string, url: string): Promise<{ status: number; body: T }>;
  post<T>(token: string, url: string, payload: object): Promise<{ status: number; body: T }>;
  stop(): Promise<void>;
}

export async function startHarness(supervision: Record<string, unknown> = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'hw-supervision-'));
  const path = join(dir, 'hazardwatch.db');
  const config = parseServerConfig({ ...supervisionConfig(supervision), store: { path } });
  const clock = new ManualClock(T0);
  const parts = await startServerParts({ clock, path });
  const { store, database, ledger, notifier, gateways, events, ingest } = parts;
  const platform = new Platform({
    config: config.platform,
    enterprises: config.enterprises,
    path,
    database,
    events,
    ledger,
    gateways,
    store,
    clock,
    ledgerKey: KEY,
  });
  await platform.start();
  const service = new SupervisionService({
    config: config.platform.supervision ?? defaultSupervisionConfig(),
    path,
    database,
    key: KEY,
    clock,
    events,
    registry: platform.registry,
    gateways,
    disposal: platform.disposal,
  });
  await service.start();
  const app = buildApp({
    store,
    ledger,
    gateways,
    notifier,
    ingest,
    events,
    clock,
    startedAt: T0,
    dashboard: false,
    platform,
    supervision: service,
  });
  await app.ready();
  let seq = 1;
  const send = async (
    enterpriseId: string,
    gatewayId: string,
    channel: 'telemetry' | 'status' | 'alarm',
    payload: object,
  ) => {
    const outcome = await deliver(ingest, enterpriseId, gatewayId, channel, payload);
    if (outcome.result !== 'stored') throw new Error(`ingest refused: ${JSON.stringify(outcome)}`);
  };
  const inject = async <T>(
    token: string,
    method: 'GET' | 'POST',
    url: string,
    payload?: object,
  ) => {
    const response = await app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${token}` },
      ...(payload ? { payload } : {}),
    });
    return { status: response.statusCode, body: response.json() as T };
  };
  return {
    clock,
    app,
    events,
    platform,
    supervision: service,
    path,
    async status(enterpriseId, gatewayId, state, sensors) {
      await send(enterpriseId, gatewayId, 'status', {
        v: 1,
        gatewayId,
        enterpriseId,
        state,
        ts: clock.now(),
        ...(sensors ? { sensors } : {}),
      });
    },
    async read(enterpriseId, gatewayId, readings) {
      await send(enterpriseId, gatewayId, 'telemetry', {
        v: 1,
        gatewayId,
        enterpriseId,
        seq: seq++,
        sentAt: clock.now(),
        readings: readings.map((r) => ({
          sensorId: 'GT-101',
          value: 0,
          quality: 'good',
          ts: clock.now(),
          ...r,
        })),
      });
    },
    async login(username) {
      const response = await app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { username, password: PASSWORD },
      });
      if (response.statusCode !== 200) throw new Error(`login ${username}: ${response.body}`);
      return (response.json() as { token: string }).token;
    },
    async alarm(enterpriseId, gatewayId, event) {
      await send(
        enterpriseId,
        gatewayId,
        'alarm',
        alarmEvent({
          enterpriseId,
          gatewayId,
          seq: seq++,
          ts: clock.now(),
          sentAt: clock.now(),
          ...event,
        }),
      );
    },
    get: (token, url) => inject(token, 'GET', url),
    post: (token, url, payload) => inject(token, 'POST', url, payload),
    async stop() {
      await app.close();
      await service.stop();
      await platform.stop();
      await parts.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
