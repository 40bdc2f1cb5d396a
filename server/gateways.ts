/**
 * Gateway presence registry, fed by status messages (birth with the sensor
 * catalogue, heartbeats, the last will 'offline') and by any other traffic.
 *
 * Held in memory: every gateway sends its birth (with the catalogue) on each
 * (re)connect, so after a server restart the registry refills as gateways
 * reconnect. Status messages apply in arrival order, not by their `ts`: a last
 * will carries the timestamp of the connect that registered it, which is older
 * than the heartbeats that followed, yet it is the newest news.
 *
 * Staleness: a gateway is stale (and so are its sensors' latest values) after
 * its last will, its clean 'offline', or two missed heartbeats
 * ({@link GatewayPresenceMonitor}); the monitor raises a gateway-offline alarm
 * in the ledger and clears it on the gateway's next birth or heartbeat.
 *
 * Clock skew: an 'online' status (birth, heartbeat) is sent live, never from
 * the outbox, so its `ts` against the server clock measures the gateway's
 * clock error (plus a small transit time). Beyond `skewThresholdMs` it is an
 * event: logged once when it starts and once when it ends, shown on the
 * presence (`clockSkewMs`, `clockSkewed`) and emitted as a 'gateway' event.
 *
 * Cluster mode (several server nodes behind a shared subscription, each handed only part of a
 * gateway's messages): the registry tells its observers ({@link GatewayRegistry.observe}) what
 * it saw, and {@link GatewayRegistry.merge} takes what other nodes saw
 * (server/cluster/presence-share.ts carries both through the database). Across nodes, the
 * newer status wins by `stateAt` (the clock of the node that took it; nodes keep NTP time).
 */
import type { Clock } from '../common/clock.js';
import { systemClock } from '../common/clock.js';
import { createLogger } from '../common/logger.js';
import {
  type AlarmEvent,
  type GatewayState,
  type GatewayStatus,
  PROTOCOL_VERSION,
  type SensorInfo,
  STATUS_HEARTBEAT_MS,
  type UplinkStatus,
} from '../protocol/index.js';
import type { AlarmRecord, ListQuery, RecordResult } from './alarms/ledger.js';
import { announceCommitted, type EventHub } from './events.js';
import type { GatewayPresence, StaleReason } from './model.js';

const log = createLogger('server.gateways');

export const GATEWAY_PRESENCE_DEFAULTS = {
  heartbeatMs: STATUS_HEARTBEAT_MS, // 15 s: the gateways' heartbeat period (protocol)
  missedHeartbeats: 2, // silent this many heartbeats (+ grace): stale
  graceMs: 5_000, // 5 s allowance for transit and timer jitter
  checkIntervalMs: 5_000, // 5 s between staleness checks
  skewThresholdMs: 5_000, // 5 s: clock skew that counts as a wrong clock
  // 60 s: how long an expected restart (a pushed configuration being applied) may keep a
  // gateway offline before its offline alarm is raised; the gateway rolls back by itself when
  // its new version has not come up within the same minute (docs/fleet.md).
  expectedRestartHoldMs: 60_000,
} as const;

/** Restarts one pushed version may cause without an offline alarm: applying it, rolling back. */
const MAX_HOLDS_PER_EXPECTED_RESTART = 2;

export type { GatewayPresence, StaleReason } from './model.js';

/**
 * A gateway's presence as nodes exchange it (server/cluster/presence-share.ts): what one node's
 * registry holds, and what it merges from the others.
 */
export interface PresenceRecord {
  gatewayId: string;
  enterpriseId: string;
  lastSeen: number;
  state: GatewayState;
  staleReason: StaleReason | null;
  /** When the state was taken; 0 when known from traffic only (loses to any status). */
  stateAt: number;
  /** The node that took the state (for logs). */
  stateBy?: string;
  clockSkewMs: number | null;
  software: string | null;
  uplink: UplinkStatus | null;
  /** When the catalogue came (the birth); null before one. */
  catalogueAt: number | null;
  /** The catalogue, when carried (a record may leave it out when it did not change). */
  sensors?: readonly SensorInfo[];
}

/** What a registry observer hears: this node saw the gateway (and, with it, a new catalogue). */
export interface PresenceSighting {
  gatewayId: string;
  catalogue: boolean;
}

export interface PresenceUpdate {
  /** True when the gateway's state (online/offline) or catalogue changed. */
  changed: boolean;
  gateway: GatewayPresence;
}

/**
 * In-memory registry; no I/O, so no start/stop. Returned objects are copies:
 * changing them does not change the registry. Observers are called synchronously on every
 * local sighting (keep them O(1): this is the ingest path); none in embedded mode.
 */
export class GatewayRegistry {
  private readonly gateways = new Map<string, GatewayPresence>();
  private readonly sensorsByGateway = new Map<string, Map<string, SensorInfo>>();
  /** gatewayId → when its catalogue came (this node's birth, or merged). */
  private readonly catalogueAt = new Map<string, number>();
  private readonly observers = new Set<(sighting: PresenceSighting) => void>();

  constructor(
    private readonly clock: Clock = systemClock,
    private readonly skewThresholdMs: number = GATEWAY_PRESENCE_DEFAULTS.skewThresholdMs,
  ) {}

  /** Applies a status message (birth, heartbeat or last will). */
  applyStatus(status: GatewayStatus): PresenceUpdate {
    const now = this.clock.now();
    const known = this.gateways.get(status.gatewayId);
    const next: GatewayPresence = {
      gatewayId: status.gatewayId,
      enterpriseId: status.enterpriseId,
      state: status.state,
      lastSeen: now,
      sensors: status.sensors ?? known?.sensors ?? [],
      stale: status.state === 'offline',
      staleReason: status.state === 'offline' ? 'offline' : null,
      clockSkewMs: known?.clockSkewMs ?? null,
      clockSkewed: known?.clockSkewed ?? false,
      stateAt: now,
    };
    let skewChanged = false;
    if (status.state === 'online') {
      next.clockSkewMs = status.ts - now;
      next.clockSkewed = Math.abs(next.clockSkewMs) > this.skewThresholdMs;
      skewChanged = next.clockSkewed !== (known?.clockSkewed ?? false);
      if (skewChanged && next.clockSkewed) {
        log.warn(
          {
            gatewayId: status.gatewayId,
            clockSkewMs: next.clockSkewMs,
            thresholdMs: this.skewThresholdMs,
          },
          'gateway clock skew above threshold',
        );
      } else if (skewChanged) {
        log.info(
          { gatewayId: status.gatewayId, clockSkewMs: next.clockSkewMs },
          'gateway clock skew back within threshold',
        );
      }
    }
    const software = status.software ?? known?.software;
    if (software !== undefined) next.software = software;
    const uplink = status.uplink ?? known?.uplink;
    if (uplink !== undefined && status.state === 'online') next.uplink = uplink;
    if (status.sensors) {
      this.sensorsByGateway.set(
        status.gatewayId,
        new Map(status.sensors.map((s) => [s.sensorId, s])),
      );
      this.catalogueAt.set(status.gatewayId, now);
    }
    this.gateways.set(status.gatewayId, next);
    this.notify(status.gatewayId, status.sensors !== undefined);
    const changed =
      !known ||
      known.state !== next.state ||
      known.stale !== next.stale ||
      known.enterpriseId !== next.enterpriseId ||
      status.sensors !== undefined ||
      skewChanged;
    if (!known || known.state !== next.state) {
      log.info({ gatewayId: status.gatewayId, state: next.state }, `gateway ${next.state}`);
    }
    return { changed, gateway: copy(next) };
  }

  /**
   * Records traffic (telemetry, alarms) from a gateway. An unknown gateway
   * (e.g. after a server restart, before its next birth) becomes known and
   * online. An offline gateway stays offline: a message processed just after
   * its last will is late, not a sign of life; its next birth brings it back.
   */
  markSeen(gatewayId: string, enterpriseId: string): PresenceUpdate {
    const now = this.clock.now();
    const known = this.gateways.get(gatewayId);
    if (known) {
      known.lastSeen = now;
      this.notify(gatewayId, false);
      return { changed: false, gateway: copy(known) };
    }
    const next: GatewayPresence = {
      gatewayId,
      enterpriseId,
      state: 'online',
      lastSeen: now,
      sensors: [],
      stale: false,
      staleReason: null,
      clockSkewMs: null,
      clockSkewed: false,
    };
    this.gateways.set(gatewayId, next);
    this.notify(gatewayId, false);
    log.info({ gatewayId }, 'gateway online (traffic before its birth message)');
    return { changed: true, gateway: copy(next) };
  }

  /**
   * Marks online gateways silent for longer than `maxSilenceMs` as offline and
   * stale (missed heartbeats); returns the presences it changed.
   */
  expireSilent(maxSilenceMs: number): GatewayPresence[] {
    const now = this.clock.now();
    const expired: GatewayPresence[] = [];
    for (const gateway of this.gateways.values()) {
      if (gateway.state !== 'online' || gateway.lastSeen === null) continue;
      if (now - gateway.lastSeen <= maxSilenceMs) continue;
      gateway.state = 'offline';
      gateway.stale = true;
      gateway.staleReason = 'heartbeat-timeout';
      gateway.stateAt = now;
      this.notify(gateway.gatewayId, false);
      log.warn(
        { gatewayId: gateway.gatewayId, silentMs: now - gateway.lastSeen },
        'gateway offline: missed heartbeats',
      );
      expired.push(copy(gateway));
    }
    return expired;
  }

  /** Whether the latest values of a gateway's sensors are stale (the gateway is gone or silent). */
  sensorsStale(gatewayId: string): boolean {
    return this.gateways.get(gatewayId)?.stale ?? false;
  }

  get(gatewayId: string): GatewayPresence | undefined {
    const gateway = this.gateways.get(gatewayId);
    return gateway ? copy(gateway) : undefined;
  }

  list(): GatewayPresence[] {
    return [...this.gateways.values()].map(copy);
  }

  online(): GatewayPresence[] {
    return this.list().filter((g) => g.state === 'online');
  }

  /** The catalogue entry of one sensor, from the gateway's latest birth message. */
  sensor(gatewayId: string, sensorId: string): SensorInfo | undefined {
    return this.sensorsByGateway.get(gatewayId)?.get(sensorId);
  }

  /** Calls `observer` on every local sighting (status, traffic, timeout); returns the remover. */
  observe(observer: (sighting: PresenceSighting) => void): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  /** When the gateway's catalogue came, or null (none yet). */
  catalogueTime(gatewayId: string): number | null {
    return this.catalogueAt.get(gatewayId) ?? null;
  }

  /** The gateway as nodes exchange it, with its catalogue when `withCatalogue`. */
  record(gatewayId: string, withCatalogue: boolean): PresenceRecord | undefined {
    const g = this.gateways.get(gatewayId);
    if (!g) return undefined;
    const record: PresenceRecord = {
      gatewayId,
      enterpriseId: g.enterpriseId,
      lastSeen: g.lastSeen ?? 0,
      state: g.state,
      staleReason: g.staleReason,
      stateAt: g.stateAt ?? 0,
      clockSkewMs: g.clockSkewMs,
      software: g.software ?? null,
      uplink: g.uplink ?? null,
      catalogueAt: this.catalogueAt.get(gatewayId) ?? null,
    };
    if (withCatalogue && record.catalogueAt !== null) record.sensors = g.sensors;
    return record;
  }

  /**
   * Takes what another node saw: the greater lastSeen, its status if newer than this node's
   * (by stateAt), its catalogue if newer. Observers are not told (it is not a local sighting).
   * Returns null when nothing changed; `changed` as for applyStatus (state, catalogue, skew).
   */
  merge(record: PresenceRecord): PresenceUpdate | null {
    const known = this.gateways.get(record.gatewayId);
    const next: GatewayPresence = known
      ? { ...known }
      : {
          gatewayId: record.gatewayId,
          enterpriseId: record.enterpriseId,
          state: record.state,
          lastSeen: null,
          sensors: [],
          stale: false,
          staleReason: null,
          clockSkewMs: null,
          clockSkewed: false,
        };
    if (record.lastSeen > (next.lastSeen ?? -1)) next.lastSeen = record.lastSeen;
    const newerStatus = !known || record.stateAt > (known.stateAt ?? 0);
    if (newerStatus) {
      next.enterpriseId = record.enterpriseId;
      next.state = record.state;
      next.stale = record.state === 'offline';
      next.staleReason = record.state === 'offline' ? (record.staleReason ?? 'offline') : null;
      next.clockSkewMs = record.clockSkewMs;
      next.clockSkewed =
        record.clockSkewMs !== null && Math.abs(record.clockSkewMs) > this.skewThresholdMs;
      if (record.software !== null) next.software = record.software;
      if (record.uplink !== null && record.state === 'online') next.uplink = record.uplink;
      else delete next.uplink;
      if (record.stateAt > 0) next.stateAt = record.stateAt;
    }
    const catalogueAt = record.catalogueAt ?? -1;
    const newerCatalogue =
      record.sensors !== undefined && catalogueAt > (this.catalogueAt.get(record.gatewayId) ?? -1);
    if (newerCatalogue) {
      next.sensors = record.sensors!;
      this.sensorsByGateway.set(
        record.gatewayId,
        new Map(record.sensors!.map((s) => [s.sensorId, s])),
      );
      this.catalogueAt.set(record.gatewayId, catalogueAt);
    }
    const changed =
      !known ||
      known.state !== next.state ||
      known.stale !== next.stale ||
      known.enterpriseId !== next.enterpriseId ||
      known.clockSkewed !== next.clockSkewed ||
      newerCatalogue;
    if (!changed && known && known.lastSeen === next.lastSeen && !newerStatus) return null;
    this.gateways.set(record.gatewayId, next);
    if (!known || known.state !== next.state) {
      log.info(
        { gatewayId: record.gatewayId, state: next.state, by: record.stateBy },
        `gateway ${next.state} (seen by another node)`,
      );
    }
    return { changed, gateway: copy(next) };
  }

  private notify(gatewayId: string, catalogue: boolean): void {
    if (this.observers.size === 0) return;
    for (const observer of this.observers) {
      try {
        observer({ gatewayId, catalogue });
      } catch (err) {
        log.error({ err, gatewayId }, 'presence observer failed');
      }
    }
  }
}

function copy(gateway: GatewayPresence): GatewayPresence {
  return { ...gateway };
}

/** The part of the alarm ledger the presence monitor uses. */
export interface PresenceAlarmLedger {
  record(event: AlarmEvent): Promise<RecordResult>;
  list(query?: ListQuery): Promise<AlarmRecord[]>;
}

export const GATEWAY_OFFLINE_RULE = 'gateway-offline';

/**
 * What the presence monitor reads before it judges silence in cluster mode: the registry brought
 * up to what every node saw (server/cluster/presence-share.ts implements it).
 */
export interface SharedPresenceView {
  /** Publishes this node's sightings and merges the other nodes' into the registry. */
  refresh(): Promise<void>;
  /** How long another node's sighting may take to reach the shared view, ms (its flush period). */
  readonly lagMs: number;
}

/**
 * The offline alarm's identity: one per offline episode, the same on every node that judges it,
 * so a second raise (a new leader, a leader that has not yet heard of its deposition) is the
 * ledger's idempotent no-op, not a second alarm. A timeout is keyed by the last sighting, which
 * every node merged alike; a last will or clean offline by when it was taken.
 */
export function offlineAlarmId(gateway: GatewayPresence, now: number): string {
  const at =
    gateway.staleReason === 'heartbeat-timeout'
      ? (gateway.lastSeen ?? now)
      : (gateway.stateAt ?? now);
  return `${gateway.gatewayId}.offline.${at}`;
}

export interface GatewayPresenceMonitorOptions {
  registry: GatewayRegistry;
  ledger: PresenceAlarmLedger;
  events: EventHub;
  clock?: Clock;
  heartbeatMs?: number;
  missedHeartbeats?: number;
  graceMs?: number;
  checkIntervalMs?: number;
  /**
   * Whether the gateway is expected to restart now (the fleet pushed it a configuration it has
   * not yet reported on). Its offline alarm then waits up to `expectedRestartHoldMs`: a push to
   * a hundred gateways must not raise a hundred nuisance offline alarms (ISA-18.2: an alarm
   * needs an operator response; a planned restart needs none).
   */
  expectedRestart?: (gatewayId: string) => boolean;
  expectedRestartHoldMs?: number;
  /**
   * Cluster mode: the presence all nodes saw. Each check refreshes it before judging silence
   * (a gateway is silent only if no node saw it), and the silence allowed grows by its lagMs.
   * When it cannot be read, silence is not judged that round (a partitioned leader raises
   * nothing false). Absent (embedded): the registry is the whole truth.
   */
  view?: SharedPresenceView;
}

/**
 * Watches gateway presence: marks a gateway stale after two missed heartbeats,
 * and raises a level-1 gateway-offline alarm in the ledger (rule
 * 'gateway-offline', sensor '_gateway') when a gateway goes offline (last will,
 * clean offline, missed heartbeats); clears it when the gateway is back. The
 * alarm is a record for regulators, not a hazard: it is not sent to emergency
 * centres.
 *
 * Lifecycle: `start()` picks up offline alarms still active in the ledger,
 * listens to 'gateway' events, runs one check and then reconciles the registry with the
 * ledger (an offline gateway without its alarm raises it, an online one with an active alarm
 * clears it: what a node taking over as leader, or a server whose broker took wills before the
 * monitor started, must catch up on), and checks staleness every `checkIntervalMs`;
 * `stop()` undoes both (call it before the broker stops, so the wills the
 * broker publishes while shutting down do not raise alarms) and waits for the
 * ledger writes already queued. Safe twice. Ledger writes run one after the
 * other in the order presence changed (a gateway's clear never overtakes its
 * raise); `settled()` resolves once those queued so far have committed.
 */
export class GatewayPresenceMonitor {
  private timer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  /** gatewayId → alarmId of its active offline alarm. */
  private readonly active = new Map<string, string>();
  /** gatewayId → when (clock ms) the held offline alarm of an expected restart is raised. */
  private readonly held = new Map<string, { until: number; gateway: GatewayPresence }>();
  /**
   * gatewayId → holds granted during its current expected restart. Applying a version may
   * restart a gateway twice (the new version, then a rollback); a gateway that keeps dropping
   * out beyond that is crash-looping, and its offline alarm is raised at once.
   */
  private readonly holdsUsed = new Map<string, number>();
  private readonly clock: Clock;
  /** The queued ledger writes, in order; never rejects (a failure is logged where it happens). */
  private writes: Promise<void> = Promise.resolve();

  constructor(private readonly options: GatewayPresenceMonitorOptions) {
    this.clock = options.clock ?? systemClock;
  }

  /** Silence after which an online gateway is stale, ms. */
  get maxSilenceMs(): number {
    const o = this.options;
    return (
      (o.heartbeatMs ?? GATEWAY_PRESENCE_DEFAULTS.heartbeatMs) *
        (o.missedHeartbeats ?? GATEWAY_PRESENCE_DEFAULTS.missedHeartbeats) +
      (o.graceMs ?? GATEWAY_PRESENCE_DEFAULTS.graceMs)
    );
  }

  async start(): Promise<void> {
    if (this.unsubscribe) return;
    for (const alarm of await this.options.ledger.list({ state: 'active', limit: 100_000 })) {
      if (alarm.ruleId === GATEWAY_OFFLINE_RULE) this.active.set(alarm.gatewayId, alarm.alarmId);
    }
    this.unsubscribe = this.options.events.on('gateway', (gateway) => this.onPresence(gateway));
    // Silence first, so a gateway the previous leader judged silent is not first seen online.
    await this.check();
    for (const gateway of this.options.registry.list()) this.onPresence(gateway);
    this.timer = setInterval(
      () => void this.check(),
      this.options.checkIntervalMs ?? GATEWAY_PRESENCE_DEFAULTS.checkIntervalMs,
    );
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = null;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.held.clear();
    this.holdsUsed.clear();
    await this.writes;
  }

  /** Resolves once every ledger write queued so far has committed (or failed and was logged). */
  settled(): Promise<void> {
    return this.writes;
  }

  /**
   * Expires silent gateways and held restarts now (also runs every checkIntervalMs). Without a
   * view the work is done when this returns; with one, once the view is refreshed. Never rejects.
   */
  check(): Promise<void> {
    const view = this.options.view;
    if (!view) {
      this.expire(this.maxSilenceMs);
      return Promise.resolve();
    }
    return view.refresh().then(
      () => {
        if (this.unsubscribe) this.expire(this.maxSilenceMs + view.lagMs);
      },
      (err: unknown) => {
        log.warn({ err }, 'shared presence unreadable: gateway silence not judged this round');
        if (this.unsubscribe) this.expireHeld();
      },
    );
  }

  private expire(maxSilenceMs: number): void {
    try {
      for (const gateway of this.options.registry.expireSilent(maxSilenceMs)) {
        this.options.events.emit('gateway', gateway);
      }
    } finally {
      this.expireHeld();
    }
  }

  private expireHeld(): void {
    const now = this.clock.now();
    for (const [gatewayId, { until, gateway }] of this.held) {
      if (now < until) continue;
      this.held.delete(gatewayId);
      log.warn({ gatewayId }, 'expected restart took too long: raising its offline alarm');
      this.raise(gateway);
    }
  }

  private onPresence(gateway: GatewayPresence): void {
    try {
      const { gatewayId } = gateway;
      if (gateway.state === 'offline' && !this.active.has(gatewayId) && !this.held.has(gatewayId)) {
        const holds = this.holdsUsed.get(gatewayId) ?? 0;
        if (holds < MAX_HOLDS_PER_EXPECTED_RESTART && this.options.expectedRestart?.(gatewayId)) {
          this.holdsUsed.set(gatewayId, holds + 1);
          const hold =
            this.options.expectedRestartHoldMs ?? GATEWAY_PRESENCE_DEFAULTS.expectedRestartHoldMs;
          this.held.set(gatewayId, { until: this.clock.now() + hold, gateway });
          log.info({ gatewayId, holdMs: hold }, 'gateway restarting for a pushed configuration');
        } else {
          this.raise(gateway);
        }
      } else if (gateway.state === 'online') {
        if (this.held.delete(gatewayId)) log.info({ gatewayId }, 'gateway back after its restart');
        if (!this.options.expectedRestart?.(gatewayId)) this.holdsUsed.delete(gatewayId);
        if (this.active.has(gatewayId)) this.clear(gateway);
      }
    } catch (err) {
      log.error({ err, gatewayId: gateway.gatewayId }, 'cannot record gateway-offline alarm');
    }
  }

  private raise(gateway: GatewayPresence): void {
    const now = this.clock.now();
    const alarmId = offlineAlarmId(gateway, now);
    const why =
      gateway.staleReason === 'heartbeat-timeout' ? 'missed heartbeats' : 'last will or shutdown';
    const event = this.event(
      gateway,
      alarmId,
      'raised',
      now,
      `gateway ${gateway.gatewayId} offline (${why})`,
    );
    // Held at once, so presence changes before the commit see the alarm as raised.
    this.active.set(gateway.gatewayId, alarmId);
    this.enqueue(gateway.gatewayId, async () => {
      try {
        const result = await this.options.ledger.record(event);
        log.warn({ gatewayId: gateway.gatewayId, alarmId, why }, 'gateway-offline alarm raised');
        if (result.changed) {
          await announceCommitted(this.options.events, result.alarm, 'raised', log);
          this.options.events.emit('alarm', result.alarm);
        }
      } catch (err) {
        // Not raised: the next offline report tries again.
        if (this.active.get(gateway.gatewayId) === alarmId) this.active.delete(gateway.gatewayId);
        throw err;
      }
    });
  }

  private clear(gateway: GatewayPresence): void {
    const alarmId = this.active.get(gateway.gatewayId)!;
    const now = this.clock.now();
    const event = this.event(
      gateway,
      alarmId,
      'cleared',
      now,
      `gateway ${gateway.gatewayId} back online`,
    );
    this.active.delete(gateway.gatewayId);
    this.enqueue(gateway.gatewayId, async () => {
      try {
        const result = await this.options.ledger.record(event);
        log.info({ gatewayId: gateway.gatewayId, alarmId }, 'gateway-offline alarm cleared');
        if (result.changed) {
          await announceCommitted(this.options.events, result.alarm, 'cleared', log);
          this.options.events.emit('alarm', result.alarm);
        }
      } catch (err) {
        // Still active: the next online report tries again.
        if (!this.active.has(gateway.gatewayId)) this.active.set(gateway.gatewayId, alarmId);
        throw err;
      }
    });
  }

  private enqueue(gatewayId: string, write: () => Promise<void>): void {
    this.writes = this.writes
      .then(write)
      .catch((err: unknown) =>
        log.error({ err, gatewayId }, 'cannot record gateway-offline alarm'),
      );
  }

  /** A server-made alarm event: seq 0 (not a gateway item), ts on the server clock. */
  private event(
    gateway: GatewayPresence,
    alarmId: string,
    transition: AlarmEvent['transition'],
    now: number,
    message: string,
  ): AlarmEvent {
    return {
      v: PROTOCOL_VERSION,
      gatewayId: gateway.gatewayId,
      enterpriseId: gateway.enterpriseId,
      seq: 0,
      sentAt: now,
      alarmId,
      ruleId: GATEWAY_OFFLINE_RULE,
      sensorId: '_gateway',
      sensorName: 'Gateway presence',
      level: 1,
      transition,
      value: null,
      unit: '',
      setpoint: 0,
      ts: now,
      drill: false,
      message,
    };
  }
}
