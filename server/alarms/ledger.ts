/**
 * Durable alarm ledger on the platform database (server/db: SQLite embedded, PostgreSQL in
 * cluster mode): one row per alarm occurrence in `alarms`, and every distinct transition received
 * in the append-only `alarm_events` table (triggers refuse UPDATE and DELETE), so each alarm can
 * be followed from its raise to its clear and later to its disposal (the closed loop regulators
 * ask for). Tables: migration 0001 (server/db/migrations/0001-platform-state.ts).
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
 * The same holds across nodes (cluster mode: many servers on one PostgreSQL, a resent event may
 * reach another node than the first copy, or both at once): the alarm row is created by
 * `INSERT ... ON CONFLICT DO NOTHING` (exactly one node's insert creates it, so exactly one
 * record() says `isNew` and pages), an existing row is read `FOR UPDATE` before it changes (two
 * transitions of one alarm apply one after the other), and an event is appended under its unique
 * key (identity, transition, seq) with `ON CONFLICT DO NOTHING`. Locks are taken in one order
 * (the alarm row, then its derived row, then the event), so two nodes never deadlock.
 *
 * A conflict (the same identity arriving with another rule or sensor, e.g. a gateway restored
 * from an image that reuses ids) never drops the alarm: the occurrence is recorded under a derived
 * id (`<alarmId>~<ruleId>~<sensorId>`, the same for its raise and its clear), logged, reported to
 * `onConflict` (the server audits it) and acknowledged as stored.
 *
 * Ordering: list() is newest first and listBetween() oldest first, both by the alarm's time
 * (raise, or clear while the raise has not arrived), ties by identity in byte order on both
 * engines (PostgreSQL compares the ids with COLLATE "C", as SQLite does by default).
 *
 * Schema versions: the tables are version 2 of component 'alarm-ledger' (keyed by identity);
 * a version-1 embedded file is refused by migration 0001 and upgraded by the one-time embedded
 * step (MIGRATE_ALARM_LEDGER_V1_TO_V2 in ledger-schema.ts), not by this store.
 */
import { type Insertable, type Kysely, type RawBuilder, type Selectable, sql } from 'kysely';
import type { Clock } from '../../common/clock.js';
import { systemClock } from '../../common/clock.js';
import { createLogger } from '../../common/logger.js';
import type { AlarmEvent } from '../../protocol/index.js';
import type { Database } from '../db/database.js';
import type { AlarmEventsTable, AlarmsTable, PlatformSchema } from '../db/schema.js';
import { type AlarmKey, describeAlarm } from './identity.js';
import { type PreparedQuery, prepare, slot, slots } from './prepared-query.js';

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

export interface AlarmLedgerOptions {
  /** The platform database, started before the ledger and stopped after it (by its owner). */
  database: Database;
  clock?: Clock;
  /** Told about every conflict after it was recorded (the server writes the audit log). */
  onConflict?: (conflict: AlarmConflict) => void;
}

type AlarmRow = Selectable<AlarmsTable>;

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

/** Columns of `alarms`, in table order (the insert binds a whole row). */
const ALARM_COLUMNS = [
  'alarm_id',
  'gateway_id',
  'enterprise_id',
  'rule_id',
  'sensor_id',
  'sensor_name',
  'installation_id',
  'location',
  'gas',
  'level',
  'state',
  'value',
  'unit',
  'setpoint',
  'raised_at',
  'cleared_at',
  'drill',
  'message',
  'received_at',
] as const satisfies readonly (keyof AlarmRow)[];

/** What a transition may change on a known alarm (identity, rule, sensor, drill and receivedAt never change). */
const MUTABLE_COLUMNS = [
  'sensor_name',
  'installation_id',
  'location',
  'gas',
  'level',
  'state',
  'value',
  'unit',
  'setpoint',
  'raised_at',
  'cleared_at',
  'message',
] as const satisfies readonly (keyof AlarmRow)[];

type EventRow = Required<Omit<Insertable<AlarmEventsTable>, 'event_id'>>;

const EVENT_COLUMNS = [
  'alarm_id',
  'transition',
  'gateway_id',
  'enterprise_id',
  'seq',
  'ts',
  'sent_at',
  'received_at',
  'level',
  'value',
  'drill',
  'payload',
] as const satisfies readonly (keyof EventRow)[];

/** The ledger's statements on the alarm path, compiled once per start() (prepared-query.ts). */
interface RecordQueries {
  /** Creates the alarm unless its identity exists (returns its id only when it created it). */
  create: PreparedQuery<{ alarm_id: string }>;
  /** The alarm by identity, row-locked on PostgreSQL until the transaction ends. */
  lock: PreparedQuery<AlarmRow>;
  get: PreparedQuery<AlarmRow>;
  update: PreparedQuery<unknown>;
  /** Appends a transition unless the same (identity, transition, seq) is already there. */
  append: PreparedQuery<unknown>;
}

function prepareQueries(db: Kysely<PlatformSchema>, postgres: boolean): RecordQueries {
  const byIdentity = db
    .selectFrom('alarms')
    .selectAll()
    .where('enterprise_id', '=', slot<string>('enterprise_id'))
    .where('gateway_id', '=', slot<string>('gateway_id'))
    .where('alarm_id', '=', slot<string>('alarm_id'));
  return {
    create: prepare(
      db
        .insertInto('alarms')
        .values(slots<AlarmRow>(ALARM_COLUMNS))
        .onConflict((oc) => oc.columns(['enterprise_id', 'gateway_id', 'alarm_id']).doNothing())
        .returning('alarm_id'),
      'create alarm',
    ),
    // SQLite has no FOR UPDATE and needs none: its one writer already serialises transactions.
    lock: prepare(postgres ? byIdentity.forUpdate() : byIdentity, 'lock alarm'),
    get: prepare(byIdentity, 'get alarm'),
    update: prepare(
      db
        .updateTable('alarms')
        .set(slots<Pick<AlarmRow, (typeof MUTABLE_COLUMNS)[number]>>(MUTABLE_COLUMNS))
        .where('enterprise_id', '=', slot<string>('enterprise_id'))
        .where('gateway_id', '=', slot<string>('gateway_id'))
        .where('alarm_id', '=', slot<string>('alarm_id')),
      'update alarm',
    ),
    append: prepare(
      db
        .insertInto('alarm_events')
        .values(slots<EventRow>(EVENT_COLUMNS))
        .onConflict((oc) =>
          oc.columns(['enterprise_id', 'gateway_id', 'alarm_id', 'transition', 'seq']).doNothing(),
        ),
      'append alarm event',
    ),
  };
}

function identityOf(event: AlarmKey): Pick<AlarmRow, 'enterprise_id' | 'gateway_id' | 'alarm_id'> {
  return {
    enterprise_id: event.enterpriseId,
    gateway_id: event.gatewayId,
    alarm_id: event.alarmId,
  };
}

function eventRow(event: AlarmEvent, receivedAt: number, received: AlarmEvent): EventRow {
  return {
    alarm_id: event.alarmId,
    transition: event.transition,
    gateway_id: event.gatewayId,
    enterprise_id: event.enterpriseId,
    seq: event.seq,
    ts: event.ts,
    sent_at: event.sentAt,
    received_at: receivedAt,
    level: event.level,
    value: event.value,
    drill: event.drill ? 1 : 0,
    payload: JSON.stringify(received), // as received, also when recorded under a derived id
  };
}

/** Orders and compares ids in byte order on both engines (see the module comment). */
function byteOrder(database: Database, column: 'enterprise_id' | 'gateway_id' | 'alarm_id') {
  return database.kind === 'postgres' ? sql`${sql.ref(column)} COLLATE "C"` : sql.ref(column);
}

const AT: RawBuilder<number> = sql<number>`COALESCE(raised_at, cleared_at)`;

/**
 * Lifecycle: `start()` prepares the ledger's statements on the database, which its owner has
 * started (and so migrated) before; `stop()` drops them and is safe to call twice; neither
 * opens, migrates or closes the database. `record()` commits before it resolves; every method
 * rejects when the ledger is not started.
 */
export class AlarmLedger {
  private queries: RecordQueries | null = null;
  private readonly clock: Clock;

  constructor(private readonly options: AlarmLedgerOptions) {
    this.clock = options.clock ?? systemClock;
  }

  async start(): Promise<void> {
    if (this.queries) return;
    const { database } = this.options;
    if (!database.started) {
      throw new Error(`alarm ledger: database '${database.where}' must be started first`);
    }
    this.queries = prepareQueries(database.db, database.kind === 'postgres');
  }

  async stop(): Promise<void> {
    this.queries = null;
  }

  /**
   * Records one transition, durably and idempotently (see the module comment), in one
   * transaction that has committed when this resolves. The identity is the event's
   * (enterpriseId, gatewayId, alarmId), which ingest has checked against the topic.
   */
  async record(event: AlarmEvent): Promise<RecordResult> {
    const queries = this.requireQueries();
    const receivedAt = this.clock.now();
    const { database } = this.options;
    let transaction = database.db.transaction();
    // The race handling relies on each statement seeing what others committed before it
    // (PostgreSQL's default level, pinned here against another server default).
    if (database.kind === 'postgres') transaction = transaction.setIsolationLevel('read committed');
    const result = await transaction.execute((trx) => recordIn(trx, queries, event, receivedAt));
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
  async list(query: ListQuery = {}): Promise<AlarmRecord[]> {
    const database = this.requireDatabase();
    const limit = query.limit ?? ALARM_LEDGER_DEFAULTS.listLimit;
    if (query.enterpriseIds !== undefined && query.enterpriseIds.length === 0) return [];
    let select = database.db.selectFrom('alarms').selectAll();
    if (query.state === 'active') select = select.where('state', '=', 'active');
    if (query.enterpriseIds !== undefined) {
      select = select.where('enterprise_id', 'in', [...query.enterpriseIds]);
    }
    const rows = await select
      .orderBy(AT, 'desc')
      .orderBy(byteOrder(database, 'enterprise_id'))
      .orderBy(byteOrder(database, 'gateway_id'))
      .orderBy(byteOrder(database, 'alarm_id'))
      .limit(limit)
      .execute();
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
  async listBetween(query: TimeRangeQuery): Promise<AlarmPage> {
    const database = this.requireDatabase();
    const limit = query.limit ?? ALARM_LEDGER_DEFAULTS.pageLimit;
    if (!(Number.isInteger(limit) && limit >= 1 && limit <= ALARM_LEDGER_DEFAULTS.maxPageLimit)) {
      throw new Error(
        `listBetween limit must be an integer from 1 to ${ALARM_LEDGER_DEFAULTS.maxPageLimit} (got ${limit})`,
      );
    }
    if (query.enterpriseIds !== undefined && query.enterpriseIds.length === 0) {
      return { alarms: [], next: null };
    }
    const e = byteOrder(database, 'enterprise_id');
    const g = byteOrder(database, 'gateway_id');
    const a = byteOrder(database, 'alarm_id');
    let select = database.db
      .selectFrom('alarms')
      .selectAll()
      .where(sql<boolean>`${AT} BETWEEN ${query.from} AND ${query.to}`);
    if (query.enterpriseIds !== undefined) {
      select = select.where('enterprise_id', 'in', [...query.enterpriseIds]);
    }
    const c = query.after;
    if (c) {
      select = select.where(
        sql<boolean>`(${AT}, ${e}, ${g}, ${a}) > (${c.at}, ${c.enterpriseId}, ${c.gatewayId}, ${c.alarmId})`,
      );
    }
    const rows = await select
      .orderBy(AT)
      .orderBy(e)
      .orderBy(g)
      .orderBy(a)
      .limit(limit + 1)
      .execute();
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
  async activeSummary(): Promise<ActiveSummary[]> {
    const rows = await this.requireDatabase()
      .db.selectFrom('alarms')
      .select((eb) => ['enterprise_id', 'level', 'drill', eb.fn.countAll<number>().as('n')])
      .where('state', '=', 'active')
      .groupBy(['enterprise_id', 'level', 'drill'])
      .execute();
    const byEnterprise = new Map<string, ActiveSummary>();
    for (const row of rows) {
      let summary = byEnterprise.get(row.enterprise_id);
      if (!summary) {
        summary = { enterpriseId: row.enterprise_id, level1: 0, level2: 0, drills: 0 };
        byEnterprise.set(row.enterprise_id, summary);
      }
      const n = Number(row.n);
      if (row.drill !== 0) summary.drills += n;
      else if (row.level === 2) summary.level2 += n;
      else summary.level1 += n;
    }
    return [...byEnterprise.values()];
  }

  async get(key: AlarmKey): Promise<AlarmRecord | undefined> {
    const queries = this.requireQueries();
    const { rows } = await this.options.database.db.executeQuery(queries.get.bind(identityOf(key)));
    return rows[0] ? fromRow(rows[0]) : undefined;
  }

  /** Number of active alarms (for health and summaries). */
  async activeCount(): Promise<number> {
    const row = await this.requireDatabase()
      .db.selectFrom('alarms')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('state', '=', 'active')
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  private requireQueries(): RecordQueries {
    if (!this.queries) throw new Error('alarm ledger is not started');
    return this.queries;
  }

  private requireDatabase(): Database {
    this.requireQueries();
    return this.options.database;
  }
}

/**
 * The body of record()'s transaction. Runs only its own statements (the SQLite rule in
 * server/db/database.ts). A new raise costs two statements (create, append), the clear of a
 * known alarm three (lock, append, update); a redelivery writes nothing.
 */
async function recordIn(
  trx: Kysely<PlatformSchema>,
  queries: RecordQueries,
  received: AlarmEvent,
  receivedAt: number,
): Promise<RecordResult> {
  // Lifecycle and operator transitions (acknowledged, shelved, returned, ...) are history of an
  // occurrence, not occurrences: kept in alarm_events only, so they can neither create a phantom
  // alarm (a shelve names the alarm point, not an occurrence) nor stand in for a raise that has
  // not arrived yet. They only read the alarm (rule and sensor of a row never change).
  const occurrence = received.transition === 'raised' || received.transition === 'cleared';

  /** The alarm `event` addresses, created from it when it is an occurrence heard first. */
  const find = async (
    event: AlarmEvent,
  ): Promise<{ row: AlarmRow | undefined; isNew: boolean }> => {
    if (!occurrence) {
      const { rows } = await trx.executeQuery(queries.get.bind(identityOf(event)));
      return { row: rows[0], isNew: false };
    }
    const identity = identityOf(event);
    if (event.transition === 'cleared') {
      // A clear mostly finds its raise: lock first, create only when there is none.
      const { rows } = await trx.executeQuery(queries.lock.bind(identity));
      if (rows[0]) return { row: rows[0], isNew: false };
    }
    const row = toRow(fromEvent(event, receivedAt));
    const created = await trx.executeQuery(queries.create.bind(row));
    if (created.rows.length > 0) return { row, isNew: true };
    // Known (or just created by another node, whose commit the insert waited for): lock it.
    const { rows } = await trx.executeQuery(queries.lock.bind(identity));
    if (!rows[0]) {
      throw new Error(`alarm ledger: ${describeAlarm(event)} neither created nor found`);
    }
    return { row: rows[0], isNew: false };
  };

  let event = received;
  let { row, isNew } = await find(event);
  let conflict: AlarmConflict | undefined;
  if (row && (row.rule_id !== event.ruleId || row.sensor_id !== event.sensorId)) {
    // Same identity, another alarm: keep both, never refuse the newcomer (issue 13).
    const recordedAs = `${event.alarmId}~${event.ruleId}~${event.sensorId}`;
    conflict = {
      key: { enterpriseId: event.enterpriseId, gatewayId: event.gatewayId, alarmId: event.alarmId },
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
    ({ row, isNew } = await find(event));
  }
  await trx.executeQuery(queries.append.bind(eventRow(event, receivedAt, received)));
  const result = await applyOccurrence(trx, queries, event, row, isNew, receivedAt);
  return conflict ? { ...result, conflict } : result;
}

/** The alarm row after `event` (already appended to its history), written when it changed. */
async function applyOccurrence(
  trx: Kysely<PlatformSchema>,
  queries: RecordQueries,
  event: AlarmEvent,
  row: AlarmRow | undefined,
  isNew: boolean,
  receivedAt: number,
): Promise<RecordResult> {
  if (event.transition !== 'raised' && event.transition !== 'cleared') {
    const alarm = row ? fromRow(row) : { ...fromEvent(event, receivedAt), clearedAt: null };
    return { isNew: false, changed: false, alarm };
  }
  if (!row)
    throw new Error(
      `alarm ledger: ${describeAlarm(event)} has no row after its ${event.transition}`,
    );
  if (isNew) return { isNew: true, changed: true, alarm: fromRow(row) };
  const known = fromRow(row);
  const next = applyTransition(known, event);
  if (!next) return { isNew: false, changed: false, alarm: known };
  await trx.executeQuery(queries.update.bind(toRow(next)));
  if (event.transition === 'raised') {
    log.info({ alarm: describeAlarm(event) }, 'alarm raise arrived after its clear; kept cleared');
  }
  return { isNew: false, changed: true, alarm: next };
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
