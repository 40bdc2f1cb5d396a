/**
 * Durable alarm ledger (SQLite): one row per alarm occurrence in `alarms`, and
 * every distinct transition received in the append-only `alarm_events` table
 * (triggers refuse UPDATE and DELETE), so each alarm can be followed from its
 * raise to its clear and later to its disposal (the closed loop regulators ask for).
 *
 * An alarm is addressed by its identity (enterprise, gateway, alarm id): see identity.ts. A
 * gateway can only ever reach alarms of its own identity (ingest checks the payload's ids against
 * the topic, the broker's ACL binds the topic to the authenticated gateway).
 *
 * Idempotent under redelivery and tolerant of reordering, because the uplink
 * redelivers after reconnects and nothing guarantees order across them:
 * - a second 'raised' for a known alarm changes nothing;
 * - a 'cleared' before its 'raised' creates the alarm in state 'cleared'; the
 *   late 'raised' fills in raisedAt but never reactivates it;
 * - every other transition (acknowledged, shelved, returned, ...) is appended to
 *   `alarm_events` and changes no alarm row.
 *
 * A conflict (the same identity arriving with another rule or sensor, e.g. a gateway restored
 * from an image that reuses ids) never drops the alarm: the occurrence is recorded under a derived
 * id (`<alarmId>~<ruleId>~<sensorId>`, the same for its raise and its clear), logged, reported to
 * `onConflict` (the server audits it) and acknowledged as stored.
 *
 * Schema versions (table `schema_versions`, component 'alarm-ledger'): 1 keyed alarms by alarm id
 * alone; 2 keys them by (enterprise, gateway, alarm id). A version-1 file is migrated in place on
 * start (one transaction; alarm ids were unique, so every row keeps its identity).
 */
import type { Clock } from '../../common/clock.js';
import { systemClock } from '../../common/clock.js';
import { createLogger } from '../../common/logger.js';
import type { AlarmEvent } from '../../protocol/index.js';
import { type OpenOptions, openWithSchema, type SqliteDatabase } from '../store/sqlite.js';
import { type AlarmKey, describeAlarm } from './identity.js';
import {
  ALARM_LEDGER_SCHEMA_VERSION,
  MIGRATE_ALARM_LEDGER_V1_TO_V2,
  ALARM_LEDGER_SCHEMA as SCHEMA,
} from './ledger-schema.js';
import { migrateComponent } from './schema-version.js';

const log = createLogger('server.alarms');

export const ALARM_LEDGER_DEFAULTS = {
  listLimit: 100, // alarms per list() call unless asked otherwise
  pageLimit: 1_000, // alarms per listBetween() page unless asked otherwise
  maxPageLimit: 10_000,
} as const;

export type AlarmState = 'active' | 'cleared';

/** One alarm occurrence as the ledger holds it. Absent optional fields are null. */
export interface AlarmRecord {
  alarmId: string;
  gatewayId: string;
  enterpriseId: string;
  ruleId: string;
  sensorId: string;
  sensorName: string | null;
  installationId: string | null;
  location: string | null;
  gas: string | null;
  /** 1 = first level (warning), 2 = second level (action), GB/T 50493-2019 §5.5.3. */
  level: 1 | 2;
  state: AlarmState;
  /** Value at the raise (or at the clear while the raise has not arrived). */
  value: number | null;
  unit: string;
  setpoint: number;
  /** Edge time of the raise, epoch ms; null while only the clear has arrived. */
  raisedAt: number | null;
  clearedAt: number | null;
  drill: boolean;
  message: string | null;
  /** When the server first heard of this alarm, epoch ms (server clock). */
  receivedAt: number;
}

/** The same identity arrived with another rule or sensor: recorded under `recordedAs`. */
export interface AlarmConflict {
  key: AlarmKey;
  recordedAs: string;
  known: { ruleId: string; sensorId: string };
  got: { ruleId: string; sensorId: string; transition: string; seq: number };
}

export interface RecordResult {
  /** True when this call created the alarm (first transition received for its identity). */
  isNew: boolean;
  /** True when this call changed the alarm (false for a redelivery or a late raise of a cleared alarm it already knew). */
  changed: boolean;
  alarm: AlarmRecord;
  /** Set when the identity was already held by another rule or sensor (see the module comment). */
  conflict?: AlarmConflict;
}

export interface ListQuery {
  /** 'active' (default 'all'). */
  state?: 'active' | 'all';
  limit?: number;
  /** Only these enterprises (a caller's scope); all when absent. */
  enterpriseIds?: readonly string[];
}

/** Where a `listBetween` page ended: pass it as `after` for the next page. */
export interface AlarmPageCursor {
  at: number;
  enterpriseId: string;
  gatewayId: string;
  alarmId: string;
}

export interface TimeRangeQuery {
  /** Inclusive bounds on the alarm's time (raise, or clear while the raise has not arrived), epoch ms. */
  from: number;
  to: number;
  /** Only these enterprises (a caller's scope); all when absent. */
  enterpriseIds?: readonly string[];
  /** Page size (default 1,000, at most 10,000). */
  limit?: number;
  /** The `next` of the previous page; absent for the first. */
  after?: AlarmPageCursor | null;
}

export interface AlarmPage {
  /** Oldest first. */
  alarms: AlarmRecord[];
  /** Null when this page was the last. */
  next: AlarmPageCursor | null;
}

/** Active alarm counts of one enterprise (drills apart). */
export interface ActiveSummary {
  enterpriseId: string;
  level1: number;
  level2: number;
  drills: number;
}

export interface AlarmLedgerOptions extends OpenOptions {
  path: string;
  clock?: Clock;
  /** Told about every conflict after it was recorded (the server writes the audit log). */
  onConflict?: (conflict: AlarmConflict) => void;
}

/**
 * Thrown by nothing since alarm identity includes the gateway (issue 13): a gateway cannot reach
 * another gateway's alarms, and a conflict within one identity is recorded, not refused. Kept so
 * ingest's `instanceof` check still compiles.
 */
export class AlarmConflictError extends Error {
  constructor(alarmId: string, knownGateway: string, gatewayId: string) {
    super(
      `alarm '${alarmId}' belongs to gateway '${knownGateway}', not to '${gatewayId}': not recorded`,
    );
    this.name = 'AlarmConflictError';
  }
}

interface AlarmRow {
  alarm_id: string;
  gateway_id: string;
  enterprise_id: string;
  rule_id: string;
  sensor_id: string;
  sensor_name: string | null;
  installation_id: string | null;
  location: string | null;
  gas: string | null;
  level: number;
  state: AlarmState;
  value: number | null;
  unit: string;
  setpoint: number;
  raised_at: number | null;
  cleared_at: number | null;
  drill: number;
  message: string | null;
  received_at: number;
}

function fromRow(row: AlarmRow): AlarmRecord {
  return {
    alarmId: row.alarm_id,
    gatewayId: row.gateway_id,
    enterpriseId: row.enterprise_id,
    ruleId: row.rule_id,
    sensorId: row.sensor_id,
    sensorName: row.sensor_name,
    installationId: row.installation_id,
    location: row.location,
    gas: row.gas,
    level: row.level === 2 ? 2 : 1,
    state: row.state,
    value: row.value,
    unit: row.unit,
    setpoint: row.setpoint,
    raisedAt: row.raised_at,
    clearedAt: row.cleared_at,
    drill: row.drill !== 0,
    message: row.message,
    receivedAt: row.received_at,
  };
}

function toRow(alarm: AlarmRecord): AlarmRow {
  return {
    alarm_id: alarm.alarmId,
    gateway_id: alarm.gatewayId,
    enterprise_id: alarm.enterpriseId,
    rule_id: alarm.ruleId,
    sensor_id: alarm.sensorId,
    sensor_name: alarm.sensorName,
    installation_id: alarm.installationId,
    location: alarm.location,
    gas: alarm.gas,
    level: alarm.level,
    state: alarm.state,
    value: alarm.value,
    unit: alarm.unit,
    setpoint: alarm.setpoint,
    raised_at: alarm.raisedAt,
    cleared_at: alarm.clearedAt,
    drill: alarm.drill ? 1 : 0,
    message: alarm.message,
    received_at: alarm.receivedAt,
  };
}

/** The alarm an event describes, as it would be recorded if it were the first transition heard. */
function fromEvent(event: AlarmEvent, receivedAt: number): AlarmRecord {
  const raised = event.transition === 'raised';
  return {
    alarmId: event.alarmId,
    gatewayId: event.gatewayId,
    enterpriseId: event.enterpriseId,
    ruleId: event.ruleId,
    sensorId: event.sensorId,
    sensorName: event.sensorName ?? null,
    installationId: event.installationId ?? null,
    location: event.location ?? null,
    gas: event.gas ?? null,
    level: event.level,
    state: raised ? 'active' : 'cleared',
    value: event.value,
    unit: event.unit,
    setpoint: event.setpoint,
    raisedAt: raised ? event.ts : null,
    clearedAt: raised ? null : event.ts,
    drill: event.drill,
    message: event.message ?? null,
    receivedAt,
  };
}

/**
 * Lifecycle: `start()` opens (and migrates) the tables, `stop()` closes them and
 * is safe to call twice. `record()` commits before it returns; every method
 * throws when the ledger is not started.
 */
export class AlarmLedger {
  private db: SqliteDatabase | null = null;
  private recordTransaction: ((event: AlarmEvent, receivedAt: number) => RecordResult) | null =
    null;
  private readonly clock: Clock;

  constructor(private readonly options: AlarmLedgerOptions) {
    this.clock = options.clock ?? systemClock;
  }

  async start(): Promise<void> {
    if (this.db) return;
    const db = openWithSchema(
      this.options.path,
      this.options,
      (db) => {
        migrateComponent(db, {
          component: 'alarm-ledger',
          version: ALARM_LEDGER_SCHEMA_VERSION,
          existingTable: 'alarms',
          create: (d) => d.exec(SCHEMA),
          steps: { 1: (d) => d.exec(MIGRATE_ALARM_LEDGER_V1_TO_V2) },
          what: `alarm ledger '${this.options.path}'`,
        });
        this.recordTransaction = this.prepareRecord(db);
      },
      `alarm ledger '${this.options.path}'`,
    );
    this.db = db;
  }

  async stop(): Promise<void> {
    const db = this.db;
    this.db = null;
    this.recordTransaction = null;
    if (db?.open) db.close();
  }

  /**
   * Records one transition, durably and idempotently (see the module comment). The identity is
   * the event's (enterpriseId, gatewayId, alarmId), which ingest has checked against the topic.
   */
  record(event: AlarmEvent): RecordResult {
    if (!this.recordTransaction) throw new Error('alarm ledger is not started');
    const result = this.recordTransaction(event, this.clock.now());
    if (result.conflict) {
      log.warn(
        { ...result.conflict, alarm: describeAlarm(result.conflict.key) },
        'alarm identity already held by another rule or sensor: recorded under a derived id',
      );
      try {
        this.options.onConflict?.(result.conflict);
      } catch (err) {
        log.error({ err }, 'alarm conflict hook failed');
      }
    }
    return result;
  }

  /** Newest first (by raise time, or clear time while the raise has not arrived). */
  list(query: ListQuery = {}): AlarmRecord[] {
    const db = this.requireDb();
    const limit = query.limit ?? ALARM_LEDGER_DEFAULTS.listLimit;
    const order =
      'ORDER BY COALESCE(raised_at, cleared_at) DESC, enterprise_id, gateway_id, alarm_id LIMIT ?';
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (query.state === 'active') where.push("state = 'active'");
    if (query.enterpriseIds !== undefined) {
      if (query.enterpriseIds.length === 0) return [];
      where.push(`enterprise_id IN (${query.enterpriseIds.map(() => '?').join(', ')})`);
      params.push(...query.enterpriseIds);
    }
    const clause = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    const rows = db
      .prepare<(string | number)[], AlarmRow>(`SELECT * FROM alarms ${clause} ${order}`)
      .all(...params, limit);
    return rows.map(fromRow);
  }

  /**
   * One page of the alarms whose time (raise, or clear while the raise has not
   * arrived; the same time `list` orders by) lies in [from, to], oldest first,
   * in the caller's enterprises. Keyset paging on (time, identity) through the
   * alarms_enterprise_recent / alarms_recent indexes: a page costs the same
   * however deep into the range it is, and alarms recorded meanwhile are
   * neither skipped nor repeated (a late raise that lands in the part already
   * read shows on no page; read again from the start to see it).
   */
  listBetween(query: TimeRangeQuery): AlarmPage {
    const db = this.requireDb();
    const limit = query.limit ?? ALARM_LEDGER_DEFAULTS.pageLimit;
    if (!(Number.isInteger(limit) && limit >= 1 && limit <= ALARM_LEDGER_DEFAULTS.maxPageLimit)) {
      throw new Error(
        `listBetween limit must be an integer from 1 to ${ALARM_LEDGER_DEFAULTS.maxPageLimit} (got ${limit})`,
      );
    }
    const at = 'COALESCE(raised_at, cleared_at)';
    const where = [`${at} BETWEEN ? AND ?`];
    const params: (string | number)[] = [query.from, query.to];
    if (query.enterpriseIds !== undefined) {
      if (query.enterpriseIds.length === 0) return { alarms: [], next: null };
      where.push(`enterprise_id IN (${query.enterpriseIds.map(() => '?').join(', ')})`);
      params.push(...query.enterpriseIds);
    }
    if (query.after) {
      where.push(`(${at}, enterprise_id, gateway_id, alarm_id) > (?, ?, ?, ?)`);
      const c = query.after;
      params.push(c.at, c.enterpriseId, c.gatewayId, c.alarmId);
    }
    const rows = db
      .prepare<(string | number)[], AlarmRow>(
        `SELECT * FROM alarms WHERE ${where.join(' AND ')}
         ORDER BY ${at}, enterprise_id, gateway_id, alarm_id LIMIT ?`,
      )
      .all(...params, limit + 1);
    const alarms = rows.slice(0, limit).map(fromRow);
    const last = alarms[alarms.length - 1];
    const next =
      rows.length > limit && last
        ? {
            at: (last.raisedAt ?? last.clearedAt)!,
            enterpriseId: last.enterpriseId,
            gatewayId: last.gatewayId,
            alarmId: last.alarmId,
          }
        : null;
    return { alarms, next };
  }

  /** Active alarms per enterprise by level (drills counted apart). */
  activeSummary(): ActiveSummary[] {
    const rows = this.requireDb()
      .prepare<[], { enterprise_id: string; level: number; drill: number; n: number }>(
        `SELECT enterprise_id, level, drill, COUNT(*) AS n FROM alarms WHERE state = 'active'
         GROUP BY enterprise_id, level, drill`,
      )
      .all();
    const byEnterprise = new Map<string, ActiveSummary>();
    for (const row of rows) {
      let summary = byEnterprise.get(row.enterprise_id);
      if (!summary) {
        summary = { enterpriseId: row.enterprise_id, level1: 0, level2: 0, drills: 0 };
        byEnterprise.set(row.enterprise_id, summary);
      }
      if (row.drill !== 0) summary.drills += row.n;
      else if (row.level === 2) summary.level2 += row.n;
      else summary.level1 += row.n;
    }
    return [...byEnterprise.values()];
  }

  get(key: AlarmKey): AlarmRecord | undefined {
    const row = this.requireDb()
      .prepare<[string, string, string], AlarmRow>(
        'SELECT * FROM alarms WHERE enterprise_id = ? AND gateway_id = ? AND alarm_id = ?',
      )
      .get(key.enterpriseId, key.gatewayId, key.alarmId);
    return row ? fromRow(row) : undefined;
  }

  /** Number of active alarms (for health and summaries). */
  activeCount(): number {
    return this.requireDb()
      .prepare<[], number>("SELECT COUNT(*) FROM alarms WHERE state = 'active'")
      .pluck()
      .get()!;
  }

  private requireDb(): SqliteDatabase {
    if (!this.db) throw new Error('alarm ledger is not started');
    return this.db;
  }

  private prepareRecord(db: SqliteDatabase) {
    const insertEvent = db.prepare(
      `INSERT OR IGNORE INTO alarm_events
         (alarm_id, transition, gateway_id, enterprise_id, seq, ts, sent_at, received_at, level, value, drill, payload)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const select = db.prepare<[string, string, string], AlarmRow>(
      'SELECT * FROM alarms WHERE enterprise_id = ? AND gateway_id = ? AND alarm_id = ?',
    );
    const insert = db.prepare(
      `INSERT INTO alarms VALUES (@alarm_id, @gateway_id, @enterprise_id, @rule_id, @sensor_id,
         @sensor_name, @installation_id, @location, @gas, @level, @state, @value, @unit, @setpoint,
         @raised_at, @cleared_at, @drill, @message, @received_at)`,
    );
    const update = db.prepare(
      `UPDATE alarms SET sensor_name = @sensor_name, installation_id = @installation_id,
         location = @location, gas = @gas, level = @level, state = @state, value = @value,
         unit = @unit, setpoint = @setpoint, raised_at = @raised_at, cleared_at = @cleared_at,
         message = @message
       WHERE enterprise_id = @enterprise_id AND gateway_id = @gateway_id AND alarm_id = @alarm_id`,
    );

    return db.transaction((received: AlarmEvent, receivedAt: number): RecordResult => {
      let event = received;
      let row = select.get(event.enterpriseId, event.gatewayId, event.alarmId);
      let conflict: AlarmConflict | undefined;
      if (row && (row.rule_id !== event.ruleId || row.sensor_id !== event.sensorId)) {
        // Same identity, another alarm: keep both, never refuse the newcomer (issue 13).
        const recordedAs = `${event.alarmId}~${event.ruleId}~${event.sensorId}`;
        conflict = {
          key: {
            enterpriseId: event.enterpriseId,
            gatewayId: event.gatewayId,
            alarmId: event.alarmId,
          },
          recordedAs,
          known: { ruleId: row.rule_id, sensorId: row.sensor_id },
          got: {
            ruleId: event.ruleId,
            sensorId: event.sensorId,
            transition: event.transition,
            seq: event.seq,
          },
        };
        event = { ...event, alarmId: recordedAs };
        row = select.get(event.enterpriseId, event.gatewayId, event.alarmId);
      }
      const result = apply(event, row, receivedAt, received);
      return conflict ? { ...result, conflict } : result;
    });

    function apply(
      event: AlarmEvent,
      row: AlarmRow | undefined,
      receivedAt: number,
      received: AlarmEvent,
    ): RecordResult {
      insertEvent.run(
        event.alarmId,
        event.transition,
        event.gatewayId,
        event.enterpriseId,
        event.seq,
        event.ts,
        event.sentAt,
        receivedAt,
        event.level,
        event.value,
        event.drill ? 1 : 0,
        JSON.stringify(received), // as received, also when recorded under a derived id
      );
      if (event.transition !== 'raised' && event.transition !== 'cleared') {
        // Lifecycle and operator transitions (acknowledged, shelved, returned, ...) are
        // history of an occurrence, not occurrences: kept in alarm_events only, so they
        // can neither create a phantom alarm (a shelve names the alarm point, not an
        // occurrence) nor stand in for a raise that has not arrived yet.
        const alarm = row ? fromRow(row) : { ...fromEvent(event, receivedAt), clearedAt: null };
        return { isNew: false, changed: false, alarm };
      }
      if (!row) {
        const alarm = fromEvent(event, receivedAt);
        insert.run(toRow(alarm));
        return { isNew: true, changed: true, alarm };
      }
      const known = fromRow(row);
      const next = applyTransition(known, event);
      if (!next) return { isNew: false, changed: false, alarm: known };
      update.run(toRow(next));
      if (event.transition === 'raised') {
        log.info(
          { alarm: describeAlarm(event) },
          'alarm raise arrived after its clear; kept cleared',
        );
      }
      return { isNew: false, changed: true, alarm: next };
    }
  }
}

/** The alarm after `event`, or null when the event changes nothing (a redelivery). */
function applyTransition(known: AlarmRecord, event: AlarmEvent): AlarmRecord | null {
  if (event.transition === 'cleared') {
    if (known.state === 'cleared') return null;
    return { ...known, state: 'cleared', clearedAt: event.ts };
  }
  // 'raised': only news when the raise had not arrived yet (it came after its clear).
  if (known.raisedAt !== null) return null;
  const raised = fromEvent(event, known.receivedAt);
  return { ...raised, state: 'cleared', clearedAt: known.clearedAt };
}
