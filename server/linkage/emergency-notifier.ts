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
 * Schema versions ('linkage-deliveries' in schema_versions): version 1 was
 * unique on (alarm_id, centre_id); a version-1 table is migrated on start, the
 * identity read from each delivery's body (it names enterprise and gateway).
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
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
import type { EventHub } from '../events.js';
import { type OpenOptions, openWithSchema, type SqliteDatabase } from '../store/sqlite.js';
import { httpPost } from './http-post.js';
import { buildNotification } from './notification.js';

const log = createLogger('server.linkage');

export const EMERGENCY_NOTIFIER_DEFAULTS = {
  requestTimeoutMs: 5_000, // 5 s per attempt (docs/protocol.md: no answer within 5 s is retried)
  retryInitialMs: 500, // 0.5 s before the first retry, doubling
  retryMaxMs: 30_000, // 30 s longest wait between attempts
  listLimit: 200, // deliveries returned by deliveries()
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

export interface EmergencyNotifierOptions extends OpenOptions {
  /** SQLite file holding the deliveries (the server's store file), or ':memory:'. */
  path: string;
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

interface FollowUpRow {
  followup_id: string;
  centre_id: string;
  body: string;
  state: string;
  attempts: number;
}

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
 * Lifecycle: `start()` opens the deliveries table and resumes pending
 * deliveries; `stop()` cancels timers, aborts requests in flight (they stay
 * pending and resume at the next start), closes the table; safe to call twice.
 */
export class EmergencyNotifier extends EventEmitter<EmergencyNotifierEvents> {
  private db: SqliteDatabase | null = null;
  private readonly clock: Clock;
  private readonly centres: Map<string, EmergencyCentreConfig>;
  private readonly enterpriseNames: Map<string, string>;
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly inFlight = new Map<string, { abort: AbortController; done: Promise<void> }>();
  private readonly missingCentresLogged = new Set<string>();
  private stopping = false;
  private readonly retryInitialMs: number;
  private readonly retryMaxMs: number;

  constructor(private readonly options: EmergencyNotifierOptions) {
    super();
    this.clock = options.clock ?? systemClock;
    this.centres = new Map(options.centres.map((c) => [c.id, c]));
    this.enterpriseNames = new Map((options.enterprises ?? []).map((e) => [e.id, e.name]));
    this.retryInitialMs = options.retryInitialMs ?? EMERGENCY_NOTIFIER_DEFAULTS.retryInitialMs;
    this.retryMaxMs = options.retryMaxMs ?? EMERGENCY_NOTIFIER_DEFAULTS.retryMaxMs;
  }

  async start(): Promise<void> {
    if (this.db) return;
    const what = `linkage deliveries '${this.options.path}'`;
    const db = openWithSchema(
      this.options.path,
      this.options,
      (d) =>
        migrateComponent(d, {
          component: 'linkage-deliveries',
          version: 2,
          existingTable: 'linkage_deliveries',
          create: (x) => x.exec(SCHEMA),
          steps: { 1: (x) => x.exec(MIGRATE_V1_TO_V2) },
          what,
        }),
      what,
    );
    db.exec(FOLLOWUP_SCHEMA);
    this.db = db;
    this.stopping = false;
    for (const row of db
      .prepare<[], FollowUpRow>("SELECT * FROM linkage_followups WHERE state = 'pending'")
      .all())
      this.scheduleFollowUp(row.followup_id, 0);
    const pending = db
      .prepare<[], DeliveryRow>("SELECT * FROM linkage_deliveries WHERE state = 'pending'")
      .all();
    for (const row of pending) {
      const wait = Math.min(
        Math.max((row.next_attempt_at ?? 0) - this.clock.now(), 0),
        this.retryMaxMs,
      );
      this.schedule(row.notification_id, row.centre_id, wait);
    }
    if (pending.length > 0)
      log.info({ pending: pending.length }, 'resuming pending linkage deliveries');
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    const inFlight = [...this.inFlight.values()];
    for (const { abort } of inFlight) abort.abort(new Error('server stopping'));
    await Promise.allSettled(inFlight.map((f) => f.done));
    const db = this.db;
    this.db = null;
    if (db?.open) db.close();
  }

  /**
   * Called for every alarm the ledger created. Creates (durably) and starts one
   * delivery per centre whose minLevel the alarm reaches, unless the alarm is a
   * drill, already cleared, not annunciated (shelved, suppressed, out of
   * service), or already has its deliveries; a re-announcement skips the centres
   * already paged for the occurrence it supersedes. Returns how many it created.
   */
  notify(
    alarm: AlarmRecord,
    annunciation: Annunciation | undefined = annunciationOf(alarm),
  ): number {
    const db = this.requireDb();
    if (alarm.drill || alarm.state !== 'active' || alarm.raisedAt === null) return 0;
    if (!isAnnunciated(annunciation)) {
      log.info(
        { alarm: describeAlarm(alarm), state: annunciation?.state },
        'alarm not annunciated (ISA-18.2 shelved, suppressed or out of service): no emergency page',
      );
      return 0;
    }
    const superseded = annunciation?.reannounces;
    const pagedBefore = db.prepare(
      `SELECT 1 FROM linkage_deliveries
        WHERE enterprise_id = ? AND gateway_id = ? AND alarm_id = ? AND centre_id = ?`,
    );
    const insert = db.prepare(
      `INSERT OR IGNORE INTO linkage_deliveries
         (notification_id, enterprise_id, gateway_id, alarm_id, centre_id, body, state,
          created_at, next_attempt_at)
       VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)`,
    );
    const now = this.clock.now();
    const created: EmergencyCentreConfig[] = [];
    db.transaction(() => {
      for (const centre of this.centres.values()) {
        if (alarm.level < centre.minLevel) continue;
        if (
          superseded !== undefined &&
          pagedBefore.get(alarm.enterpriseId, alarm.gatewayId, superseded, centre.id) !== undefined
        ) {
          log.info(
            { alarm: describeAlarm(alarm), centreId: centre.id, reannounces: superseded },
            're-announcement of an occurrence this centre was already paged for: not paged again',
          );
          continue;
        }
        const notificationId = notificationIdFor(alarm, centre.id);
        const body = JSON.stringify(this.notification(alarm, notificationId));
        const ids = [notificationId, alarm.enterpriseId, alarm.gatewayId, alarm.alarmId];
        if (insert.run(...ids, centre.id, body, now, now).changes > 0) {
          created.push(centre);
        }
      }
    })();
    for (const centre of created) {
      log.info(
        { alarm: describeAlarm(alarm), centreId: centre.id },
        'emergency linkage delivery created',
      );
      this.schedule(notificationIdFor(alarm, centre.id), centre.id, 0);
    }
    return created.length;
  }

  /**
   * Tells every centre this alarm paged that it returned to normal or was closed: one durable
   * follow-up per centre and kind (repeats add nothing). Returns how many it created.
   */
  followUp(key: AlarmKey, kind: EmergencyFollowUp['kind'], at: number, by?: string): number {
    const db = this.requireDb();
    const paged = db
      .prepare<[string, string, string], { notification_id: string; centre_id: string }>(
        'SELECT notification_id, centre_id FROM linkage_deliveries WHERE enterprise_id = ? AND gateway_id = ? AND alarm_id = ?',
      )
      .all(key.enterpriseId, key.gatewayId, key.alarmId);
    const insert = db.prepare(
      `INSERT OR IGNORE INTO linkage_followups (followup_id, notification_id, centre_id, kind, body,
         state, created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)`,
    );
    const now = this.clock.now();
    const created: string[] = [];
    for (const { notification_id, centre_id } of paged) {
      const followUpId = `${notification_id}.${kind}`;
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
      const ids = [followUpId, notification_id, centre_id, kind, JSON.stringify(body)];
      if (insert.run(...ids, now, now).changes > 0) created.push(followUpId);
    }
    for (const id of created) this.scheduleFollowUp(id, 0);
    return created.length;
  }

  /** Follow-ups from the hub: a cleared alarm, a closed disposal. Returns the unsubscribe. */
  follow(events: EventHub): () => void {
    const offs = [
      events.on('alarm', (alarm) => {
        if (alarm.state === 'cleared' && !alarm.drill)
          this.followUp(alarm, 'cleared', alarm.clearedAt ?? this.clock.now());
      }),
      events.on('disposal', (d) => {
        if (d.status === 'closed')
          this.followUp(d, 'closed', d.closedAt ?? this.clock.now(), d.closedBy ?? undefined);
      }),
    ];
    return () => {
      for (const off of offs) off();
    };
  }

  /** Follow-ups by state (tests, metrics). */
  followUps(): { followUpId: string; centreId: string; state: string; attempts: number }[] {
    return this.requireDb()
      .prepare<[], FollowUpRow>('SELECT * FROM linkage_followups ORDER BY created_at, followup_id')
      .all()
      .map((r) => ({
        followUpId: r.followup_id,
        centreId: r.centre_id,
        state: r.state,
        attempts: r.attempts,
      }));
  }

  /** Newest first. */
  deliveries(limit: number = EMERGENCY_NOTIFIER_DEFAULTS.listLimit): LinkageDelivery[] {
    return this.requireDb()
      .prepare<[number], DeliveryRow>(
        'SELECT * FROM linkage_deliveries ORDER BY created_at DESC, notification_id LIMIT ?',
      )
      .all(limit)
      .map((row) => this.fromRow(row));
  }

  counts(): LinkageCounts {
    const rows = this.requireDb()
      .prepare<[], { state: DeliveryState; n: number }>(
        'SELECT state, COUNT(*) AS n FROM linkage_deliveries GROUP BY state',
      )
      .all();
    const counts: LinkageCounts = { pending: 0, delivered: 0 };
    for (const row of rows) counts[row.state] = row.n;
    return counts;
  }

  private requireDb(): SqliteDatabase {
    if (!this.db) throw new Error('emergency notifier is not started');
    return this.db;
  }

  private notification(alarm: AlarmRecord, notificationId: string): EmergencyNotification {
    return buildNotification(alarm, notificationId, this.enterpriseNames.get(alarm.enterpriseId));
  }

  private schedule(notificationId: string, centreId: string, delayMs: number): void {
    if (this.stopping || this.timers.has(notificationId) || this.inFlight.has(notificationId)) {
      return;
    }
    if (!this.centres.has(centreId)) {
      if (!this.missingCentresLogged.has(centreId)) {
        this.missingCentresLogged.add(centreId);
        log.warn(
          { centreId },
          'pending linkage deliveries for a centre no longer configured; kept',
        );
      }
      return;
    }
    // A first attempt starts now, not on a timer: the page must not wait a timer
    // turn behind whatever else the event loop holds (issue 19).
    if (delayMs <= 0) {
      this.launch(notificationId, centreId);
      return;
    }
    const timer = setTimeout(() => {
      this.timers.delete(notificationId);
      this.launch(notificationId, centreId);
    }, delayMs);
    this.timers.set(notificationId, timer);
  }

  /** Starts one attempt (its request is under way when this returns) and schedules the retry. */
  private launch(notificationId: string, centreId: string): void {
    const abort = new AbortController();
    const done = this.attempt(notificationId, abort)
      .catch((err: unknown) => {
        log.error({ err, notificationId }, 'linkage delivery attempt failed unexpectedly');
        return this.retryMaxMs;
      })
      .then((retryInMs) => {
        this.inFlight.delete(notificationId);
        if (retryInMs !== null) this.schedule(notificationId, centreId, retryInMs);
      });
    this.inFlight.set(notificationId, { abort, done });
  }

  /** One POST; resolves with the delay before the next attempt, or null when there is none. */
  private async attempt(notificationId: string, abort: AbortController): Promise<number | null> {
    const db = this.db;
    if (!db) return null;
    const row = db
      .prepare<[string], DeliveryRow>('SELECT * FROM linkage_deliveries WHERE notification_id = ?')
      .get(notificationId);
    if (!row) return null;
    if (row.state !== 'pending') return null; // delivered meanwhile
    const centre = this.centres.get(row.centre_id);
    if (!centre) return null;

    const timestamp = String(this.clock.now());
    const timeout = setTimeout(
      () => abort.abort(new Error(`no answer within ${this.requestTimeoutMs} ms`)),
      this.requestTimeoutMs,
    );
    let status: number | null = null;
    let error: string | null = null;
    const trace = (event: 'sending' | 'answered') => {
      if (this.listenerCount(event) === 0) return;
      this.emit(event, {
        enterpriseId: row.enterprise_id,
        gatewayId: row.gateway_id,
        alarmId: row.alarm_id,
        notificationId,
        centreId: centre.id,
        at: performance.now(),
      });
    };
    trace('sending');
    try {
      const response = await (this.options.fetch ?? httpPost)(centre.url, {
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
    if (this.stopping || !this.db) return null; // aborted by stop(): stays pending for the next start

    const delivered = error === null;
    const attempts = row.attempts + 1;
    const now = this.clock.now();
    const waitMs = delivered
      ? 0
      : backoffDelayMs(attempts, this.retryInitialMs, this.retryMaxMs, this.options.random);
    this.db
      .prepare(
        `UPDATE linkage_deliveries SET attempts = ?, last_status = ?, last_error = ?, state = ?,
           delivered_at = ?, next_attempt_at = ? WHERE notification_id = ?`,
      )
      .run(
        attempts,
        status,
        error,
        delivered ? 'delivered' : 'pending',
        delivered ? now : null,
        delivered ? null : now + waitMs,
        notificationId,
      );
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

  private scheduleFollowUp(followUpId: string, delayMs: number): void {
    const key = `followup:${followUpId}`;
    if (this.stopping || this.timers.has(key)) return;
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.attemptFollowUp(followUpId)
        .catch((err: unknown) => {
          log.error({ err, followUpId }, 'follow-up attempt failed unexpectedly');
          return this.retryMaxMs;
        })
        .then((retryInMs) => {
          if (retryInMs !== null) this.scheduleFollowUp(followUpId, retryInMs);
        });
    }, delayMs);
    this.timers.set(key, timer);
  }

  /** One signed POST of a follow-up (same headers as a notification); the delay before the next, or null. */
  private async attemptFollowUp(followUpId: string): Promise<number | null> {
    const row = this.db
      ?.prepare<[string], FollowUpRow>('SELECT * FROM linkage_followups WHERE followup_id = ?')
      .get(followUpId);
    const centre = row ? this.centres.get(row.centre_id) : undefined;
    if (row?.state !== 'pending' || !centre) return null;
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
        signal: AbortSignal.timeout(this.requestTimeoutMs),
        redirect: 'manual',
      });
      status = response.status;
      await response.arrayBuffer().catch(() => undefined);
    } catch {
      status = null;
    }
    if (this.stopping || !this.db) return null;
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
    this.db
      .prepare(
        'UPDATE linkage_followups SET attempts = ?, last_status = ?, state = ?, delivered_at = ?, next_attempt_at = ? WHERE followup_id = ?',
      )
      .run(
        attempts,
        status,
        state,
        state === 'delivered' ? now : null,
        state === 'pending' ? now + waitMs : null,
        followUpId,
      );
    if (state !== 'pending') {
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
