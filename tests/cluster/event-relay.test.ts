/**
 * The event relay (server/cluster/event-relay.ts) between two nodes on a real PostgreSQL 15:
 * each node has its own server hub, relay and fastify app serving the real SSE route
 * (server/api/stream.ts) from the relay's `live` hub. An event emitted on node A reaches an SSE
 * client of node B exactly once, never echoes back to A, and never enters B's server hub (whose
 * listeners page, command and grade). Big events are fragmented; too big ones and bus gaps make
 * the streams of the clients concerned say `resync` and end.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { AlarmRecord } from '../../server/alarms/ledger.js';
import { streamRoutes } from '../../server/api/stream.js';
import { EventRelay } from '../../server/cluster/event-relay.js';
import { Database } from '../../server/db/database.js';
import { EventHub, type ReadingsEvent } from '../../server/events.js';
import { type PostgresServer, startPostgres } from '../support/postgres.js';

interface SseEvent {
  event: string;
  data: unknown;
}

interface Client {
  events: SseEvent[];
  state: { ended: boolean };
  abort(): void;
}

/** An SSE client on `url`: frames into `events`, `state.ended` once the server ends it. */
async function sse(url: string, enterprise?: string): Promise<Client> {
  const abort = new AbortController();
  const response = await fetch(url, {
    signal: abort.signal,
    headers: enterprise ? { 'x-test-enterprise': enterprise } : {},
  });
  expect(response.status).toBe(200);
  const events: SseEvent[] = [];
  const state = { ended: false };
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let connected = false;
  void (async () => {
    for (;;) {
      const { done, value } = await reader.read().catch(() => ({ done: true, value: undefined }));
      if (done) {
        state.ended = true;
        return;
      }
      buffer += decoder.decode(value, { stream: true });
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        const lines = buffer.slice(0, end).split('\n');
        buffer = buffer.slice(end + 2);
        if (lines.includes(': connected')) connected = true;
        const event = lines.find((l) => l.startsWith('event: '))?.slice(7);
        const data = lines.find((l) => l.startsWith('data: '))?.slice(6);
        if (event && data) events.push({ event, data: JSON.parse(data) });
        end = buffer.indexOf('\n\n');
      }
    }
  })();
  await vi.waitFor(() => expect(connected).toBe(true));
  return { events, state, abort: () => abort.abort() };
}

function alarm(n: number, enterpriseId = 'ent-01'): AlarmRecord {
  return {
    alarmId: `gw-01:r-${n}`,
    gatewayId: 'gw-01',
    enterpriseId,
    ruleId: `r-${n}`,
    sensorId: 'lel-01',
    sensorName: '甲烷探测器',
    installationId: null,
    location: null,
    gas: 'CH4',
    level: 2,
    state: 'active',
    value: 42,
    unit: '%LEL',
    setpoint: 40,
    raisedAt: 1_700_000_000_000 + n,
    clearedAt: null,
    drill: false,
    message: null,
    receivedAt: 1_700_000_000_500 + n,
  };
}

interface Node {
  db: Database;
  hub: EventHub;
  relay: EventRelay;
  app: FastifyInstance;
  url: string;
  /** What reached the node's own server hub (where the side effects listen). */
  serverHubAlarms: AlarmRecord[];
}

let pgServer: PostgresServer;
let url: string;
const nodes: Node[] = [];
const clients: Client[] = [];

beforeAll(async () => {
  pgServer = await startPostgres();
}, 60_000);
afterAll(async () => {
  await pgServer?.stop();
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.abort();
  for (const n of nodes.splice(0)) {
    await n.app.close();
    await n.relay.stop();
    await n.db.stop();
  }
});

async function node(nodeId: string, relayOptions: { maxFragments?: number } = {}): Promise<Node> {
  const db = new Database({ kind: 'postgres', url, poolSize: 2, applicationName: nodeId });
  await db.start();
  const hub = new EventHub();
  const serverHubAlarms: AlarmRecord[] = [];
  hub.on('alarm', (a) => serverHubAlarms.push(a));
  const relay = new EventRelay({
    database: db,
    nodeId,
    events: hub,
    reconnectMs: 100,
    ...relayOptions,
  });
  await relay.start();
  // Aborted SSE sockets of the test's fetch clients must not hold close() (4 s otherwise).
  const app = Fastify({ forceCloseConnections: true });
  await app.register(streamRoutes, {
    prefix: '/api/v1',
    events: relay.live,
    // The test's stand-in for a login: the header names the one enterprise the client sees.
    scope: (request) => {
      const ent = request.headers['x-test-enterprise'];
      return typeof ent === 'string' ? new Set([ent]) : null;
    },
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const n = { db, hub, relay, app, url: `http://127.0.0.1:${port}/api/v1/stream`, serverHubAlarms };
  nodes.push(n);
  return n;
}

async function client(n: Node, enterprise?: string): Promise<Client> {
  const c = await sse(n.url, enterprise);
  clients.push(c);
  return c;
}

describe('event relay between two nodes on PostgreSQL', () => {
  beforeAll(async () => {
    url = await pgServer.createDatabase();
  });

  it('an alarm emitted on node A reaches an SSE client of node B exactly once, A’s own client once, and not B’s server hub', async () => {
    const a = await node('node-a');
    const b = await node('node-b');
    const onA = await client(a);
    const onB = await client(b);
    a.hub.emit('alarm', alarm(1));
    a.hub.emit('alarm', alarm(2));
    await vi.waitFor(() => expect(onB.events).toHaveLength(2), { timeout: 5_000 });
    // A marker from B afterwards: once it is on A, anything echoed back would be too.
    b.hub.emit('alarm', alarm(3));
    await vi.waitFor(() => expect(onA.events).toHaveLength(3), { timeout: 5_000 });
    await vi.waitFor(() => expect(onB.events).toHaveLength(3), { timeout: 5_000 });
    const ids = (c: Client) => c.events.map((e) => `${e.event} ${(e.data as { id: string }).id}`);
    expect(ids(onB)).toEqual(['alarm gw-01:r-1', 'alarm gw-01:r-2', 'alarm gw-01:r-3']);
    expect(ids(onA)).toEqual(['alarm gw-01:r-1', 'alarm gw-01:r-2', 'alarm gw-01:r-3']);
    // As GET /api/v1/alarms shows it, on the node that never ingested it.
    expect(onB.events[0]?.data).toMatchObject({
      id: 'gw-01:r-1',
      level: 2,
      sensorName: '甲烷探测器',
      raisedAt: new Date(1_700_000_000_001).toISOString(),
    });
    // Side effects stay with the node that ingested: B's server hub heard only its own alarm.
    expect(b.serverHubAlarms.map((x) => x.alarmId)).toEqual(['gw-01:r-3']);
    expect(a.serverHubAlarms.map((x) => x.alarmId)).toEqual(['gw-01:r-1', 'gw-01:r-2']);
    expect(a.relay.stats()).toMatchObject({ published: 2, received: 1, lost: 0 });
  });

  it('a readings batch far over the 8000-byte NOTIFY limit arrives whole, in fragments', async () => {
    const a = await node('node-a');
    const b = await node('node-b');
    const onB = await client(b);
    const batch: ReadingsEvent = {
      gatewayId: 'gw-01',
      enterpriseId: 'ent-01',
      readings: Array.from({ length: 2_000 }, (_, i) => ({
        sensorId: `pt-${i % 97}`,
        value: Math.round(Math.sin(i) * 10_000) / 100,
        quality: 'good' as const,
        ts: 1_700_000_000_000 + i * 1_000,
      })),
    };
    expect(JSON.stringify(batch).length).toBeGreaterThan(50_000);
    a.hub.emit('readings', batch);
    a.hub.emit('alarm', alarm(1));
    await vi.waitFor(() => expect(onB.events).toHaveLength(2), { timeout: 5_000 });
    // As a client on node A sees it (JSON: -0 reads back as 0).
    expect(onB.events[0]).toEqual({ event: 'readings', data: JSON.parse(JSON.stringify(batch)) });
    expect(onB.events[1]?.event).toBe('alarm');
  });

  it('an event too big to relay tells the clients of its enterprise on the other node to resync, and ends their streams', async () => {
    const a = await node('node-a', { maxFragments: 2 });
    const b = await node('node-b');
    const ent1 = await client(b, 'ent-01');
    const ent2 = await client(b, 'ent-02');
    // Random values do not deflate: about 60 KB of base64, over 2 fragments.
    const batch: ReadingsEvent = {
      gatewayId: 'gw-01',
      enterpriseId: 'ent-01',
      readings: Array.from({ length: 500 }, (_, i) => ({
        sensorId: randomBytes(24).toString('hex'),
        value: randomBytes(32).toString('base64'),
        quality: 'good' as const,
        ts: i,
      })),
    };
    a.hub.emit('readings', batch);
    a.hub.emit('alarm', alarm(9, 'ent-02'));
    await vi.waitFor(() => expect(ent1.state.ended).toBe(true), { timeout: 5_000 });
    expect(ent1.events).toEqual([
      { event: 'resync', data: { reason: "a 'readings' event too big to relay" } },
    ]);
    await vi.waitFor(() => expect(ent2.events).toHaveLength(1), { timeout: 5_000 });
    expect(ent2.events[0]?.event).toBe('alarm');
    expect(ent2.state.ended).toBe(false);
    expect(a.relay.stats().lost).toBe(1);
  });

  it('when node B’s listening session dies, its SSE clients get resync and their streams end; later events flow again', async () => {
    // Node ids of their own: no earlier case's ended session can match the kill below.
    const a = await node('node-a4');
    const b = await node('node-b4');
    const before = await client(b);
    const killed = await pgServer.query<{ ok: boolean }>(
      `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = 'node-b4/notification-bus'`,
    );
    expect(killed.map((r) => r.ok)).toEqual([true]);
    await vi.waitFor(() => expect(before.state.ended).toBe(true), { timeout: 5_000 });
    expect(before.events).toEqual([{ event: 'resync', data: { reason: 'live feed interrupted' } }]);
    // The browser reconnects (EventSource), reloads its snapshot and hears what follows.
    const after = await client(b);
    a.hub.emit('alarm', alarm(5));
    await vi.waitFor(() => expect(after.events).toHaveLength(1), { timeout: 5_000 });
    expect(after.events[0]?.event).toBe('alarm');
  });
});

describe('event relay on SQLite (embedded)', () => {
  it('feeds local events to the live hub and publishes nothing', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'hw-relay-'));
    const db = new Database({ kind: 'sqlite', path: path.join(dir, 'hazardwatch.db') });
    await db.start();
    try {
      const hub = new EventHub();
      const relay = new EventRelay({ database: db, nodeId: 'solo', events: hub });
      await relay.start();
      const heard: string[] = [];
      relay.live.on('alarm', (a) => heard.push(a.alarmId));
      const payload = alarm(1);
      let same = false;
      relay.live.on('alarm', (a) => {
        same = a === payload;
      });
      hub.emit('alarm', payload);
      // edgeAcknowledged is a command to this node's side effects, not a stream event.
      relay.live.on('edgeAcknowledged', () => heard.push('edge'));
      hub.emit('edgeAcknowledged', { gatewayId: 'gw-01', alarmId: 'gw-01:r-1', by: 'op' } as never);
      expect(heard).toEqual(['gw-01:r-1']);
      expect(same).toBe(true);
      await relay.stop();
      hub.emit('alarm', alarm(2));
      expect(heard).toEqual(['gw-01:r-1']);
      expect(relay.stats()).toEqual({ published: 0, received: 0, lost: 0, resyncs: 0 });
    } finally {
      await db.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
