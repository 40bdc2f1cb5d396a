/**
 * Shared cases: gateway presence across server nodes (server/cluster/presence-share.ts with the
 * presence monitor of server/gateways.ts), on every backend. Two nodes on one store, each handed
 * part of one gateway's status messages as a shared subscription would; the leader's monitor
 * judges on what both saw. Timers are off: each step runs what the timers would (every node's
 * share refreshes, the leader checks), on one ManualClock.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../common/clock.js';
import type { GatewayStatus, SensorInfo } from '../../../protocol/index.js';
import { AlarmLedger } from '../../../server/alarms/ledger.js';
import { PresenceShare } from '../../../server/cluster/presence-share.js';
import type { Database } from '../../../server/db/database.js';
import { EventHub } from '../../../server/events.js';
import {
  GATEWAY_OFFLINE_RULE,
  type GatewayPresence,
  GatewayPresenceMonitor,
  GatewayRegistry,
} from '../../../server/gateways.js';
import type { Backend, StoreHandle } from '../backends.js';

const T0 = Date.UTC(2026, 11, 7, 8, 0, 0);
const HEARTBEAT_MS = 15_000;
/** The monitor's default silence: 2 heartbeats + 5 s grace (server/gateways.ts). */
const MAX_SILENCE_MS = 35_000;

const SENSORS: SensorInfo[] = [
  { sensorId: 'GT-101', name: '可燃气体探测器 GT-101', kind: 'gas', unit: '%LEL' } as SensorInfo,
];

interface Node {
  id: string;
  database: Database;
  registry: GatewayRegistry;
  events: EventHub;
  share: PresenceShare;
  ledger: AlarmLedger;
  monitor: GatewayPresenceMonitor | null;
  /** 'gateway' events on this node's hub (ingest's and the share's). */
  seen: GatewayPresence[];
  /** What ingest does with a status message this node was handed. */
  status(state: GatewayStatus['state'], extra?: Partial<GatewayStatus>): void;
  /** Becomes leader: starts a presence monitor reading the shared view. */
  lead(): Promise<GatewayPresenceMonitor>;
  /** Deposed: stops its monitor. */
  resign(): Promise<void>;
}

export function presenceShareCases(backend: Backend): void {
  let store: StoreHandle;
  let clock: ManualClock;
  const stops: (() => Promise<void>)[] = [];

  beforeEach(async () => {
    store = await backend.freshStore();
    clock = new ManualClock(T0);
  });
  afterEach(async () => {
    while (stops.length > 0) await stops.pop()!();
    await store.close();
  });

  async function node(id: string, enabled: boolean | 'default' = true): Promise<Node> {
    const database = await store.openNode(id);
    const registry = new GatewayRegistry(clock);
    const events = new EventHub();
    const share = new PresenceShare({
      database,
      nodeId: id,
      registry,
      events,
      clock,
      flushMs: 0, // no timer: the steps below refresh
      ...(enabled === 'default' ? {} : { enabled }),
    });
    await share.start();
    stops.push(() => share.stop());
    const ledger = new AlarmLedger({ database, clock });
    await ledger.start();
    stops.push(() => ledger.stop());
    const seen: GatewayPresence[] = [];
    events.on('gateway', (g) => seen.push(g));
    const n: Node = {
      id,
      database,
      registry,
      events,
      share,
      ledger,
      monitor: null,
      seen,
      status(state, extra = {}) {
        const update = registry.applyStatus({
          v: 1,
          gatewayId: 'gw-1',
          enterpriseId: 'ent-1',
          state,
          ts: clock.now(),
          ...extra,
        });
        if (update.changed) events.emit('gateway', update.gateway);
      },
      async lead() {
        const monitor = new GatewayPresenceMonitor({
          registry,
          ledger,
          events,
          clock,
          view: share,
          checkIntervalMs: 3_600_000, // the steps check
        });
        await monitor.start();
        n.monitor = monitor;
        stops.push(() => monitor.stop());
        return monitor;
      },
      async resign() {
        await n.monitor?.stop();
        n.monitor = null;
      },
    };
    return n;
  }

  /** What the timers do between two steps: every share flushes and pulls, leaders check. */
  async function tick(nodes: Node[]): Promise<void> {
    for (const n of nodes) await n.share.refresh();
    for (const n of nodes) {
      if (n.monitor) {
        await n.monitor.check();
        await n.monitor.settled();
      }
    }
  }

  async function offlineAlarms(n: Node) {
    return (await n.ledger.list({ state: 'all' })).filter((a) => a.ruleId === GATEWAY_OFFLINE_RULE);
  }

  /** What GET /api/v1/gateways shows of gw-1 on a node (and what decides staleness). */
  function shown(n: Node) {
    const g = n.registry.get('gw-1');
    return g && { state: g.state, stale: g.stale, lastSeen: g.lastSeen, sensors: g.sensors.length };
  }

  describe('gateway presence across nodes', () => {
    it('two nodes each handed half the heartbeats of a gateway: the leader raises no offline alarm, and both nodes show it online', async () => {
      const a = await node('node-a');
      const b = await node('node-b');
      await a.lead();
      a.status('online', { sensors: SENSORS, software: 'gw 1.4.0' }); // the birth went to A
      // Round robin in pairs: A, A, B, B, ... so either node alone hears nothing for 45 s,
      // more than the 35 s after which a gateway is silent.
      let last = clock.now();
      for (let beat = 1; beat <= 16; beat++) {
        for (let step = 0; step < 3; step++) {
          clock.advance(HEARTBEAT_MS / 3);
          await tick([a, b]);
        }
        const to = Math.floor((beat + 1) / 2) % 2 === 0 ? a : b;
        to.status('online');
        last = clock.now();
      }
      clock.advance(5_000);
      await tick([a, b]);
      expect(await offlineAlarms(a)).toEqual([]);
      expect(a.seen.filter((g) => g.state === 'offline')).toEqual([]);
      expect(shown(a)).toEqual({ state: 'online', stale: false, lastSeen: last, sensors: 1 });
      expect(shown(b)).toEqual(shown(a));
      // The catalogue of A's birth reached B: B answers for its sensors too.
      expect(b.registry.sensor('gw-1', 'GT-101')).toMatchObject({ name: SENSORS[0]!.name });
      expect(b.registry.get('gw-1')?.software).toBe('gw 1.4.0');
      const row = await b.database.db
        .selectFrom('gateway_presence')
        .select(['last_seen', 'state'])
        .executeTakeFirstOrThrow();
      expect(row).toEqual({ last_seen: last, state: 'online' });
    });

    it('a gateway silent on both nodes: exactly one offline alarm, kept once through a leader handover and a moment of two leaders', async () => {
      const a = await node('node-a');
      const b = await node('node-b');
      await a.lead();
      a.status('online', { sensors: SENSORS });
      clock.advance(HEARTBEAT_MS);
      b.status('online');
      const lastSeen = clock.now();
      await tick([a, b]);
      for (let t = 0; t <= MAX_SILENCE_MS + 15_000; t += 5_000) {
        clock.advance(5_000);
        await tick([a, b]);
      }
      const raised = await offlineAlarms(a);
      expect(raised).toMatchObject([
        { gatewayId: 'gw-1', alarmId: `gw-1.offline.${lastSeen}`, state: 'active' },
      ]);
      for (const n of [a, b]) {
        expect(n.registry.get('gw-1')).toMatchObject({
          state: 'offline',
          stale: true,
          staleReason: 'heartbeat-timeout',
          lastSeen,
        });
      }
      // A is deposed, B takes over: B finds the alarm, raises none.
      await a.resign();
      await b.lead();
      clock.advance(5_000);
      await tick([a, b]);
      // Both believe they lead for a moment (A not yet told): still the one alarm.
      await a.lead();
      clock.advance(5_000);
      await tick([a, b]);
      expect(await offlineAlarms(b)).toEqual(raised);
      // The gateway is back through A (not leader any more): B, the leader, clears the alarm.
      await a.resign();
      a.status('online');
      await tick([a, b]);
      expect(await offlineAlarms(b)).toMatchObject([
        { alarmId: `gw-1.offline.${lastSeen}`, state: 'cleared' },
      ]);
      expect(shown(b)).toEqual(shown(a));
      expect(shown(b)).toMatchObject({ state: 'online', stale: false });
    });

    it('a last will taken by the non-leader node: the gateway is offline on both nodes and its offline alarm is raised once', async () => {
      const a = await node('node-a');
      const b = await node('node-b');
      await a.lead();
      a.status('online', { sensors: SENSORS });
      await tick([a, b]);
      clock.advance(5_000);
      // A will carries the ts of the connect that registered it: older than what came since.
      b.status('offline', { ts: T0 - 60_000 });
      const willAt = clock.now();
      expect(a.registry.get('gw-1')?.state).toBe('online'); // A has not heard yet
      await tick([a, b]);
      for (const n of [a, b]) {
        expect(n.registry.get('gw-1')).toMatchObject({
          state: 'offline',
          stale: true,
          staleReason: 'offline',
        });
      }
      // A heard it from the share, as a 'gateway' event on its hub (its monitor's source).
      expect(a.seen.at(-1)).toMatchObject({ gatewayId: 'gw-1', state: 'offline' });
      for (let i = 0; i < 12; i++) {
        clock.advance(5_000);
        await tick([a, b]);
      }
      expect(await offlineAlarms(a)).toMatchObject([
        { gatewayId: 'gw-1', alarmId: `gw-1.offline.${willAt}`, state: 'active', level: 1 },
      ]);
      expect(await offlineAlarms(b)).toHaveLength(1);
    });

    it('a will merged by a node before it became leader: the new leader raises its offline alarm when it takes over', async () => {
      const a = await node('node-a');
      const b = await node('node-b');
      await a.lead();
      a.status('online', { sensors: SENSORS });
      await tick([a, b]);
      clock.advance(5_000);
      b.status('offline'); // the will went to B; B shares it ...
      const willAt = clock.now();
      await b.share.refresh();
      await a.resign(); // ... and A dies before its next check
      await b.lead();
      await b.monitor!.settled();
      expect(await offlineAlarms(b)).toMatchObject([
        { gatewayId: 'gw-1', alarmId: `gw-1.offline.${willAt}`, state: 'active' },
      ]);
    });

    it('the shared row never goes backwards: the greater last_seen and the newer status win whatever order nodes flush in', async () => {
      const a = await node('node-a');
      const b = await node('node-b');
      b.status('online'); // B: heartbeat at T0
      clock.advance(10_000);
      a.status('offline'); // A: the will at T0 + 10 s
      await a.share.refresh(); // A flushes first ...
      await b.share.refresh(); // ... B's older news after it
      const row = await a.database.db
        .selectFrom('gateway_presence')
        .select(['last_seen', 'state', 'stale_reason', 'state_at', 'state_by'])
        .executeTakeFirstOrThrow();
      expect(row).toEqual({
        last_seen: T0 + 10_000,
        state: 'offline',
        stale_reason: 'offline',
        state_at: T0 + 10_000,
        state_by: 'node-a',
      });
      expect(shown(b)).toMatchObject({ state: 'offline', lastSeen: T0 + 10_000 });
    });

    it('a heartbeat whose ts has a fraction of a millisecond is shared with its batch (its skew was refused as a BIGINT, and the whole batch with it)', async () => {
      const a = await node('node-a');
      const b = await node('node-b');
      a.status('online', { ts: T0 - 1_234.5 }); // the protocol allows any epoch-ms number
      a.registry.applyStatus({
        v: 1,
        gatewayId: 'gw-2',
        enterpriseId: 'ent-1',
        state: 'online',
        ts: T0,
      });
      await a.share.refresh();
      await b.share.refresh();
      expect(
        b.registry
          .list()
          .map((g) => g.gatewayId)
          .sort(),
      ).toEqual(['gw-1', 'gw-2']);
      expect(Math.abs((b.registry.get('gw-1')?.clockSkewMs ?? 0) + 1_234.5)).toBeLessThanOrEqual(
        0.5,
      );
    });

    it('1,200 gateways seen three times each between two flushes all reach the other node (batches of 500 rows)', async () => {
      const a = await node('node-a');
      const b = await node('node-b');
      for (let i = 0; i < 1_200; i++) {
        const gatewayId = `gw-${String(i).padStart(4, '0')}`;
        for (let beat = 0; beat < 3; beat++) {
          a.registry.applyStatus({
            v: 1,
            gatewayId,
            enterpriseId: 'ent-1',
            state: 'online',
            ts: 0,
          });
        }
      }
      await a.share.refresh();
      await b.share.refresh();
      expect(b.registry.list()).toHaveLength(1_200);
      expect(b.registry.online()).toHaveLength(1_200);
    });

    it('with its timer on (real clock), a will taken by one node reaches the other within a few periods, and stop() flushes the last sightings', async () => {
      const open = async (id: string) => {
        const database = await store.openNode(id);
        const registry = new GatewayRegistry();
        const events = new EventHub();
        const share = new PresenceShare({
          database,
          nodeId: id,
          registry,
          events,
          enabled: true,
          flushMs: 50,
          pullMs: 50,
        });
        await share.start();
        return { database, registry, events, share };
      };
      const a = await open('node-a');
      const b = await open('node-b');
      stops.push(
        () => b.share.stop(),
        () => a.share.stop(),
      ); // safe twice
      const heard: GatewayPresence[] = [];
      b.events.on('gateway', (g) => heard.push(g));
      const status = { v: 1, gatewayId: 'gw-1', enterpriseId: 'ent-1', ts: Date.now() } as const;
      a.registry.applyStatus({ ...status, state: 'online' });
      a.registry.applyStatus({ ...status, state: 'offline' });
      const deadline = Date.now() + 5_000;
      while (b.registry.get('gw-1')?.state !== 'offline' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(b.registry.get('gw-1')).toMatchObject({ state: 'offline', staleReason: 'offline' });
      expect(heard.at(-1)).toMatchObject({ gatewayId: 'gw-1', state: 'offline' });
      // Seen just before a stop: written by the stop, not lost with the timer.
      a.registry.applyStatus({ ...status, gatewayId: 'gw-2', state: 'online' });
      await a.share.stop();
      const rows = await b.database.db
        .selectFrom('gateway_presence')
        .select('gateway_id')
        .execute();
      expect(rows.map((r) => r.gateway_id).sort()).toEqual(['gw-1', 'gw-2']);
    });

    it(`is on by default only in cluster mode (${backend.kind}: ${backend.kind === 'postgres' ? 'on' : 'off, nothing written'})`, async () => {
      const a = await node('node-a', 'default');
      expect(a.share.enabled).toBe(backend.kind === 'postgres');
      expect(a.share.lagMs).toBe(0); // no timer in these cases; off: always 0
      a.status('online', { sensors: SENSORS });
      await a.share.refresh();
      const rows = await a.database.db.selectFrom('gateway_presence').selectAll().execute();
      expect(rows).toHaveLength(backend.kind === 'postgres' ? 1 : 0);
    });
  });
}
