/**
 * Emergency linkage over MQTT: emergency centres subscribe to one topic on the server's broker
 * (`platform.emergencyTopic`, default `hazardwatch/v1/emergency/notifications`) and receive the
 * same EmergencyNotification body as the webhooks (protocol/linkage.ts), QoS 1. They confirm
 * with a receipt on `<topic>/receipts`: `{ "notificationId": "...", "centreId": "..." }`, which is
 * recorded (first receipt per centre kept).
 *
 * Guarantees: one notification per alarm identity (enterprise, gateway, alarm id), however
 * often the alarm is redelivered (the publication is recorded in SQLite, unique per identity,
 * before it is published; version-1 tables, unique per alarm id alone, are migrated on start); drill alarms
 * and alarms below `minLevel` are never published. A publish that fails stays 'pending' and is
 * retried by `retryPending()` (the platform calls it on its tick).
 */
import type { Clock } from '../../common/clock.js';
import { systemClock } from '../../common/clock.js';
import { createLogger } from '../../common/logger.js';
import type { EmergencyNotification } from '../../protocol/index.js';
import type { AlarmKey } from '../alarms/identity.js';
import type { AlarmRecord } from '../alarms/ledger.js';
import { migrateComponent } from '../alarms/schema-version.js';
import { type OpenOptions, openWithSchema, type SqliteDatabase } from '../store/sqlite.js';
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
} as const;

export interface MqttLinkageOptions extends OpenOptions {
  path: string;
  topic: string;
  publish: (topic: string, payload: string) => Promise<void>;
  enterpriseName?: (enterpriseId: string) => string | undefined;
  minLevel?: 1 | 2;
  clock?: Clock;
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
 * Lifecycle: `start()` opens its tables; `stop()` closes them (safe twice). `notify()` returns
 * once the publication is recorded; the publish itself completes asynchronously.
 */
export class MqttLinkage {
  private db: SqliteDatabase | null = null;
  private readonly clock: Clock;
  private readonly inFlight = new Set<Promise<void>>();
  published = 0;
  receiptsRecorded = 0;

  constructor(private readonly options: MqttLinkageOptions) {
    this.clock = options.clock ?? systemClock;
  }

  get receiptsTopic(): string {
    return `${this.options.topic}${MQTT_LINKAGE_DEFAULTS.receiptsSuffix}`;
  }

  async start(): Promise<void> {
    if (this.db) return;
    const what = `MQTT linkage tables in '${this.options.path}'`;
    const db = openWithSchema(
      this.options.path,
      this.options,
      (d) =>
        migrateComponent(d, {
          component: 'linkage-mqtt',
          version: 2,
          existingTable: 'linkage_mqtt',
          create: (x) => x.exec(MQTT_LINKAGE_SCHEMA),
          steps: { 1: (x) => x.exec(MIGRATE_V1_TO_V2) },
          what,
        }),
      what,
    );
    this.db = db;
  }

  async stop(): Promise<void> {
    // Publishes in flight are not awaited: the broker may already be closed and never call
    // back. Their rows stay 'pending' unless the callback lands first, and retry at next start.
    this.inFlight.clear();
    const db = this.db;
    this.db = null;
    if (db?.open) db.close();
  }

  /**
   * Publishes a new, active, non-drill, annunciated alarm at or above minLevel
   * once; returns true when it did. Like the webhook notifier (emergency-notifier.ts):
   * a shelved, suppressed or out-of-service raise is not published, nor a
   * re-announcement of an occurrence already published (one event, one page).
   * `annunciation` defaults to what ingest noted on the record.
   */
  notify(
    alarm: AlarmRecord,
    annunciation: Annunciation | undefined = annunciationOf(alarm),
  ): boolean {
    const db = this.requireDb();
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
    const superseded = annunciation?.reannounces;
    if (
      superseded !== undefined &&
      db
        .prepare(
          'SELECT 1 FROM linkage_mqtt WHERE enterprise_id = ? AND gateway_id = ? AND alarm_id = ?',
        )
        .get(alarm.enterpriseId, alarm.gatewayId, superseded) !== undefined
    ) {
      log.info(
        { alarmId: alarm.alarmId, gatewayId: alarm.gatewayId, reannounces: superseded },
        're-announcement of an occurrence already published: not published again',
      );
      return false;
    }
    const notificationId = notificationIdFor(alarm, 'mqtt');
    const body = JSON.stringify(this.notification(alarm, notificationId));
    const inserted = db
      .prepare(
        `INSERT OR IGNORE INTO linkage_mqtt
           (notification_id, enterprise_id, gateway_id, alarm_id, body, state, created_at)
         VALUES (?, ?, ?, ?, ?, 'pending', ?)`,
      )
      .run(
        notificationId,
        alarm.enterpriseId,
        alarm.gatewayId,
        alarm.alarmId,
        body,
        this.clock.now(),
      );
    if (inserted.changes === 0) return false;
    this.publish(notificationId, body);
    return true;
  }

  /** Publishes what a failed publish (or a restart) left pending. */
  retryPending(): void {
    if (!this.db) return;
    const rows = this.db
      .prepare<[], { notification_id: string; body: string }>(
        "SELECT notification_id, body FROM linkage_mqtt WHERE state = 'pending'",
      )
      .all();
    for (const row of rows) this.publish(row.notification_id, row.body);
  }

  /** Handles a message on the receipts topic; returns true when it was one (valid or not). */
  handleReceipt(topic: string, payload: Buffer): boolean {
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
    const db = this.db;
    if (!db) return true;
    const known = db
      .prepare<[string], number>('SELECT 1 FROM linkage_mqtt WHERE notification_id = ?')
      .pluck()
      .get(notificationId);
    if (known === undefined) return true;
    const result = db
      .prepare(
        'INSERT OR IGNORE INTO linkage_mqtt_receipts (notification_id, centre_id, received_at) VALUES (?, ?, ?)',
      )
      .run(notificationId, centreId, this.clock.now());
    if (result.changes > 0) {
      this.receiptsRecorded++;
      log.info({ notificationId, centreId }, 'emergency centre confirmed the MQTT notification');
    }
    return true;
  }

  notifications(limit = 200): MqttNotificationRecord[] {
    const db = this.requireDb();
    const rows = db
      .prepare<
        [number],
        {
          notification_id: string;
          enterprise_id: string;
          gateway_id: string;
          alarm_id: string;
          state: 'pending' | 'published';
          published_at: number | null;
        }
      >('SELECT * FROM linkage_mqtt ORDER BY created_at DESC, notification_id LIMIT ?')
      .all(limit);
    const receipts = db.prepare<[string], { centre_id: string; received_at: number }>(
      'SELECT centre_id, received_at FROM linkage_mqtt_receipts WHERE notification_id = ? ORDER BY received_at',
    );
    return rows.map((r) => ({
      notificationId: r.notification_id,
      enterpriseId: r.enterprise_id,
      gatewayId: r.gateway_id,
      alarmId: r.alarm_id,
      state: r.state,
      publishedAt: r.published_at,
      receipts: receipts.all(r.notification_id).map((x) => ({
        notificationId: r.notification_id,
        centreId: x.centre_id,
        receivedAt: x.received_at,
      })),
    }));
  }

  private publish(notificationId: string, body: string): void {
    const done = this.options
      .publish(this.options.topic, body)
      .then(() => {
        this.published++;
        this.db
          ?.prepare(
            "UPDATE linkage_mqtt SET state = 'published', published_at = ? WHERE notification_id = ?",
          )
          .run(this.clock.now(), notificationId);
      })
      .catch((err: unknown) => {
        log.warn({ err, notificationId }, 'MQTT emergency notification not published; will retry');
      })
      .finally(() => this.inFlight.delete(done));
    this.inFlight.add(done);
  }

  private notification(alarm: AlarmRecord, notificationId: string): EmergencyNotification {
    return buildNotification(
      alarm,
      notificationId,
      this.options.enterpriseName?.(alarm.enterpriseId),
    );
  }

  private requireDb(): SqliteDatabase {
    if (!this.db) throw new Error('MQTT linkage is not started');
    return this.db;
  }
}
