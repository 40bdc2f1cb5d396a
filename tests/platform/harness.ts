/** A server without sockets for platform tests: real stores in memory, the API via inject(). */
import type { FastifyInstance } from 'fastify';
import { ManualClock } from '../../common/clock.js';
import type { AlarmEvent } from '../../protocol/index.js';
import type { AlarmKey } from '../../server/alarms/identity.js';
import type { AlarmLedger } from '../../server/alarms/ledger.js';
import { buildApp } from '../../server/api/app.js';
import { parseServerConfig } from '../../server/config/index.js';
import type { EventHub } from '../../server/events.js';
import type { Ingest } from '../../server/ingest.js';
import { Platform } from '../../server/platform/platform.js';
import { alarmEvent, batch, SENSORS, status, T0 } from '../server/fixtures.js';
import { deliver, startServerParts } from '../support/server-parts.js';

export const PASSWORD = 'correct horse battery';

/** Four enterprises in two provinces, one user per role and level. */
export const PLATFORM_CONFIG = {
  store: { path: ':memory:' },
  enterprises: [
    { id: 'ent-a', name: 'A 化工', province: 'P1', city: 'C1', county: 'K1', park: 'Z1' },
    { id: 'ent-b', name: 'B 化工', province: 'P1', city: 'C1', county: 'K2' },
    { id: 'ent-c', name: 'C 化工', province: 'P1', city: 'C2', county: 'K3' },
    { id: 'ent-d', name: 'D 化工', province: 'P2', city: 'C4', county: 'K9' },
  ],
  platform: {
    installations: [
      {
        id: 'unit-1',
        enterpriseId: 'ent-a',
        name: 'Chlorine store',
        peopleWithin500m: 120,
        inventory: [{ chemical: 'chlorine', quantityT: 60 }], // 12 × β4 × α2 = 96: grade 2
      },
    ],
    users: [
      { username: 'admin', role: 'admin', password: PASSWORD },
      { username: 'op-a', role: 'enterprise', enterpriseId: 'ent-a', password: PASSWORD },
      {
        username: 'reg-p1',
        role: 'regulator',
        jurisdiction: { province: 'P1' },
        password: PASSWORD,
      },
      {
        username: 'reg-c1',
        role: 'regulator',
        jurisdiction: { province: 'P1', city: 'C1' },
        password: PASSWORD,
      },
      {
        username: 'reg-k2',
        role: 'regulator',
        jurisdiction: { province: 'P1', city: 'C1', county: 'K2' },
        password: PASSWORD,
      },
      {
        username: 'ecc-p2',
        role: 'emergency',
        jurisdiction: { province: 'P2' },
        password: PASSWORD,
      },
    ],
    escalation: { acknowledgeWithinMs: [60_000, 120_000, 180_000], disposeWithinMs: [600_000] },
  },
};

/** Which enterprises each user must see, and nothing else. */
export const VISIBLE: Record<string, string[]> = {
  admin: ['ent-a', 'ent-b', 'ent-c', 'ent-d'],
  'op-a': ['ent-a'],
  'reg-p1': ['ent-a', 'ent-b', 'ent-c'],
  'reg-c1': ['ent-a', 'ent-b'],
  'reg-k2': ['ent-b'],
  'ecc-p2': ['ent-d'],
};

export const ENTERPRISES = ['ent-a', 'ent-b', 'ent-c', 'ent-d'];

/**
 * An alarm raised through the harness: its identity (pass it where an AlarmKey is asked) and
 * its URL form `ent/gw/alarm` (what `${alarm}` in a route gives).
 */
export interface RaisedAlarm extends AlarmKey {
  path: string;
  toString(): string;
}

export function raisedAlarm(key: AlarmKey): RaisedAlarm {
  const path = [key.enterpriseId, key.gatewayId, key.alarmId].map(encodeURIComponent).join('/');
  return { ...key, path, toString: () => path };
}

export interface Harness {
  clock: ManualClock;
  app: FastifyInstance;
  platform: Platform;
  ledger: AlarmLedger;
  ingest: Ingest;
  events: EventHub;
  send(
    enterpriseId: string,
    gatewayId: string,
    channel: 'telemetry' | 'alarm' | 'status',
    payload: object,
  ): Promise<unknown>;
  /** Raises an alarm on the enterprise's gateway through ingest. */
  raise(enterpriseId: string, overrides?: Partial<AlarmEvent>): Promise<RaisedAlarm>;
  login(username: string, password?: string): Promise<string>;
  stop(): Promise<void>;
}

export async function startHarness(
  overrides: { requireAuth?: boolean; rateLimitPerMinute?: number } = {},
): Promise<Harness> {
  const config = parseServerConfig({
    ...PLATFORM_CONFIG,
    platform: { ...PLATFORM_CONFIG.platform, ...overrides },
  });
  const clock = new ManualClock(T0);
  const parts = await startServerParts({ clock });
  const { store, database, ledger, notifier, gateways, events, ingest } = parts;
  const platform = new Platform({
    config: config.platform,
    enterprises: config.enterprises,
    path: ':memory:',
    database,
    events,
    ledger,
    gateways,
    store,
    clock,
  });
  await platform.start();
  const app = buildApp({
    store,
    ledger,
    gateways,
    notifier,
    ingest,
    events,
    clock,
    startedAt: T0,
    platform,
  });
  await app.ready();
  let seq = 1_000;
  const send: Harness['send'] = (enterpriseId, gatewayId, channel, payload) =>
    deliver(ingest, enterpriseId, gatewayId, channel, payload);
  // One gateway per enterprise with the fixture catalogue and a reading.
  for (const enterpriseId of ENTERPRISES) {
    const gatewayId = `gw-${enterpriseId}`;
    await send(
      enterpriseId,
      gatewayId,
      'status',
      status({ gatewayId, enterpriseId, sensors: SENSORS }),
    );
    await send(
      enterpriseId,
      gatewayId,
      'telemetry',
      batch([{ value: 3 }], { gatewayId, enterpriseId, seq: seq++ }),
    );
  }
  return {
    clock,
    app,
    platform,
    ledger,
    ingest,
    events,
    send,
    async raise(enterpriseId, o = {}) {
      const gatewayId = `gw-${enterpriseId}`;
      const alarmId = o.alarmId ?? `${enterpriseId}-alarm-${seq}`;
      await send(
        enterpriseId,
        gatewayId,
        'alarm',
        alarmEvent({ gatewayId, enterpriseId, alarmId, seq: seq++, ts: clock.now(), ...o }),
      );
      return raisedAlarm({ enterpriseId, gatewayId, alarmId });
    },
    async login(username, password = PASSWORD) {
      const response = await app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { username, password },
      });
      if (response.statusCode !== 200) throw new Error(`login ${username}: ${response.body}`);
      return (response.json() as { token: string }).token;
    },
    async stop() {
      await app.close();
      await platform.stop();
      await parts.stop();
    },
  };
}
