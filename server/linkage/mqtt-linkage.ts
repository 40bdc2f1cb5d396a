/**
 * Emergency linkage over MQTT: emergency centres subscribe to one topic on the server's broker
 * (`platform.emergencyTopic`, default `hazardwatch/v1/emergency/notifications`) and receive the
 * same EmergencyNotification body as the webhooks (protocol/linkage.ts), QoS 1. They confirm
 * with a receipt on `<topic>/receipts`: `{ "notificationId": "...", "centreId": "..." }`, which is
 * recorded (first receipt per centre kept).
 *
 * Guarantees: one notification per alarm identity (enterprise, gateway, alarm id), however
 * often the alarm is redelivered and however many server nodes receive it (the publication is
 * recorded in the platform database, unique per identity, before it is published); drill alarms
 * and alarms below `minLevel` are never published. A publish that fails stays 'pending' and is
 * retried by `retryPending()`, which this linkage runs on start and every retryIntervalMs (the
 * platform's tick calls it too).
 *
 * Cluster mode (issue 14): only the node that holds the publication's delivery claim
 * (server/db/delivery-claims.ts, id `mqtt:<notificationId>`, so it never meets the webhook
 * deliveries' claims: the scope 'mqtt:' keeps heartbeats and releases apart) publishes it; a
 * publish the broker acknowledged marks the row 'published' and then completes the claim. The
 * claim is a liveness lease (3 s, renewed by this node's heartbeat every second). A node that
 * dies with a publication pending stops renewing, so its claim is free within one lease (a
 * clean stop releases it at once); `retryPending()` on any node (every second) then takes it
 * over, highest alarm level first, and publishes it. A node that dies after the broker's
 * acknowledgement but before the row says so leaves it to be published again: a centre drops
 * the repeat by its notificationId, as it drops a repeated webhook delivery (docs/protocol.md). Receipts are recorded once per centre whichever
 * node hears them.
 *
 * Schema: migration 0001 of server/db. The embedded upgrade this store ran on start (a
 * version-1 table, unique per alarm id alone, migrated) is kept as
 * {@link prepareEmbeddedMqttLinkage} for the one-time embedded upgrade step.
 */
import { sql } from 'kysely';
import type { Clock } from '../../common/clock.js';
import { systemClock } from '../../common/clock.js';
import { createLogger } from '../../common/logger.js';
import type { EmergencyNotification } from '../../protocol/index.js';
import type { AlarmKey } from '../alarms/identity.js';
import type { AlarmRecord } from '../alarms/ledger.js';
import { migrateComponent } from '../alarms/schema-version.js';
import type { Database } from '../db/database.js';
import { DeliveryClaims } from '../db/delivery-claims.js';
import type { SqliteDatabase } from '../store/sqlite.js';
import {
  type Annunciation,
  annunciationOf,
  isAnnunciated,
  notificationIdFor,
} from './emergency-notifier.js';
import { buildNotification } from './notification.js';

const log = createLogger('server.linkage.mqtt');

export const MQTT_LINKAGE_DEFAULTS = {
  minLevel: 2, // GB/T 50493-2019 §5.5.3: level 2 is the action level
  receiptsSuffix: '/receipts',
  // 1 s between looks for pending publications (failed, or a dead node's): with the 3 s claim
  // lease, a dead node's publication leaves a survivor within the 5 s of issue 14.
  retryIntervalMs: 1_000,
  retryBatch: 100, // pending publications looked at per retryPending()
  listLimit: 200, // notifications returned by notifications()
} as const;

/** Claim ids of MQTT publications: apart from the webhook deliveries' (notification ids). */
const CLAIM_PREFIX = 'mqtt:';

export interface MqttLinkageOptions {
  /** The platform database (server/db), started by its owner before this linkage. */
  database: Database;
  /** This node, the owner of its publication claims. */
  nodeId: string;
  topic: string;
  publish: (topic: string, payload: string) => Promise<void>;
  enterpriseName?: (enterpriseId: string) => string | undefined;
  minLevel?: 1 | 2;
  clock?: Clock;
  /** Lease of this node's publication claims (DeliveryClaims; default 3 s, renewed by heartbeat). */
  claimLeaseMs?: number;
  /** Period of the claims' heartbeat (default 1 s); 0: off, the caller drives heartbeat() (tests). */
  claimHeartbeatMs?: number;
  /** Whose clock the leases use (DeliveryClaims leaseClock); 'injected' lets tests drive it. */
  claimLeaseClock?: 'database' | 'injected';
  /** Period of retryPending(); 0 turns the timer off (the caller drives it). */
  retryIntervalMs?: number;
}

export interface MqttReceipt {
  notificationId: string;
  centreId: string;
  receivedAt: number;
}

export interface MqttNotificationRecord extends AlarmKey {
  notificationId: string;
  state: 'pending' | 'published';
  publishedAt: number | null;
  receipts: MqttReceipt[];
}

const MQTT_LINKAGE_SCHEMA = `
CREATE TABLE IF NOT EXISTS linkage_mqtt (
  notification_id TEXT PRIMARY KEY, enterprise_id TEXT NOT NULL, gateway_id TEXT NOT NULL,
  alarm_id TEXT NOT NULL, body TEXT NOT NULL, state TEXT NOT NULL, created_at INTEGER NOT NULL,
  published_at INTEGER, UNIQUE (enterprise_id, gateway_id, alarm_id)
);
CREATE TABLE IF NOT EXISTS linkage_mqtt_receipts (
  notification_id TEXT NOT NULL, centre_id TEXT NOT NULL, received_at INTEGER NOT NULL,
  PRIMARY KEY (notification_id, centre_id)
);`;

/** Version 1 → 2: the identity comes from the body (an EmergencyNotification names both ids). */
const MIGRATE_V1_TO_V2 = `
ALTER TABLE linkage_mqtt RENAME TO linkage_mqtt_v1;
${MQTT_LINKAGE_SCHEMA}
INSERT INTO linkage_mqtt SELECT notification_id,
  COALESCE(json_extract(body, '$.enterpriseId'), '_unknown'),
  COALESCE(json_extract(body, '$.gatewayId'), '_unknown'),
  alarm_id, body, state, created_at, published_at FROM linkage_mqtt_v1;
DROP TABLE linkage_mqtt_v1;
`;

/**
 * What this store ran on start before it moved onto server/db (version-1 tables migrated).
 * Kept for the one-time embedded upgrade step and tests; the store no longer calls it.
 */
export function prepareEmbeddedMqttLinkage(db: SqliteDatabase, what: string): void {
  migrateComponent(db, {
    component: 'linkage-mqtt',
    version: 2,
    existingTable: 'linkage_mqtt',
    create: (x) => x.exec(MQTT_LINKAGE_SCHEMA),
    steps: { 1: (x) => x.exec(MIGRATE_V1_TO_V2) },
    what,
  });
}

/**
 * Lifecycle: `start()` starts this node's publication claims, publishes what is pending and
 * nobody holds, and starts the retry timer; `stop()` stops the timer and releases this node's
 * unfinished claims (safe twice). `notify()` returns once the publication is recorded; the
 * publish itself completes asynchronously. The database is its owner's to start and stop.
 */
export class MqttLinkage {
  private readonly database: Database;
  private readonly claims: DeliveryClaims;
  private readonly clock: Clock;
  /** Publications this node has handed to the broker and not yet heard back about. */
  private readonly inFlight = new Map<string, Promise<void>>();
  private running = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private retrying: Promise<unknown> | null = null;
  published = 0;
  receiptsRecorded = 0;

  constructor(private readonly options: MqttLinkageOptions) {
    if (typeof options.nodeId !== 'string' || options.nodeId.length === 0) {
      throw new Error(`MQTT linkage: nodeId must be a non-empty string (got '${options.nodeId}')`);
    }
    this.database = options.database;
    this.clock = options.clock ?? systemClock;
    this.claims = new DeliveryClaims(this.database, {
      nodeId: options.nodeId,
      scope: CLAIM_PREFIX,
      clock: this.clock,
      ...(options.claimLeaseMs !== undefined ? { leaseMs: options.claimLeaseMs } : {}),
      ...(options.claimHeartbeatMs !== undefined ? { heartbeatMs: options.claimHeartbeatMs } : {}),
      ...(options.claimLeaseClock !== undefined ? { leaseClock: options.claimLeaseClock } : {}),
    });
  }

  /** Renews this node's publication claims (the heartbeat timer's job); public for tests. */
  heartbeat(): Promise<number> {
    this.requireRunning();
    return this.claims.heartbeat();
  }

  get receiptsTopic(): string {
    return `${this.options.topic}${MQTT_LINKAGE_DEFAULTS.receiptsSuffix}`;
  }

  async start(): Promise<void> {
    if (this.running) return;
    await this.claims.start();
    this.running = true;
    await this.retryPending();
    const every = this.options.retryIntervalMs ?? MQTT_LINKAGE_DEFAULTS.retryIntervalMs;
    if (every > 0) {
      this.retryTimer = setInterval(() => {
        if (this.retrying) return;
        this.retryPending().catch((err: unknown) =>
          log.warn({ err }, 'MQTT emergency notifications: retry failed; trying again later'),
        );
      }, every);
      this.retryTimer.unref();
    }
  }

  async stop(): Promise<void> {
    if (this.retryTimer) clearInterval(this.retryTimer);
    this.retryTimer = null;
    this.running = false;
    await this.retrying;
    // Publishes in flight are not awaited: the broker may already be closed and never call
    // back. Their claims are released, so another node (or the next start) publishes them.
    this.inFlight.clear();
    await this.claims.stop();
  }

  /**
   * Publishes a new, active, non-drill, annunciated alarm at or above minLevel
   * once; resolves true when it recorded the publication. Like the webhook notifier
   * (emergency-notifier.ts): a shelved, suppressed or out-of-service raise is not
   * published, nor a re-announcement of an occurrence already published (one event,
   * one page). `annunciation` defaults to what ingest noted on the record.
   */
  async notify(
    alarm: AlarmRecord,
    annunciation: Annunciation | undefined = annunciationOf(alarm),
  ): Promise<boolean> {
    this.requireRunning();
    const minLevel = this.options.minLevel ?? MQTT_LINKAGE_DEFAULTS.minLevel;
    if (
      alarm.drill ||
      alarm.state !== 'active' ||
      alarm.raisedAt === null ||
      alarm.level < minLevel ||
      !isAnnunciated(annunciation)
    ) {
      return false;
    }
    const db = this.database.db;
    const superseded = annunciation?.reannounces;
    if (
      superseded !== undefined &&
      (await db
        .selectFrom('linkage_mqtt')
        .select('notification_id')
        .where('enterprise_id', '=', alarm.enterpriseId)
        .where('gateway_id', '=', alarm.gatewayId)
        .where('alarm_id', '=', superseded)
        .executeTakeFirst()) !== undefined
    ) {
      log.info(
        { alarmId: alarm.alarmId, gatewayId: alarm.gatewayId, reannounces: superseded },
        're-announcement of an occurrence already published: not published again',
      );
      return false;
    }
    const notificationId = notificationIdFor(alarm, 'mqtt');
    const body = JSON.stringify(this.notification(alarm, notificationId));
    const inserted = await db
      .insertInto('linkage_mqtt')
      .values({
        notification_id: notificationId,
        enterprise_id: alarm.enterpriseId,
        gateway_id: alarm.gatewayId,
        alarm_id: alarm.alarmId,
        body,
        state: 'pending',
        created_at: this.clock.now(),
      })
      .onConflict((oc) => oc.doNothing())
      .returning('notification_id')
      .executeTakeFirst();
    if (inserted === undefined) return false;
    if (await this.claims.claim(CLAIM_PREFIX + notificationId)) this.publish(notificationId, body);
    return true;
  }

  /**
   * Publishes what a failed publish, a restart or a dead node left pending: the rows nobody
   * holds (no claim, a claim run out, or this node's own), highest alarm level first, each by
   * the one node that claims it. Returns how many it published.
   */
  async retryPending(): Promise<number> {
    if (!this.running || this.retrying) return 0;
    const run = this.retryOnce();
    this.retrying = run.catch(() => undefined);
    try {
      return await run;
    } finally {
      this.retrying = null;
    }
  }

  private async retryOnce(): Promise<number> {
    // The leases' clock: the database's on PostgreSQL (DeliveryClaims), not this node's.
    const now = this.claims.now();
    const rows = await this.database.db
      .selectFrom('linkage_mqtt as m')
      .leftJoin('delivery_claims as c', (join) =>
        join.on(sql<boolean>`c.notification_id = ${sql.lit(CLAIM_PREFIX)} || m.notification_id`),
      )
      .select(['m.notification_id', 'm.body'])
      .where('m.state', '=', 'pending')
      .where((eb) =>
        eb.or([
          eb('c.notification_id', 'is', null),
          eb.and([
            eb('c.completed_at', 'is', null),
            eb.or([eb('c.lease_until', '<=', now), eb('c.owner', '=', this.options.nodeId)]),
          ]),
        ]),
      )
      .orderBy('m.created_at')
      .orderBy('m.notification_id')
      .limit(MQTT_LINKAGE_DEFAULTS.retryBatch)
      .execute();
    const candidates = rows
      .filter((row) => !this.inFlight.has(row.notification_id))
      .map((row) => ({ ...row, level: levelOf(row.body) }))
      .sort((a, b) => b.level - a.level); // stable: oldest first within a level
    let published = 0;
    for (const row of candidates) {
      if (!this.running) break;
      if (!(await this.claims.claim(CLAIM_PREFIX + row.notification_id))) continue;
      this.publish(row.notification_id, row.body);
      published++;
    }
    return published;
  }

  /**
   * Handles a message on the receipts topic; resolves true when it was one (valid or not),
   * once a valid receipt is recorded. Never rejects: a failure to record is logged.
   */
  async handleReceipt(topic: string, payload: Buffer): Promise<boolean> {
    if (topic !== this.receiptsTopic) return false;
    let receipt: { notificationId?: unknown; centreId?: unknown };
    try {
      receipt = JSON.parse(payload.toString('utf8')) as typeof receipt;
    } catch {
      log.warn({ topic }, 'emergency receipt is not JSON; ignored');
      return true;
    }
    const { notificationId, centreId } = receipt;
    if (
      typeof notificationId !== 'string' ||
      typeof centreId !== 'string' ||
      centreId.length > 64
    ) {
      log.warn({ topic }, 'emergency receipt lacks notificationId or centreId; ignored');
      return true;
    }
    if (!this.running) return true;
    try {
      const db = this.database.db;
      const known = await db
        .selectFrom('linkage_mqtt')
        .select('notification_id')
        .where('notification_id', '=', notificationId)
        .executeTakeFirst();
      if (known === undefined) return true;
      // First receipt per centre kept, whichever node hears it.
      const recorded = await db
        .insertInto('linkage_mqtt_receipts')
        .values({
          notification_id: notificationId,
          centre_id: centreId,
          received_at: this.clock.now(),
        })
        .onConflict((oc) => oc.doNothing())
        .returning('centre_id')
        .executeTakeFirst();
      if (recorded !== undefined) {
        this.receiptsRecorded++;
        log.info({ notificationId, centreId }, 'emergency centre confirmed the MQTT notification');
      }
    } catch (err) {
      log.error({ err, notificationId, centreId }, 'cannot record the emergency receipt');
    }
    return true;
  }

  /** Newest first, each with its receipts (oldest first). */
  async notifications(
    limit: number = MQTT_LINKAGE_DEFAULTS.listLimit,
  ): Promise<MqttNotificationRecord[]> {
    this.requireRunning();
    const db = this.database.db;
    const rows = await db
      .selectFrom('linkage_mqtt')
      .select([
        'notification_id',
        'enterprise_id',
        'gateway_id',
        'alarm_id',
        'state',
        'published_at',
      ])
      .orderBy('created_at', 'desc')
      .orderBy('notification_id')
      .limit(limit)
      .execute();
    const receipts = new Map<string, MqttReceipt[]>();
    if (rows.length > 0) {
      const all = await db
        .selectFrom('linkage_mqtt_receipts')
        .selectAll()
        .where(
          'notification_id',
          'in',
          rows.map((r) => r.notification_id),
        )
        .orderBy('received_at')
        .orderBy('centre_id')
        .execute();
      for (const r of all) {
        const list = receipts.get(r.notification_id) ?? [];
        list.push({
          notificationId: r.notification_id,
          centreId: r.centre_id,
          receivedAt: r.received_at,
        });
        receipts.set(r.notification_id, list);
      }
    }
    return rows.map((r) => ({
      notificationId: r.notification_id,
      enterpriseId: r.enterprise_id,
      gatewayId: r.gateway_id,
      alarmId: r.alarm_id,
      state: r.state === 'published' ? 'published' : 'pending',
      publishedAt: r.published_at,
      receipts: receipts.get(r.notification_id) ?? [],
    }));
  }

  /** Hands the publication to the broker; records it 'published' once the broker has it. */
  private publish(notificationId: string, body: string): void {
    if (this.inFlight.has(notificationId)) return;
    const done = this.options
      .publish(this.options.topic, body)
      .then(
        async () => {
          this.published++;
          if (!this.running) return; // stopped meanwhile: its claim was released
          // The row first, the claim after: a node that dies between the two leaves a
          // published row, which nobody publishes again.
          await this.database.db
            .updateTable('linkage_mqtt')
            .set({ state: 'published', published_at: this.clock.now() })
            .where('notification_id', '=', notificationId)
            .where('state', '=', 'pending')
            .execute();
          await this.claims.complete(CLAIM_PREFIX + notificationId);
        },
        (err: unknown) => {
          log.warn(
            { err, notificationId },
            'MQTT emergency notification not published; will retry',
          );
        },
      )
      .catch((err: unknown) => {
        log.error(
          { err, notificationId },
          'MQTT emergency notification published but not recorded',
        );
      })
      .finally(() => {
        if (this.inFlight.get(notificationId) === done) this.inFlight.delete(notificationId);
      });
    this.inFlight.set(notificationId, done);
  }

  private notification(alarm: AlarmRecord, notificationId: string): EmergencyNotification {
    return buildNotification(
      alarm,
      notificationId,
      this.options.enterpriseName?.(alarm.enterpriseId),
    );
  }

  private requireRunning(): void {
    if (!this.running) throw new Error('MQTT linkage is not started');
  }
}

/** The alarm level a publication's body names (0 when unreadable), for highest-first retries. */
function levelOf(body: string): number {
  try {
    const level = (JSON.parse(body) as { level?: unknown }).level;
    return typeof level === 'number' ? level : 0;
  } catch {
    return 0;
  }
}
