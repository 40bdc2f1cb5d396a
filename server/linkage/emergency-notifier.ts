/**
 * Emergency linkage (rescue linkage): a new, non-drill alarm at or above a
 * centre's `minLevel` (level 2 by default: the GB/T 50493-2019 §5.5.3 action
 * level) becomes one durable delivery per emergency centre, POSTed as a signed
 * EmergencyNotification (protocol/linkage.ts, docs/protocol.md) until the
 * centre answers 2xx.
 *
 * Guarantees:
 * - at most one delivery per (alarm, centre): the table is unique on
 *   (enterprise_id, gateway_id, alarm_id, centre_id) — the alarm's full
 *   identity (server/alarms/identity.ts) — so a redelivered alarm event never
 *   pages twice, and two plants whose gateways use the same alarm id are both paged;
 * - at least once per delivery: the delivery row is committed before the first
 *   attempt, retried with exponential backoff and jitter while the server runs,
 *   and pending rows resume after a restart. `x-hazardwatch-delivery` (the
 *   notificationId) is the same on every attempt so the centre can drop repeats;
 * - the body is fixed when the delivery is created, so every attempt sends the
 *   same bytes; the timestamp and signature are made fresh per attempt.
 *
 * - once per event (issue 13 review): a raise that is not annunciated (its
 *   ISA-18.2 state is shelved, suppressed or out of service) pages nobody, and a
 *   re-announcement (`reannounces`) does not page a centre already paged for the
 *   occurrence it supersedes (see {@link Annunciation}).
 *
 * Follow-ups: once an alarm that paged a centre returns to normal ('cleared') or its disposal
 * is closed ('closed'), that centre gets one EmergencyFollowUp per kind through the same signed
 * channel (docs/protocol.md), durable and retried like the first notification; a 4xx other than
 * 408/429 means the centre does not take follow-ups and is not retried (state 'refused').
 * `follow(events)` subscribes to the hub's 'alarm' and 'disposal' events for this.
 *
 * Cluster mode (issue 14): the deliveries live in the platform database (server/db), which
 * every server node shares, and each page goes out exactly once per (alarm, centre) however
 * many nodes received the alarm:
 * - the delivery row is inserted first (`ON CONFLICT DO NOTHING`), then the node claims the
 *   notification id through server/db/delivery-claims.ts; only the claim's owner sends, and it
 *   renews the claim before every retry, so a node that lost it stops;
 * - a page the centre accepted marks the row 'delivered' first and completes the claim after,
 *   so a node that dies between the two leaves a delivered row, which is never sent again;
 * - claims are liveness leases (server/db/delivery-claims.ts): this node's heartbeat renews all
 *   of them every second, however long one attempt or backoff takes, and each attempt renews its
 *   claim first (no page on a claim the database does not confirm, e.g. while it is unreachable);
 *   a heartbeat that fails for a whole lease aborts the attempts in flight;
 * - a node that dies mid-delivery stops renewing, so its claims are free within one lease (3 s;
 *   a clean stop releases them at once); every node's sweep ({@link EmergencyNotifier.sweep},
 *   every second) takes over the pending rows nobody holds, highest alarm level first, and
 *   continues their retries from the row's `attempts` and `next_attempt_at`, so a dead node's
 *   page leaves a survivor within about lease + sweep + one request (issue 14: under 5 s).
 *   Follow-ups go the same way, claimed by their id.
 * The sweep takes over by row (pending deliveries, pending follow-ups) with `claim()`, not with
 * `DeliveryClaims.reclaimExpired()`: it must find rows that have no claim at all (their creator
 * died before claiming) and only centres this node can page. The claims of this notifier are
 * scoped to ids starting 'ntf-' (the MQTT linkage's start 'mqtt:'), so neither's heartbeat or
 * release touches the other's.
 * The first attempt still starts inside `notify()` (issue 19): the claim is one short statement
 * for every centre after the insert, and no timer stands between the alarm and the request.
 *
 * Schema versions ('linkage-deliveries' in schema_versions): version 1 was unique on
 * (alarm_id, centre_id). The tables are migration 0001 (deliveries) and 0005 (follow-ups) of
 * server/db; the embedded upgrade this store used to run on start (a version-1 table migrated,
 * the identity read from each delivery's body) is kept as {@link prepareEmbeddedDeliveries}
 * for the one-time embedded upgrade step, and the store no longer calls it.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { ExpressionBuilder } from 'kysely';
import type { Clock } from '../../common/clock.js';
import { systemClock } from '../../common/clock.js';
import { createLogger } from '../../common/logger.js';
import {
  type AlarmLifecycleState,
  DELIVERY_HEADER,
  type EmergencyNotification,
  SIGNATURE_HEADER,
  signLinkage,
  TIMESTAMP_HEADER,
} from '../../protocol/index.js';
import { type AlarmKey, describeAlarm } from '../alarms/identity.js';
import type { AlarmRecord } from '../alarms/ledger.js';
import { migrateComponent } from '../alarms/schema-version.js';
import type { EmergencyCentreConfig, EnterpriseInfo } from '../config/index.js';
import type { Database } from '../db/database.js';
import { DeliveryClaims } from '../db/delivery-claims.js';
import type { PlatformSchema } from '../db/schema.js';
import type { EventHub } from '../events.js';
import type { SqliteDatabase } from '../store/sqlite.js';
import { httpPost } from './http-post.js';
import { buildNotification } from './notification.js';

const log = createLogger('server.linkage');

export const EMERGENCY_NOTIFIER_DEFAULTS = {
  requestTimeoutMs: 5_000, // 5 s per attempt (docs/protocol.md: no answer within 5 s is retried)
  retryInitialMs: 500, // 0.5 s before the first retry, doubling
  retryMaxMs: 30_000, // 30 s longest wait between attempts
  listLimit: 200, // deliveries returned by deliveries()
  // 1 s between looks for pending deliveries nobody holds (a dead node's): with the 3 s claim
  // lease and one request, a dead node's page leaves within the 5 s of issue 14. One indexed
  // query on pending deliveries (linkage_deliveries_state) and one on pending follow-ups
  // (linkage_followups_state, migration 0007).
  sweepIntervalMs: 1_000,
  sweepBatch: 100, // deliveries (and as many follow-ups) taken over per sweep
} as const;

export type DeliveryState = 'pending' | 'delivered';

/** One notification of one alarm to one centre. Times are epoch ms (server clock). */
export interface LinkageDelivery extends AlarmKey {
  notificationId: string;
  centreId: string;
  centreName: string | null;
  state: DeliveryState;
  attempts: number;
  /** HTTP status of the last attempt; null before the first answer or when none came. */
  lastStatus: number | null;
  lastError: string | null;
  createdAt: number;
  /** When the next attempt is due; null once delivered. */
  nextAttemptAt: number | null;
  deliveredAt: number | null;
}

export interface LinkageCounts {
  pending: number;
  delivered: number;
}

export interface AttemptOutcome {
  notificationId: string;
  centreId: string;
  status: number | null;
  error: string | null;
  delivered: boolean;
}

export interface EmergencyNotifierOptions {
  /** The platform database (server/db), started by its owner before this notifier. */
  database: Database;
  /** This node, the owner of its delivery claims (config node.id, or one the server made up). */
  nodeId: string;
  centres: readonly EmergencyCentreConfig[];
  enterprises?: readonly EnterpriseInfo[];
  retryInitialMs?: number;
  retryMaxMs?: number;
  requestTimeoutMs?: number;
  clock?: Clock;
  /** HTTP client (the fetch signature); node:http(s) with keep-alive by default (http-post.ts). */
  fetch?: typeof fetch;
  /** Jitter source in [0, 1); Math.random by default. */
  random?: () => number;
  /**
   * How long a claim holds without a heartbeat (DeliveryClaims lease; default 3 s). Independent
   * of the retry waits and the request timeout: the node's heartbeat renews it meanwhile.
   */
  claimLeaseMs?: number;
  /** Period of the claims' heartbeat (default 1 s); 0: off, the caller drives heartbeat() (tests). */
  claimHeartbeatMs?: number;
  /** Whose clock the leases use (DeliveryClaims leaseClock); 'injected' lets tests drive it. */
  claimLeaseClock?: 'database' | 'injected';
  /** Period of the sweep that takes over pending deliveries nobody holds. */
  sweepIntervalMs?: number;
}

/**
 * Delay before the attempt after `failedAttempts` failures: initial·2^(n−1)
 * capped at max, then "equal jitter" (half fixed, half random) so centres that
 * come back are not hit by every server in the same millisecond.
 */
export function backoffDelayMs(
  failedAttempts: number,
  initialMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const exponent = Math.min(Math.max(failedAttempts - 1, 0), 30);
  const base = Math.min(maxMs, initialMs * 2 ** exponent);
  return Math.round(base / 2 + random() * (base / 2));
}

/** Stable, header-safe id per (alarm identity, centre): the same on every retry and after restarts. */
export function notificationIdFor(key: AlarmKey, centreId: string): string {
  const digest = createHash('sha256')
    .update(`${key.enterpriseId}\u0000${key.gatewayId}\u0000${key.alarmId}\u0000${centreId}`)
    .digest('hex');
  return `ntf-${digest.slice(0, 32)}`;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS linkage_deliveries (
  notification_id TEXT PRIMARY KEY,
  enterprise_id   TEXT NOT NULL,
  gateway_id      TEXT NOT NULL,
  alarm_id        TEXT NOT NULL,
  centre_id       TEXT NOT NULL,
  body            TEXT NOT NULL,     -- the JSON sent on every attempt
  state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  last_status     INTEGER,
  last_error      TEXT,
  created_at      INTEGER NOT NULL,
  next_attempt_at INTEGER,
  delivered_at    INTEGER,
  UNIQUE (enterprise_id, gateway_id, alarm_id, centre_id)
);
CREATE INDEX IF NOT EXISTS linkage_deliveries_state ON linkage_deliveries (state);
`;

/** Follow-ups of delivered-or-pending notifications; a table of its own (no migration of the above). */
const FOLLOWUP_SCHEMA = `
CREATE TABLE IF NOT EXISTS linkage_followups (
  followup_id TEXT PRIMARY KEY, notification_id TEXT NOT NULL, centre_id TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('cleared', 'closed')), body TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'refused')),
  attempts INTEGER NOT NULL DEFAULT 0, last_status INTEGER, created_at INTEGER NOT NULL,
  next_attempt_at INTEGER, delivered_at INTEGER, UNIQUE (notification_id, kind)
);
`;

/** What a centre is told when a paged alarm returned to normal or its disposal was closed. */
export interface EmergencyFollowUp {
  v: 1;
  kind: 'cleared' | 'closed';
  /** `<notificationId>.<kind>`: the x-hazardwatch-delivery of every attempt. */
  followUpId: string;
  /** The notification this follows. */
  notificationId: string;
  alarmId: string;
  enterpriseId: string;
  gatewayId: string;
  /** ISO 8601: when the value returned to normal (edge time) or the disposal was closed. */
  at: string;
  /** Who closed the disposal (kind 'closed'). */
  by?: string;
}

/** Every claim id of this notifier starts so (notification ids, follow-up ids after them). */
const CLAIM_SCOPE = 'ntf-';

/** Follow-up ids are `<notificationId>.<kind>`; their claims are taken under that id. */
const followUpIdOf = (notificationId: string, kind: EmergencyFollowUp['kind']) =>
  `${notificationId}.${kind}`;

/** Version 1 → 2: the identity comes from the body every delivery keeps (EmergencyNotification). */
const MIGRATE_V1_TO_V2 = `
DROP INDEX IF EXISTS linkage_deliveries_state;
ALTER TABLE linkage_deliveries RENAME TO linkage_deliveries_v1;
${SCHEMA}
INSERT INTO linkage_deliveries SELECT notification_id,
  COALESCE(json_extract(body, '$.enterpriseId'), '_unknown'),
  COALESCE(json_extract(body, '$.gatewayId'), '_unknown'),
  alarm_id, centre_id, body, state, attempts, last_status, last_error, created_at,
  next_attempt_at, delivered_at FROM linkage_deliveries_v1;
DROP TABLE linkage_deliveries_v1;
`;

/**
 * What this store ran on start before it moved onto server/db: brings an embedded file's
 * deliveries table to version 2 (a version-1 table is migrated, the identity read from each
 * body) and adds the follow-ups table. Kept for the one-time embedded upgrade step (and tests
 * that make a file as the stores made it); the store itself no longer calls it.
 */
export function prepareEmbeddedDeliveries(db: SqliteDatabase, what: string): void {
  migrateComponent(db, {
    component: 'linkage-deliveries',
    version: 2,
    existingTable: 'linkage_deliveries',
    create: (x) => x.exec(SCHEMA),
    steps: { 1: (x) => x.exec(MIGRATE_V1_TO_V2) },
    what,
  });
  db.exec(FOLLOWUP_SCHEMA);
}

interface DeliveryRow {
  notification_id: string;
  enterprise_id: string;
  gateway_id: string;
  alarm_id: string;
  centre_id: string;
  body: string;
  state: DeliveryState;
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  created_at: number;
  next_attempt_at: number | null;
  delivered_at: number | null;
}

/** One HTTP attempt of a delivery, stamped for latency tracing (`at`: performance.now(), ms). */
export interface AttemptTrace extends AlarmKey {
  notificationId: string;
  centreId: string;
  at: number;
}

export interface EmergencyNotifierEvents {
  attempt: [AttemptOutcome];
  delivered: [LinkageDelivery];
  /** The signed request is being handed to the HTTP client (only built when someone listens). */
  sending: [AttemptTrace];
  /** The centre's answer (any status) arrived (only built when someone listens). */
  answered: [AttemptTrace];
}

/**
 * What a raise said about its annunciation (AlarmEvent.state and .reannounces),
 * which the ledger's AlarmRecord does not keep. Ingest notes it on the record it
 * hands to the notifier and emits as the 'alarm' event ({@link noteAnnunciation}),
 * so the MQTT linkage, which is called from that event, reads the same facts.
 */
export interface Annunciation {
  state?: AlarmLifecycleState | undefined;
  /** alarmId of the occurrence this raise re-announces (same enterprise and gateway). */
  reannounces?: string | undefined;
}

/**
 * ISA-18.2 / IEC 62682: a shelved, suppressed-by-design or out-of-service alarm
 * is not annunciated (ANSI/ISA-18.2-2016 §4.4 state model, shelved / suppressed by
 * design / out of service; clause numbers from the 2016 edition, not re-checked
 * against IEC 62682:2022). An alarm the operator is not shown must not page an
 * emergency centre either; the ledger records it as usual.
 */
const NOT_ANNUNCIATED: ReadonlySet<AlarmLifecycleState> = new Set([
  'shelved',
  'suppressed',
  'out-of-service',
]);

/** Keyed by the record object, so nothing leaks: the record goes when its last holder does. */
const annunciations = new WeakMap<AlarmRecord, Annunciation>();

/** Notes what the raise said about annunciation on the ledger's record (ingest, before paging and emitting). */
export function noteAnnunciation(alarm: AlarmRecord, event: Annunciation): void {
  annunciations.set(alarm, { state: event.state, reannounces: event.reannounces });
}

/** What was noted for this record; undefined for records not from a raise (annunciated as usual). */
export function annunciationOf(alarm: AlarmRecord): Annunciation | undefined {
  return annunciations.get(alarm);
}

/** Whether the raise was shown to the operator (no state: gateways before the lifecycle was sent). */
export function isAnnunciated(annunciation: Annunciation | undefined): boolean {
  return annunciation?.state === undefined || !NOT_ANNUNCIATED.has(annunciation.state);
}

/**
 * Lifecycle: `start()` starts this node's delivery claims, takes over the pending deliveries
 * and follow-ups nobody holds (this node's own, after a restart) and starts the periodic
 * sweep; `stop()` stops the sweep, cancels timers, aborts requests in flight (they stay
 * pending) and releases this node's unfinished claims, so another node, or the next start,
 * continues them at once; safe to call twice. The database is its owner's to start and stop.
 */
export class EmergencyNotifier extends EventEmitter<EmergencyNotifierEvents> {
  private readonly database: Database;
  private readonly claims: DeliveryClaims;
  private readonly clock: Clock;
  private readonly centres: Map<string, EmergencyCentreConfig>;
  private readonly enterpriseNames: Map<string, string>;
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly inFlight = new Map<string, { abort: AbortController; done: Promise<void> }>();
  private readonly missingCentresLogged = new Set<string>();
  private running = false;
  private stopping = false;
  private sweepTimer: NodeJS.Timeout | null = null;
  private sweeping: Promise<unknown> | null = null;
  private readonly retryInitialMs: number;
  private readonly retryMaxMs: number;

  constructor(private readonly options: EmergencyNotifierOptions) {
    super();
    if (typeof options.nodeId !== 'string' || options.nodeId.length === 0) {
      throw new Error(
        `emergency notifier: nodeId must be a non-empty string (got '${options.nodeId}')`,
      );
    }
    this.database = options.database;
    this.clock = options.clock ?? systemClock;
    this.centres = new Map(options.centres.map((c) => [c.id, c]));
    this.enterpriseNames = new Map((options.enterprises ?? []).map((e) => [e.id, e.name]));
    this.retryInitialMs = options.retryInitialMs ?? EMERGENCY_NOTIFIER_DEFAULTS.retryInitialMs;
    this.retryMaxMs = options.retryMaxMs ?? EMERGENCY_NOTIFIER_DEFAULTS.retryMaxMs;
    // The lease is the node's liveness, renewed by its heartbeat: it need not outlast a request
    // or a backoff wait (a slow centre keeps its claim while this node lives).
    this.claims = new DeliveryClaims(this.database, {
      nodeId: options.nodeId,
      scope: CLAIM_SCOPE,
      clock: this.clock,
      onLost: () => this.abortInFlight('claim lease not renewed (database unreachable?)'),
      ...(options.claimLeaseMs !== undefined ? { leaseMs: options.claimLeaseMs } : {}),
      ...(options.claimHeartbeatMs !== undefined ? { heartbeatMs: options.claimHeartbeatMs } : {}),
      ...(options.claimLeaseClock !== undefined ? { leaseClock: options.claimLeaseClock } : {}),
    });
  }

  /** This node's id, the owner of the claims it takes. */
  get nodeId(): string {
    return this.options.nodeId;
  }

  /**
   * Renews every claim this node holds (what the claims' heartbeat timer does each second);
   * resolves how many. Public for tests that drive time with a ManualClock.
   */
  heartbeat(): Promise<number> {
    this.requireRunning();
    return this.claims.heartbeat();
  }

  async start(): Promise<void> {
    if (this.running) return;
    await this.claims.start();
    this.running = true;
    this.stopping = false;
    await this.reportMissingCentres();
    const resumed = await this.sweep(true);
    if (resumed > 0) log.info({ resumed }, 'resuming pending linkage deliveries');
    const every = this.options.sweepIntervalMs ?? EMERGENCY_NOTIFIER_DEFAULTS.sweepIntervalMs;
    this.sweepTimer = setInterval(() => this.sweepInBackground(), every);
    this.sweepTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    await this.sweeping;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    await Promise.allSettled(this.abortInFlight('server stopping'));
    // Unfinished claims are released (when the database is still up), not left to run out.
    await this.claims.stop();
    this.running = false;
  }

  /**
   * Called for every alarm the ledger created. Creates (durably) and starts one
   * delivery per centre whose minLevel the alarm reaches, unless the alarm is a
   * drill, already cleared, not annunciated (shelved, suppressed, out of
   * service), or already has its deliveries; a re-announcement skips the centres
   * already paged for the occurrence it supersedes. Returns how many it created.
   * The first attempt of each delivery this node claimed is under way when it resolves.
   */
  async notify(
    alarm: AlarmRecord,
    annunciation: Annunciation | undefined = annunciationOf(alarm),
  ): Promise<number> {
    this.requireRunning();
    if (alarm.drill || alarm.state !== 'active' || alarm.raisedAt === null) return 0;
    if (!isAnnunciated(annunciation)) {
      log.info(
        { alarm: describeAlarm(alarm), state: annunciation?.state },
        'alarm not annunciated (ISA-18.2 shelved, suppressed or out of service): no emergency page',
      );
      return 0;
    }
    const db = this.database.db;
    let targets = [...this.centres.values()].filter((c) => alarm.level >= c.minLevel);
    const superseded = annunciation?.reannounces;
    if (superseded !== undefined && targets.length > 0) {
      const pagedBefore = await db
        .selectFrom('linkage_deliveries')
        .select('centre_id')
        .where('enterprise_id', '=', alarm.enterpriseId)
        .where('gateway_id', '=', alarm.gatewayId)
        .where('alarm_id', '=', superseded)
        .execute();
      const paged = new Set(pagedBefore.map((r) => r.centre_id));
      targets = targets.filter((centre) => {
        if (!paged.has(centre.id)) return true;
        log.info(
          { alarm: describeAlarm(alarm), centreId: centre.id, reannounces: superseded },
          're-announcement of an occurrence this centre was already paged for: not paged again',
        );
        return false;
      });
    }
    if (targets.length === 0) return 0;
    const now = this.clock.now();
    const rows: DeliveryRow[] = targets.map((centre) => {
      const notificationId = notificationIdFor(alarm, centre.id);
      return {
        notification_id: notificationId,
        enterprise_id: alarm.enterpriseId,
        gateway_id: alarm.gatewayId,
        alarm_id: alarm.alarmId,
        centre_id: centre.id,
        body: JSON.stringify(this.notification(alarm, notificationId)),
        state: 'pending',
        attempts: 0,
        last_status: null,
        last_error: null,
        created_at: now,
        next_attempt_at: now,
        delivered_at: null,
      };
    });
    // One statement for every centre: unique per (alarm identity, centre), so of any number of
    // nodes inserting the same alarm at once, one creates each row.
    const inserted = await db
      .insertInto('linkage_deliveries')
      .values(rows)
      .onConflict((oc) => oc.doNothing())
      .returning('notification_id')
      .execute();
    const created = new Set(inserted.map((r) => r.notification_id));
    // Also rows that existed: a redelivered raise takes over a delivery whose creator died
    // before it claimed it; a live owner's claim or a completed one refuses. One statement.
    const won = await this.claims.claimAll(rows.map((row) => row.notification_id));
    for (const row of rows) {
      if (created.has(row.notification_id)) {
        log.info(
          { alarm: describeAlarm(alarm), centreId: row.centre_id },
          'emergency linkage delivery created',
        );
      }
      if (!won.has(row.notification_id) || this.stopping || this.isLocal(row.notification_id))
        continue;
      // Created by this call: the row is what was just inserted, so the request leaves now,
      // without reading it back. Otherwise it is read (and its state checked) first.
      if (created.has(row.notification_id))
        void this.launch(row.notification_id, row.centre_id, row);
      else void this.schedule(row.notification_id, row.centre_id, 0);
    }
    return created.size;
  }

  /**
   * Tells every centre this alarm paged that it returned to normal or was closed: one durable
   * follow-up per centre and kind (repeats add nothing, on any node). Returns how many it created.
   */
  async followUp(
    key: AlarmKey,
    kind: EmergencyFollowUp['kind'],
    at: number,
    by?: string,
  ): Promise<number> {
    this.requireRunning();
    const db = this.database.db;
    const paged = await db
      .selectFrom('linkage_deliveries')
      .select(['notification_id', 'centre_id'])
      .where('enterprise_id', '=', key.enterpriseId)
      .where('gateway_id', '=', key.gatewayId)
      .where('alarm_id', '=', key.alarmId)
      .execute();
    if (paged.length === 0) return 0;
    const now = this.clock.now();
    const rows = paged.map(({ notification_id, centre_id }) => {
      const followUpId = followUpIdOf(notification_id, kind);
      const body: EmergencyFollowUp = {
        v: 1,
        kind,
        followUpId,
        notificationId: notification_id,
        alarmId: key.alarmId,
        enterpriseId: key.enterpriseId,
        gatewayId: key.gatewayId,
        at: new Date(at).toISOString(),
        ...(by !== undefined ? { by } : {}),
      };
      return {
        followup_id: followUpId,
        notification_id,
        centre_id,
        kind,
        body: JSON.stringify(body),
        state: 'pending' as const,
        created_at: now,
        next_attempt_at: now,
      };
    });
    const inserted = await db
      .insertInto('linkage_followups')
      .values(rows)
      .onConflict((oc) => oc.doNothing())
      .returning(['followup_id', 'centre_id'])
      .execute();
    for (const { followup_id, centre_id } of inserted) {
      // A centre configured only on other nodes: left to them (their sweep takes it).
      if (!this.centres.has(centre_id)) continue;
      if (await this.claims.claim(followup_id)) {
        if (!this.scheduleFollowUp(followup_id, 0)) this.letGo(followup_id);
      }
    }
    return inserted.length;
  }

  /**
   * Subscribes this notifier to the hub: every committed raise (resent ones too) is paged
   * through {@link notify}; a cleared alarm and a closed disposal get their follow-ups.
   * Subscribe it before the other committed-alarm listeners, so its page leaves first.
   * Returns the unsubscribe.
   */
  follow(events: EventHub): () => void {
    const failed = (err: unknown, key: AlarmKey, kind: string) =>
      log.error({ err, alarm: describeAlarm(key), kind }, 'cannot record the emergency follow-up');
    const offs = [
      events.onAlarmCommitted(async ({ alarm, transition, source }) =>
        transition === 'raised' && source === 'gateway' ? (await this.notify(alarm)) > 0 : false,
      ),
      events.on('alarm', (alarm) => {
        if (alarm.state === 'cleared' && !alarm.drill)
          this.followUp(alarm, 'cleared', alarm.clearedAt ?? this.clock.now()).catch((err) =>
            failed(err, alarm, 'cleared'),
          );
      }),
      events.on('disposal', (d) => {
        if (d.status === 'closed')
          this.followUp(d, 'closed', d.closedAt ?? this.clock.now(), d.closedBy ?? undefined).catch(
            (err) => failed(err, d, 'closed'),
          );
      }),
    ];
    return () => {
      for (const off of offs) off();
    };
  }

  /** Follow-ups by state (tests, metrics). */
  async followUps(): Promise<
    { followUpId: string; centreId: string; state: string; attempts: number }[]
  > {
    this.requireRunning();
    const rows = await this.database.db
      .selectFrom('linkage_followups')
      .select(['followup_id', 'centre_id', 'state', 'attempts'])
      .orderBy('created_at')
      .orderBy('followup_id')
      .execute();
    return rows.map((r) => ({
      followUpId: r.followup_id,
      centreId: r.centre_id,
      state: r.state,
      attempts: r.attempts,
    }));
  }

  /** Newest first. */
  async deliveries(
    limit: number = EMERGENCY_NOTIFIER_DEFAULTS.listLimit,
  ): Promise<LinkageDelivery[]> {
    this.requireRunning();
    const rows = await this.database.db
      .selectFrom('linkage_deliveries')
      .selectAll()
      .orderBy('created_at', 'desc')
      .orderBy('notification_id')
      .limit(limit)
      .execute();
    return rows.map((row) => this.fromRow(row));
  }

  async counts(): Promise<LinkageCounts> {
    this.requireRunning();
    const rows = await this.database.db
      .selectFrom('linkage_deliveries')
      .select((eb) => ['state', eb.fn.countAll<number>().as('n')])
      .groupBy('state')
      .execute();
    const counts: LinkageCounts = { pending: 0, delivered: 0 };
    for (const row of rows) counts[row.state] = Number(row.n);
    return counts;
  }

  /**
   * Takes over what nobody is delivering: pending deliveries and follow-ups without a claim or
   * whose claim ran out (a dead node's; with `includeOwn`, as start() does, also this node's
   * own, held before a restart), for centres configured here; exactly one node wins each
   * (DeliveryClaims.claim). Highest alarm level first. Returns how many deliveries and
   * follow-ups this node took. The timer runs it every sweepIntervalMs; public for tests, which
   * drive the lease with a ManualClock.
   */
  async sweep(includeOwn = false): Promise<number> {
    if (!this.running || this.stopping) return 0;
    const run = this.sweepOnce(includeOwn);
    this.sweeping = run.catch(() => undefined);
    try {
      return await run;
    } finally {
      this.sweeping = null;
    }
  }

  private sweepInBackground(): void {
    if (this.sweeping || this.stopping) return;
    this.sweep().catch((err: unknown) =>
      log.warn({ err }, 'emergency linkage sweep failed; trying again at the next one'),
    );
  }

  /**
   * `includeOwn`: also this node's own live claims (at start: a restart under the same node id
   * takes back what it held). Periodic sweeps leave them out, so a node's own retries waiting on
   * their timers never fill the batch ahead of a dead node's deliveries.
   */
  private async sweepOnce(includeOwn: boolean): Promise<number> {
    const centreIds = [...this.centres.keys()];
    if (centreIds.length === 0) return 0;
    const db = this.database.db;
    // The leases' clock: the database's on PostgreSQL (DeliveryClaims), not this node's.
    const now = this.claims.now();
    const batch = EMERGENCY_NOTIFIER_DEFAULTS.sweepBatch;
    const unheld = (eb: ExpressionBuilder<SweepTables, 'c'>) =>
      eb.or([
        eb('c.notification_id', 'is', null),
        eb.and([
          eb('c.completed_at', 'is', null),
          includeOwn
            ? eb.or([eb('c.lease_until', '<=', now), eb('c.owner', '=', this.nodeId)])
            : eb('c.lease_until', '<=', now),
        ]),
      ]);
    // Only centres this node can page: rows for others (configured on other nodes, or no
    // longer at all) must not fill the batch ahead of the ones it can deliver.
    const deliveries = await db
      .selectFrom('linkage_deliveries as d')
      .leftJoin('delivery_claims as c', 'c.notification_id', 'd.notification_id')
      .select(['d.notification_id', 'd.centre_id', 'd.body', 'd.next_attempt_at'])
      .where('d.state', '=', 'pending')
      .where('d.centre_id', 'in', centreIds)
      .where(unheld)
      .orderBy('d.created_at')
      .orderBy('d.notification_id')
      .limit(batch)
      .execute();
    let taken = 0;
    const candidates = deliveries
      .filter((row) => !this.isLocal(row.notification_id))
      .map((row) => ({ ...row, level: levelOf(row.body) }))
      .sort((a, b) => b.level - a.level); // stable: oldest first within a level
    for (const row of candidates) {
      if (this.stopping) return taken;
      if (!(await this.claims.claim(row.notification_id))) continue;
      taken++;
      const wait = Math.min(
        Math.max((row.next_attempt_at ?? 0) - this.clock.now(), 0),
        this.retryMaxMs,
      );
      // A due one is under way before the next is claimed: highest level first, on the wire too.
      await this.schedule(row.notification_id, row.centre_id, wait);
    }
    const followUps = await db
      .selectFrom('linkage_followups as f')
      .leftJoin('delivery_claims as c', 'c.notification_id', 'f.followup_id')
      .select(['f.followup_id', 'f.centre_id', 'f.next_attempt_at'])
      .where('f.state', '=', 'pending')
      .where('f.centre_id', 'in', centreIds)
      .where(unheld)
      .orderBy('f.created_at')
      .orderBy('f.followup_id')
      .limit(batch)
      .execute();
    for (const row of followUps) {
      if (this.stopping) return taken;
      if (this.isLocal(`followup:${row.followup_id}`)) continue;
      if (!(await this.claims.claim(row.followup_id))) continue;
      taken++;
      const wait = Math.min(
        Math.max((row.next_attempt_at ?? 0) - this.clock.now(), 0),
        this.retryMaxMs,
      );
      if (!this.scheduleFollowUp(row.followup_id, wait)) this.letGo(row.followup_id);
    }
    return taken;
  }

  /** Logs, once per centre, pending deliveries for centres this node does not have. */
  private async reportMissingCentres(): Promise<void> {
    const rows = await this.database.db
      .selectFrom('linkage_deliveries')
      .select('centre_id')
      .distinct()
      .where('state', '=', 'pending')
      .execute();
    for (const { centre_id } of rows) this.configured(centre_id);
  }

  private requireRunning(): void {
    if (!this.running) throw new Error('emergency notifier is not started');
  }

  /**
   * Releases a claim this node took and will not work on, so another node takes it at once:
   * the heartbeat renews every claim of this node, so one left held would never be paged.
   * While stopping, stop() releases them all.
   */
  private letGo(id: string): void {
    if (this.stopping) return;
    this.claims
      .release(id)
      .catch((err: unknown) =>
        log.warn({ err, id }, 'could not release a linkage claim; it runs out with the lease'),
      );
  }

  /** Aborts every attempt in flight (they stay pending); resolves when each has ended. */
  private abortInFlight(reason: string): Promise<void>[] {
    const inFlight = [...this.inFlight.values()];
    for (const { abort } of inFlight) abort.abort(new Error(reason));
    return inFlight.map((f) => f.done);
  }

  /** Whether this node has an attempt of the delivery under way or waiting. */
  private isLocal(notificationId: string): boolean {
    return this.timers.has(notificationId) || this.inFlight.has(notificationId);
  }

  /** Whether this node can deliver to the centre; a missing one is logged once. */
  private configured(centreId: string): boolean {
    if (this.centres.has(centreId)) return true;
    if (!this.missingCentresLogged.has(centreId)) {
      this.missingCentresLogged.add(centreId);
      log.warn({ centreId }, 'pending linkage deliveries for a centre no longer configured; kept');
    }
    return false;
  }

  private notification(alarm: AlarmRecord, notificationId: string): EmergencyNotification {
    return buildNotification(alarm, notificationId, this.enterpriseNames.get(alarm.enterpriseId));
  }

  /** Resolves once an attempt due now is under way (or decided against); at once otherwise. */
  private schedule(notificationId: string, centreId: string, delayMs: number): Promise<void> {
    if (this.stopping || this.isLocal(notificationId)) return Promise.resolve();
    if (!this.configured(centreId)) {
      this.letGo(notificationId);
      return Promise.resolve();
    }
    // A first attempt starts now, not on a timer: the page must not wait a timer
    // turn behind whatever else the event loop holds (issue 19).
    if (delayMs <= 0) return this.launch(notificationId, centreId);
    const timer = setTimeout(() => {
      this.timers.delete(notificationId);
      void this.launch(notificationId, centreId);
    }, delayMs);
    this.timers.set(notificationId, timer);
    return Promise.resolve();
  }

  /**
   * Starts one attempt and schedules the retry. With `known` (the row notify() just inserted)
   * the request is under way when this returns; otherwise the claim is renewed and the row
   * read first, and the promise resolves once the request is under way (or not sent).
   */
  private launch(notificationId: string, centreId: string, known?: DeliveryRow): Promise<void> {
    const abort = new AbortController();
    let sending!: () => void;
    const underWay = new Promise<void>((resolve) => {
      sending = resolve;
    });
    const done = this.attempt(notificationId, abort, known, sending)
      .catch((err: unknown) => {
        log.error({ err, notificationId }, 'linkage delivery attempt failed unexpectedly');
        return this.retryMaxMs;
      })
      .then((retryInMs) => {
        sending();
        this.inFlight.delete(notificationId);
        if (retryInMs !== null) void this.schedule(notificationId, centreId, retryInMs);
      });
    this.inFlight.set(notificationId, { abort, done });
    return underWay;
  }

  /** One POST; resolves with the delay before the next attempt, or null when there is none. */
  private async attempt(
    notificationId: string,
    abort: AbortController,
    known: DeliveryRow | undefined,
    sending: () => void,
  ): Promise<number | null> {
    let row = known;
    if (!row) {
      // A retry or a takeover: only while this node still owns the claim.
      if (!(await this.claims.renew(notificationId))) {
        log.info({ notificationId }, 'linkage delivery claimed by another node; not retried here');
        return null;
      }
      row = await this.database.db
        .selectFrom('linkage_deliveries')
        .selectAll()
        .where('notification_id', '=', notificationId)
        .executeTakeFirst();
      if (this.stopping || !row) return null;
      if (row.state !== 'pending') {
        // Delivered (by a node that died before completing its claim): never sent again.
        await this.claims.complete(notificationId);
        return null;
      }
    }
    const centre = this.centres.get(row.centre_id);
    if (!centre) {
      this.letGo(notificationId);
      return null;
    }

    const timestamp = String(this.clock.now());
    const timeout = setTimeout(
      () => abort.abort(new Error(`no answer within ${this.requestTimeoutMs} ms`)),
      this.requestTimeoutMs,
    );
    let status: number | null = null;
    let error: string | null = null;
    const traced = row;
    const trace = (event: 'sending' | 'answered') => {
      if (this.listenerCount(event) === 0) return;
      this.emit(event, {
        enterpriseId: traced.enterprise_id,
        gatewayId: traced.gateway_id,
        alarmId: traced.alarm_id,
        notificationId,
        centreId: centre.id,
        at: performance.now(),
      });
    };
    trace('sending');
    try {
      const request = (this.options.fetch ?? httpPost)(centre.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          [TIMESTAMP_HEADER]: timestamp,
          [SIGNATURE_HEADER]: signLinkage(centre.secret, timestamp, row.body),
          [DELIVERY_HEADER]: notificationId,
        },
        body: row.body,
        signal: abort.signal,
        // A redirect would re-send the signed alarm elsewhere: treat it as a failure.
        redirect: 'manual',
      });
      sending();
      const response = await request;
      status = response.status;
      trace('answered');
      await response.arrayBuffer().catch(() => undefined);
      if (!response.ok) error = `HTTP ${status}`;
    } catch (err) {
      const reason = abort.signal.reason as Error | undefined;
      error = reason?.message ?? (err as Error).message;
      if ((err as Error).cause instanceof Error)
        error += `: ${((err as Error).cause as Error).message}`;
    } finally {
      clearTimeout(timeout);
    }
    if (this.stopping) return null; // aborted by stop(): stays pending, its claim released

    const delivered = error === null;
    const now = this.clock.now();
    const attempts = row.attempts + 1;
    const waitMs = delivered
      ? 0
      : backoffDelayMs(attempts, this.retryInitialMs, this.retryMaxMs, this.options.random);
    // Only a pending row: a late answer to a node that lost its claim never turns a delivered
    // row back to pending. The row first, the claim after: a node that dies between the two
    // leaves a delivered row, which no node sends again.
    await this.database.db
      .updateTable('linkage_deliveries')
      .set((eb) => ({
        attempts: eb('attempts', '+', 1),
        last_status: status,
        last_error: error,
        state: delivered ? 'delivered' : 'pending',
        delivered_at: delivered ? now : null,
        next_attempt_at: delivered ? null : now + waitMs,
      }))
      .where('notification_id', '=', notificationId)
      .where('state', '=', 'pending')
      .execute();
    if (delivered) await this.claims.complete(notificationId);
    const outcome: AttemptOutcome = {
      notificationId,
      centreId: centre.id,
      status,
      error,
      delivered,
    };
    this.emit('attempt', outcome);
    if (delivered) {
      log.info(
        {
          notificationId,
          alarm: `${row.enterprise_id}/${row.gateway_id}/${row.alarm_id}`,
          centreId: centre.id,
          attempts,
          status,
        },
        'emergency centre accepted the notification',
      );
      const updated = { ...row, attempts, last_status: status, last_error: null };
      this.emit(
        'delivered',
        this.fromRow({ ...updated, state: 'delivered', delivered_at: now, next_attempt_at: null }),
      );
      return null;
    }
    // Log the first failure of a delivery; later ones only at debug (no log per retry).
    const level = attempts === 1 ? 'warn' : 'debug';
    log[level](
      { notificationId, centreId: centre.id, attempts, error, retryInMs: waitMs },
      'emergency centre did not accept the notification; retrying',
    );
    return waitMs;
  }

  /** False when it was not scheduled (stopping); true when it is, or already was, under way here. */
  private scheduleFollowUp(followUpId: string, delayMs: number): boolean {
    const key = `followup:${followUpId}`;
    if (this.stopping) return false;
    if (this.isLocal(key)) return true;
    const timer = setTimeout(() => {
      this.timers.delete(key);
      const abort = new AbortController();
      const done = this.attemptFollowUp(followUpId, abort.signal)
        .catch((err: unknown) => {
          log.error({ err, followUpId }, 'follow-up attempt failed unexpectedly');
          return this.retryMaxMs;
        })
        .then((retryInMs) => {
          this.inFlight.delete(key);
          if (retryInMs !== null) this.scheduleFollowUp(followUpId, retryInMs);
        });
      this.inFlight.set(key, { abort, done });
    }, delayMs);
    this.timers.set(key, timer);
    return true;
  }

  /** One signed POST of a follow-up (same headers as a notification); the delay before the next, or null. */
  private async attemptFollowUp(followUpId: string, stopped: AbortSignal): Promise<number | null> {
    if (this.stopping) return null;
    if (!(await this.claims.renew(followUpId))) return null; // another node has it
    const row = await this.database.db
      .selectFrom('linkage_followups')
      .select(['followup_id', 'centre_id', 'body', 'state', 'attempts'])
      .where('followup_id', '=', followUpId)
      .executeTakeFirst();
    const centre = row ? this.centres.get(row.centre_id) : undefined;
    if (this.stopping) return null;
    if (!row || !centre) {
      this.letGo(followUpId);
      return null;
    }
    if (row.state !== 'pending') {
      await this.claims.complete(followUpId);
      return null;
    }
    const timestamp = String(this.clock.now());
    let status: number | null = null;
    try {
      const response = await (this.options.fetch ?? httpPost)(centre.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          [TIMESTAMP_HEADER]: timestamp,
          [SIGNATURE_HEADER]: signLinkage(centre.secret, timestamp, row.body),
          [DELIVERY_HEADER]: followUpId,
        },
        body: row.body,
        signal: AbortSignal.any([stopped, AbortSignal.timeout(this.requestTimeoutMs)]),
        redirect: 'manual',
      });
      status = response.status;
      await response.arrayBuffer().catch(() => undefined);
    } catch {
      status = null;
    }
    if (this.stopping) return null;
    const attempts = row.attempts + 1;
    const now = this.clock.now();
    // A 4xx other than timeout/rate limit: this centre does not take follow-ups; do not insist.
    const refused =
      status !== null && status >= 400 && status < 500 && status !== 408 && status !== 429;
    const state =
      status !== null && status < 300 && status >= 200
        ? 'delivered'
        : refused
          ? 'refused'
          : 'pending';
    const waitMs = backoffDelayMs(
      attempts,
      this.retryInitialMs,
      this.retryMaxMs,
      this.options.random,
    );
    await this.database.db
      .updateTable('linkage_followups')
      .set((eb) => ({
        attempts: eb('attempts', '+', 1),
        last_status: status,
        state,
        delivered_at: state === 'delivered' ? now : null,
        next_attempt_at: state === 'pending' ? now + waitMs : null,
      }))
      .where('followup_id', '=', followUpId)
      .where('state', '=', 'pending')
      .execute();
    if (state !== 'pending') {
      await this.claims.complete(followUpId);
      log.info({ followUpId, centreId: centre.id, status, state }, 'emergency follow-up done');
      return null;
    }
    return waitMs;
  }

  private get requestTimeoutMs(): number {
    return this.options.requestTimeoutMs ?? EMERGENCY_NOTIFIER_DEFAULTS.requestTimeoutMs;
  }

  private fromRow(row: DeliveryRow): LinkageDelivery {
    return {
      notificationId: row.notification_id,
      enterpriseId: row.enterprise_id,
      gatewayId: row.gateway_id,
      alarmId: row.alarm_id,
      centreId: row.centre_id,
      centreName: this.centres.get(row.centre_id)?.name ?? null,
      state: row.state,
      attempts: row.attempts,
      lastStatus: row.last_status,
      lastError: row.last_error,
      createdAt: row.created_at,
      nextAttemptAt: row.state === 'pending' ? row.next_attempt_at : null,
      deliveredAt: row.delivered_at,
    };
  }
}

/** What the sweep's claim condition sees: the claims joined as `c` (left join: nullable). */
type SweepTables = { c: Nullable<PlatformSchema['delivery_claims']> };
type Nullable<T> = { [K in keyof T]: T[K] | null };

/** The alarm level a delivery's body names (0 when unreadable), for highest-first takeover. */
function levelOf(body: string): number {
  try {
    const level = (JSON.parse(body) as { level?: unknown }).level;
    return typeof level === 'number' ? level : 0;
  } catch {
    return 0;
  }
}
