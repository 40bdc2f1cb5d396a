/**
 * Presence share: gateway presence that is true across server nodes. In cluster mode the broker
 * hands each gateway message to ONE node of the shared subscription, so each node's
 * GatewayRegistry (server/gateways.ts) sees only part of every gateway's heartbeats, births and
 * wills. Every node writes what it saw to `gateway_presence` (migration 0006) and merges what
 * the others wrote into its own registry; the presence monitor, which runs on the leader only,
 * refreshes this view before it judges silence (a gateway is silent only if NO node saw it
 * within the window), and a will taken by any node reaches the leader's registry, whose 'gateway'
 * event raises the offline alarm there, once (the alarm id is the same on every node:
 * offlineAlarmId, and the ledger records an identity once).
 *
 * Writes: batched. The registry tells this share which gateways it saw (an O(1) note on the
 * ingest path); every `flushMs` ONE upsert statement (per 500 gateways) writes those gateways'
 * current records, in gateway order (two nodes' batches lock rows in the same order: no
 * deadlock). The upsert keeps the greatest last_seen (GREATEST / SQLite's max), the status of
 * the newer state_at, the catalogue of the newer catalogue_at; the catalogue travels only after
 * a birth brought one. A failed flush keeps its gateways for the next.
 * Reads: every `pullMs`, the rows written since the previous pull (less `overlapMs`, for commits
 * that land late and node clocks that differ), then the catalogues that are newer than this
 * node's; each row is merged (GatewayRegistry.merge) and a changed gateway is emitted as a
 * 'gateway' event on this node's hub, as ingest would have (live streams, supervision, the
 * platform registry, and on the leader the presence monitor hear it). So /api/v1/gateways
 * answers the same on every node, within about flushMs + pullMs.
 *
 * Embedded (SQLite, the default): one process sees every message, the registry is the whole
 * truth, and the share does nothing: no observer, no timer, no writes (the table stays empty);
 * the hot path is what it was. `enabled: true` runs it on SQLite too (the shared suite proves
 * the SQL on both engines with two nodes on one file).
 *
 * Wiring (server/central-server.ts, left to the lead):
 *
 *   this.presenceShare = new PresenceShare({
 *     database: this.database, nodeId: config.node?.id ?? hostname(),
 *     registry: this.gateways, events: this.events, clock,
 *   });
 *   this.presence = new GatewayPresenceMonitor({ ...as today, view: this.presenceShare });
 *   // serviceList(): after 'database' and before 'ingest' and the broker, so the first message
 *   // is shared and, in reverse, the last ones (wills) are flushed after ingest drained:
 *   { name: 'presence share', start: () => this.presenceShare.start(),
 *     stop: () => this.presenceShare.stop() },
 *   // the monitor stays a leader job ('presence' in LeaderJobs), as leader-jobs.ts shows.
 *
 * Clocks: state_at and last_seen are on the clock of the node that wrote them; nodes keep NTP
 * time (milliseconds apart), far less than the spacing of a gateway's heartbeats and its will.
 *
 * Lifecycle: `start()` (PostgreSQL, or `enabled`) pulls every row once, so the registry holds
 * the cluster's view before ingest begins, then observes the registry and runs the timer;
 * `stop()` stops the timer and the observer and makes a last flush; safe twice. `refresh()`
 * (the monitor's check) flushes and pulls now, in turn with the timer's work.
 */
import { sql } from 'kysely';
import type { Clock } from '../../common/clock.js';
import { systemClock } from '../../common/clock.js';
import { createLogger } from '../../common/logger.js';
import type { SensorInfo, UplinkStatus } from '../../protocol/index.js';
import type { Database } from '../db/database.js';
import type { GatewayPresenceTable } from '../db/schema.js';
import type { EventHub } from '../events.js';
import type {
  GatewayRegistry,
  PresenceRecord,
  PresenceSighting,
  SharedPresenceView,
} from '../gateways.js';

const log = createLogger('server.presence-share');

export const PRESENCE_SHARE_DEFAULTS = {
  flushMs: 500, // one upsert per 500 ms for the gateways seen since the last
  pullMs: 1_000, // other nodes' sightings reach this registry within ~1.5 s
  // Rows written this long before the previous pull are read again: commits that land after
  // the pull that should have seen them, and node clocks a little apart (NTP: milliseconds).
  overlapMs: 5_000,
  batchRows: 500, // gateways per statement: 14 parameters each, far below both engines' limits
} as const;

export interface PresenceShareOptions {
  database: Database;
  nodeId: string;
  registry: GatewayRegistry;
  /** The server's hub: merged changes are emitted there as 'gateway' events. */
  events: EventHub;
  clock?: Clock;
  /** Default: on for PostgreSQL (cluster mode), off for SQLite (embedded). */
  enabled?: boolean;
  /** The timer's period, ms; 0: no timer (tests drive `refresh()`). */
  flushMs?: number;
  pullMs?: number;
  overlapMs?: number;
}

type Row = GatewayPresenceTable;

export class PresenceShare implements SharedPresenceView {
  readonly enabled: boolean;
  /** gatewayId → whether its catalogue is to be written. */
  private dirty = new Map<string, boolean>();
  private unobserve: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** Flushes and pulls, one after the other; never rejects. */
  private work: Promise<void> = Promise.resolve();
  /** Pull rows written at or after this (writer clock); 0: all. */
  private since = 0;
  private lastPullAt = Number.NEGATIVE_INFINITY;
  private readonly clock: Clock;
  private readonly flushMs: number;
  private readonly pullMs: number;
  private readonly overlapMs: number;

  constructor(private readonly options: PresenceShareOptions) {
    this.clock = options.clock ?? systemClock;
    this.enabled = options.enabled ?? options.database.kind === 'postgres';
    this.flushMs = options.flushMs ?? PRESENCE_SHARE_DEFAULTS.flushMs;
    this.pullMs = options.pullMs ?? PRESENCE_SHARE_DEFAULTS.pullMs;
    this.overlapMs = options.overlapMs ?? PRESENCE_SHARE_DEFAULTS.overlapMs;
  }

  /** 0 when off: the registry is then the whole truth. */
  get lagMs(): number {
    return this.enabled ? this.flushMs : 0;
  }

  async start(): Promise<void> {
    if (!this.enabled || this.unobserve) return;
    await this.pull();
    this.unobserve = this.options.registry.observe((s) => this.note(s));
    if (this.flushMs > 0) {
      this.timer = setInterval(() => {
        void this.run(this.clock.now() - this.lastPullAt >= this.pullMs);
      }, this.flushMs);
    }
    log.info({ node: this.options.nodeId }, 'gateway presence shared with the other nodes');
  }

  async stop(): Promise<void> {
    if (!this.unobserve) return;
    this.unobserve();
    this.unobserve = null;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.run(false);
  }

  /** Writes this node's sightings and merges the others' now; rejects if either failed. */
  async refresh(): Promise<void> {
    if (!this.enabled) return;
    let failure: unknown = null;
    await this.run(true, (err) => {
      failure = err;
    });
    if (failure !== null) throw failure;
  }

  private note(sighting: PresenceSighting): void {
    if (sighting.catalogue || !this.dirty.has(sighting.gatewayId)) {
      this.dirty.set(sighting.gatewayId, sighting.catalogue);
    }
  }

  /** Queues a flush (and a pull) after the work already queued. */
  private run(pull: boolean, onError?: (err: unknown) => void): Promise<void> {
    this.work = this.work.then(async () => {
      try {
        await this.flush();
        if (pull) await this.pull();
      } catch (err) {
        if (onError) onError(err);
        else log.warn({ err, node: this.options.nodeId }, 'gateway presence not shared this round');
      }
    });
    return this.work;
  }

  private async flush(): Promise<void> {
    if (this.dirty.size === 0) return;
    const batch = this.dirty;
    this.dirty = new Map();
    const now = this.clock.now();
    const rows: Row[] = [];
    for (const [gatewayId, catalogue] of [...batch].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const record = this.options.registry.record(gatewayId, catalogue);
      if (record) rows.push(this.toRow(record, now));
    }
    try {
      for (let i = 0; i < rows.length; i += PRESENCE_SHARE_DEFAULTS.batchRows) {
        await this.upsert(rows.slice(i, i + PRESENCE_SHARE_DEFAULTS.batchRows));
      }
    } catch (err) {
      // Back for the next flush (with what was noted meanwhile; a catalogue is kept owed).
      for (const [gatewayId, catalogue] of batch) {
        this.dirty.set(gatewayId, catalogue || (this.dirty.get(gatewayId) ?? false));
      }
      throw err;
    }
  }

  private toRow(r: PresenceRecord, now: number): Row {
    return {
      gateway_id: r.gatewayId,
      enterprise_id: r.enterpriseId,
      // BIGINT columns: a status ts may carry a fraction of a millisecond (the protocol allows
      // any number), which PostgreSQL refuses for a BIGINT, and the whole batch with it.
      last_seen: Math.round(r.lastSeen),
      state: r.state,
      stale_reason: r.staleReason,
      state_at: Math.round(r.stateAt),
      state_by: this.options.nodeId,
      clock_skew_ms: r.clockSkewMs === null ? null : Math.round(r.clockSkewMs),
      software: r.software,
      uplink: r.uplink === null ? null : JSON.stringify(r.uplink),
      catalogue: r.sensors === undefined ? null : JSON.stringify(r.sensors),
      catalogue_at:
        r.sensors === undefined || r.catalogueAt === null ? null : Math.round(r.catalogueAt),
      updated_at: Math.round(now),
    };
  }

  private async upsert(rows: Row[]): Promise<void> {
    if (rows.length === 0) return;
    const greatest = this.options.database.kind === 'postgres' ? 'GREATEST' : 'max';
    const ex = (column: string) => sql.ref(`excluded.${column}`);
    const cur = (column: string) => sql.ref(`gateway_presence.${column}`);
    const newerStatus = sql`${ex('state_at')} > ${cur('state_at')}`;
    const status = <T>(column: keyof Row) =>
      sql<T>`CASE WHEN ${newerStatus} THEN ${ex(column)} ELSE ${cur(column)} END`;
    const newerCatalogue = sql`${ex('catalogue_at')} > COALESCE(${cur('catalogue_at')}, -1)`;
    await this.options.database.db
      .insertInto('gateway_presence')
      .values(rows)
      .onConflict((oc) =>
        oc.column('gateway_id').doUpdateSet({
          last_seen: sql`${sql.raw(greatest)}(${cur('last_seen')}, ${ex('last_seen')})`,
          enterprise_id: status<string>('enterprise_id'),
          state: status<Row['state']>('state'),
          stale_reason: status<Row['stale_reason']>('stale_reason'),
          state_by: status<string>('state_by'),
          clock_skew_ms: status<number | null>('clock_skew_ms'),
          software: sql`CASE WHEN ${newerStatus} THEN COALESCE(${ex('software')}, ${cur('software')}) ELSE ${cur('software')} END`,
          uplink: status<string | null>('uplink'),
          // Every SET expression reads the row as it was (both engines), so the CASEs above
          // compare against the old state_at whatever the order.
          state_at: sql`${sql.raw(greatest)}(${cur('state_at')}, ${ex('state_at')})`,
          catalogue: sql`CASE WHEN ${newerCatalogue} THEN ${ex('catalogue')} ELSE ${cur('catalogue')} END`,
          catalogue_at: sql`CASE WHEN ${newerCatalogue} THEN ${ex('catalogue_at')} ELSE ${cur('catalogue_at')} END`,
          updated_at: sql`${sql.raw(greatest)}(${cur('updated_at')}, ${ex('updated_at')})`,
        }),
      )
      .execute();
  }

  private async pull(): Promise<void> {
    const startedAt = this.clock.now();
    const db = this.options.database.db;
    const rows = await db
      .selectFrom('gateway_presence')
      .select([
        'gateway_id',
        'enterprise_id',
        'last_seen',
        'state',
        'stale_reason',
        'state_at',
        'state_by',
        'clock_skew_ms',
        'software',
        'uplink',
        'catalogue_at',
      ])
      .where('updated_at', '>=', this.since)
      .execute();
    const { registry } = this.options;
    const needCatalogue = rows
      .filter(
        (r) =>
          r.catalogue_at !== null && r.catalogue_at > (registry.catalogueTime(r.gateway_id) ?? -1),
      )
      .map((r) => r.gateway_id);
    const catalogues = new Map<string, readonly SensorInfo[]>();
    for (let i = 0; i < needCatalogue.length; i += PRESENCE_SHARE_DEFAULTS.batchRows) {
      const ids = needCatalogue.slice(i, i + PRESENCE_SHARE_DEFAULTS.batchRows);
      for (const row of await db
        .selectFrom('gateway_presence')
        .select(['gateway_id', 'catalogue'])
        .where('gateway_id', 'in', ids)
        .execute()) {
        if (row.catalogue !== null) catalogues.set(row.gateway_id, parseJson(row.catalogue, row));
      }
    }
    for (const row of rows) {
      try {
        const record: PresenceRecord = {
          gatewayId: row.gateway_id,
          enterpriseId: row.enterprise_id,
          lastSeen: row.last_seen,
          state: row.state,
          staleReason: row.stale_reason,
          stateAt: row.state_at,
          stateBy: row.state_by,
          clockSkewMs: row.clock_skew_ms,
          software: row.software,
          uplink: row.uplink === null ? null : parseJson<UplinkStatus>(row.uplink, row),
          catalogueAt: row.catalogue_at,
        };
        const sensors = catalogues.get(row.gateway_id);
        if (sensors) record.sensors = sensors;
        const update = registry.merge(record);
        if (update?.changed) this.options.events.emit('gateway', update.gateway);
      } catch (err) {
        log.error({ err, gatewayId: row.gateway_id }, 'shared presence row not merged');
      }
    }
    this.since = Math.max(0, startedAt - this.overlapMs);
    this.lastPullAt = startedAt;
  }
}

function parseJson<T>(text: string, row: { gateway_id: string }): T {
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new Error(`gateway_presence row of '${row.gateway_id}': unreadable JSON`, {
      cause: err,
    });
  }
}
