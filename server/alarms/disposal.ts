/**
 * Alarm disposal ledger: the closed loop per alarm (collect → push → feedback, as provincial
 * access rules put it): raised, cleared, acknowledged, assigned, disposal measures recorded,
 * escalated, closed with a note.
 *
 * Every step is one row of `disposal_events`, append-only (triggers refuse UPDATE and DELETE) and
 * tamper-evident: each row stores hash = sha256(prev_hash ‖ canonical JSON of the row), the first
 * row chaining from 64 zeros. {@link DisposalLedger.verify} recomputes the chain; a row changed,
 * removed or inserted out of turn (e.g. with the triggers dropped) breaks it at that row.
 * `alarm_dispositions` is the current state per alarm, a projection of the events kept in the
 * same transaction so lists do not replay the chain.
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../../common/clock.js';
import { systemClock } from '../../common/clock.js';
import { type OpenOptions, openWithSchema, type SqliteDatabase } from '../store/sqlite.js';
import type { AlarmRecord } from './ledger.js';

export const GENESIS_HASH = '0'.repeat(64);

export type DisposalAction =
  | 'raised'
  | 'cleared'
  | 'acknowledged'
  | 'assigned'
  | 'measure'
  | 'escalated'
  | 'closed';

export type DisposalStatus = 'open' | 'acknowledged' | 'closed';

/** Escalation levels: 0 the enterprise itself, then county, city, province. */
export const ESCALATION_LEVELS = ['enterprise', 'county', 'city', 'province'] as const;
export type EscalationLevelName = (typeof ESCALATION_LEVELS)[number];

export interface DisposalEvent {
  seq: number;
  alarmId: string;
  enterpriseId: string;
  action: DisposalAction;
  /** Username, or 'system' for gateway transitions and escalations. */
  actor: string;
  detail: Record<string, unknown>;
  at: number;
  prevHash: string;
  hash: string;
}

export interface Disposition {
  alarmId: string;
  enterpriseId: string;
  level: 1 | 2;
  drill: boolean;
  status: DisposalStatus;
  /**
   * When the server first heard of the alarm (server clock, epoch ms). Deadlines count from here,
   * not from the edge time: nobody can acknowledge an alarm before the platform has it, and a
   * gateway with a wrong clock or a long outbox backlog must not escalate it on arrival.
   */
  openedAt: number;
  acknowledgedAt: number | null;
  acknowledgedBy: string | null;
  assignee: string | null;
  measures: number;
  closedAt: number | null;
  closedBy: string | null;
  /** 0 enterprise, 1 county, 2 city, 3 province. */
  escalationLevel: number;
}

/** A disposal step refused because of the alarm's state (HTTP 409 in the API). */
export class DisposalStateError extends Error {
  constructor(alarmId: string, action: string, status: string) {
    super(`alarm '${alarmId}' cannot be ${action} while ${status}`);
    this.name = 'DisposalStateError';
  }
}

export interface VerifyResult {
  ok: boolean;
  rows: number;
  /** seq of the first row whose hash does not match, when !ok. */
  brokenAt: number | null;
  reason: string | null;
}

export interface DisposalLedgerOptions extends OpenOptions {
  path: string;
  clock?: Clock;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS disposal_events (
  seq           INTEGER PRIMARY KEY AUTOINCREMENT,
  alarm_id      TEXT NOT NULL,
  enterprise_id TEXT NOT NULL,
  action        TEXT NOT NULL,
  actor         TEXT NOT NULL,
  detail        TEXT NOT NULL,
  at            INTEGER NOT NULL,
  prev_hash     TEXT NOT NULL,
  hash          TEXT NOT NULL UNIQUE
);
CREATE INDEX IF NOT EXISTS disposal_events_alarm ON disposal_events (alarm_id, seq);
CREATE TRIGGER IF NOT EXISTS disposal_events_no_update BEFORE UPDATE ON disposal_events
  BEGIN SELECT RAISE(ABORT, 'disposal_events is append-only'); END;
CREATE TRIGGER IF NOT EXISTS disposal_events_no_delete BEFORE DELETE ON disposal_events
  BEGIN SELECT RAISE(ABORT, 'disposal_events is append-only'); END;
CREATE TABLE IF NOT EXISTS alarm_dispositions (
  alarm_id         TEXT PRIMARY KEY,
  enterprise_id    TEXT NOT NULL,
  level            INTEGER NOT NULL,
  drill            INTEGER NOT NULL,
  status           TEXT NOT NULL,
  opened_at        INTEGER NOT NULL,
  acknowledged_at  INTEGER,
  acknowledged_by  TEXT,
  assignee         TEXT,
  measures         INTEGER NOT NULL DEFAULT 0,
  closed_at        INTEGER,
  closed_by        TEXT,
  escalation_level INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS alarm_dispositions_open ON alarm_dispositions (status);
`;

interface EventRow {
  seq: number;
  alarm_id: string;
  enterprise_id: string;
  action: DisposalAction;
  actor: string;
  detail: string;
  at: number;
  prev_hash: string;
  hash: string;
}

interface DispositionRow {
  alarm_id: string;
  enterprise_id: string;
  level: number;
  drill: number;
  status: DisposalStatus;
  opened_at: number;
  acknowledged_at: number | null;
  acknowledged_by: string | null;
  assignee: string | null;
  measures: number;
  closed_at: number | null;
  closed_by: string | null;
  escalation_level: number;
}

/** JSON with keys sorted at every depth: the same event always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** hash of one row: sha256(prev_hash ‖ canonical JSON of everything but the hashes). */
export function chainHash(
  prevHash: string,
  event: Omit<DisposalEvent, 'prevHash' | 'hash'>,
): string {
  const canonical = canonicalJson({
    seq: event.seq,
    alarmId: event.alarmId,
    enterpriseId: event.enterpriseId,
    action: event.action,
    actor: event.actor,
    detail: event.detail,
    at: event.at,
  });
  return createHash('sha256').update(prevHash).update(canonical).digest('hex');
}

function eventFromRow(row: EventRow): DisposalEvent {
  return {
    seq: row.seq,
    alarmId: row.alarm_id,
    enterpriseId: row.enterprise_id,
    action: row.action,
    actor: row.actor,
    detail: JSON.parse(row.detail) as Record<string, unknown>,
    at: row.at,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

function dispositionFromRow(row: DispositionRow): Disposition {
  return {
    alarmId: row.alarm_id,
    enterpriseId: row.enterprise_id,
    level: row.level === 2 ? 2 : 1,
    drill: row.drill !== 0,
    status: row.status,
    openedAt: row.opened_at,
    acknowledgedAt: row.acknowledged_at,
    acknowledgedBy: row.acknowledged_by,
    assignee: row.assignee,
    measures: row.measures,
    closedAt: row.closed_at,
    closedBy: row.closed_by,
    escalationLevel: row.escalation_level,
  };
}

/**
 * Lifecycle: `start()` opens and migrates the tables; `stop()` closes them (safe twice). Every
 * write is one SQLite transaction (event row + projection), committed before the method returns.
 */
export class DisposalLedger {
  private db: SqliteDatabase | null = null;
  private readonly clock: Clock;

  constructor(private readonly options: DisposalLedgerOptions) {
    this.clock = options.clock ?? systemClock;
  }

  async start(): Promise<void> {
    if (this.db) return;
    const db = openWithSchema(
      this.options.path,
      this.options,
      SCHEMA,
      `disposal ledger '${this.options.path}'`,
    );
    this.db = db;
  }

  async stop(): Promise<void> {
    const db = this.db;
    this.db = null;
    if (db?.open) db.close();
  }

  /**
   * Follows the gateway's transitions: the first sight of an alarm opens its disposition
   * ('raised' row); its clear adds a 'cleared' row. Idempotent: repeats add nothing.
   * Returns the rows appended.
   */
  track(alarm: AlarmRecord): DisposalEvent[] {
    const db = this.requireDb();
    return db.transaction(() => {
      const appended: DisposalEvent[] = [];
      let disposition = this.dispositionRow(alarm.alarmId);
      if (!disposition) {
        db.prepare(
          `INSERT INTO alarm_dispositions (alarm_id, enterprise_id, level, drill, status, opened_at)
           VALUES (?, ?, ?, ?, 'open', ?)`,
        ).run(
          alarm.alarmId,
          alarm.enterpriseId,
          alarm.level,
          alarm.drill ? 1 : 0,
          alarm.receivedAt,
        );
        appended.push(
          this.append(alarm.alarmId, alarm.enterpriseId, 'raised', 'system', {
            level: alarm.level,
            sensorId: alarm.sensorId,
            value: alarm.value,
            unit: alarm.unit,
            drill: alarm.drill,
            raisedAt: alarm.raisedAt,
          }),
        );
        disposition = this.dispositionRow(alarm.alarmId);
      }
      if (alarm.state === 'cleared' && !this.hasAction(alarm.alarmId, 'cleared')) {
        appended.push(
          this.append(alarm.alarmId, alarm.enterpriseId, 'cleared', 'system', {
            clearedAt: alarm.clearedAt,
          }),
        );
      }
      return appended;
    })();
  }

  acknowledge(alarmId: string, actor: string, note?: string): Disposition {
    return this.step(alarmId, 'acknowledged', (d) => {
      if (d.status !== 'open') throw new DisposalStateError(alarmId, 'acknowledged', d.status);
      const now = this.clock.now();
      this.requireDb()
        .prepare(
          `UPDATE alarm_dispositions SET status = 'acknowledged', acknowledged_at = ?, acknowledged_by = ?
           WHERE alarm_id = ?`,
        )
        .run(now, actor, alarmId);
      return { actor, detail: note ? { note } : {} };
    });
  }

  assign(alarmId: string, actor: string, assignee: string): Disposition {
    return this.step(alarmId, 'assigned', (d) => {
      if (d.status === 'closed') throw new DisposalStateError(alarmId, 'assigned', d.status);
      this.requireDb()
        .prepare('UPDATE alarm_dispositions SET assignee = ? WHERE alarm_id = ?')
        .run(assignee, alarmId);
      return { actor, detail: { assignee } };
    });
  }

  recordMeasure(alarmId: string, actor: string, measure: string): Disposition {
    return this.step(alarmId, 'measure', (d) => {
      if (d.status === 'closed') throw new DisposalStateError(alarmId, 'given measures', d.status);
      this.requireDb()
        .prepare('UPDATE alarm_dispositions SET measures = measures + 1 WHERE alarm_id = ?')
        .run(alarmId);
      return { actor, detail: { measure } };
    });
  }

  /** Closes the loop; only after acknowledgement, with a note saying how it was resolved. */
  close(alarmId: string, actor: string, note: string): Disposition {
    return this.step(alarmId, 'closed', (d) => {
      if (d.status !== 'acknowledged') throw new DisposalStateError(alarmId, 'closed', d.status);
      this.requireDb()
        .prepare(
          `UPDATE alarm_dispositions SET status = 'closed', closed_at = ?, closed_by = ? WHERE alarm_id = ?`,
        )
        .run(this.clock.now(), actor, alarmId);
      return { actor, detail: { note } };
    });
  }

  /**
   * Raises the escalation level to `level` (1 county, 2 city, 3 province), one row per level
   * passed; a level already reached is never recorded again. Returns the rows appended.
   */
  escalate(
    alarmId: string,
    level: number,
    reason: 'not acknowledged' | 'not disposed',
  ): DisposalEvent[] {
    const db = this.requireDb();
    return db.transaction(() => {
      const d = this.dispositionRow(alarmId);
      if (!d || d.status === 'closed') return [];
      const appended: DisposalEvent[] = [];
      const top = Math.min(level, ESCALATION_LEVELS.length - 1);
      for (let next = d.escalation_level + 1; next <= top; next++) {
        appended.push(
          this.append(alarmId, d.enterprise_id, 'escalated', 'system', {
            level: next,
            to: ESCALATION_LEVELS[next],
            reason,
          }),
        );
      }
      if (appended.length > 0) {
        db.prepare('UPDATE alarm_dispositions SET escalation_level = ? WHERE alarm_id = ?').run(
          top,
          alarmId,
        );
      }
      return appended;
    })();
  }

  disposition(alarmId: string): Disposition | undefined {
    const row = this.dispositionRow(alarmId);
    return row ? dispositionFromRow(row) : undefined;
  }

  /** Dispositions not closed, oldest raise first (drills included; callers filter). */
  unclosed(): Disposition[] {
    return this.requireDb()
      .prepare<[], DispositionRow>(
        "SELECT * FROM alarm_dispositions WHERE status != 'closed' ORDER BY opened_at, alarm_id",
      )
      .all()
      .map(dispositionFromRow);
  }

  /** One alarm's steps, oldest first. */
  events(alarmId: string): DisposalEvent[] {
    return this.requireDb()
      .prepare<[string], EventRow>('SELECT * FROM disposal_events WHERE alarm_id = ? ORDER BY seq')
      .all(alarmId)
      .map(eventFromRow);
  }

  /** Every row in chain order, optionally only these enterprises' (for a scoped export). */
  *allEvents(enterpriseIds?: ReadonlySet<string>): Generator<DisposalEvent> {
    const rows = this.requireDb()
      .prepare<[], EventRow>('SELECT * FROM disposal_events ORDER BY seq')
      .iterate();
    for (const row of rows) {
      if (enterpriseIds && !enterpriseIds.has(row.enterprise_id)) continue;
      yield eventFromRow(row);
    }
  }

  /** Recomputes the whole chain. */
  verify(): VerifyResult {
    let prev = GENESIS_HASH;
    let rows = 0;
    for (const event of this.allEvents()) {
      rows++;
      if (event.prevHash !== prev) {
        return {
          ok: false,
          rows,
          brokenAt: event.seq,
          reason: 'prev_hash does not match the row before',
        };
      }
      if (chainHash(prev, event) !== event.hash) {
        return {
          ok: false,
          rows,
          brokenAt: event.seq,
          reason: 'hash does not match the row content',
        };
      }
      prev = event.hash;
    }
    return { ok: true, rows, brokenAt: null, reason: null };
  }

  private step(
    alarmId: string,
    action: DisposalAction,
    apply: (d: Disposition) => { actor: string; detail: Record<string, unknown> },
  ): Disposition {
    const db = this.requireDb();
    return db.transaction(() => {
      const row = this.dispositionRow(alarmId);
      if (!row) throw new Error(`alarm '${alarmId}' is not in the disposal ledger`);
      const { actor, detail } = apply(dispositionFromRow(row));
      this.append(alarmId, row.enterprise_id, action, actor, detail);
      return dispositionFromRow(this.dispositionRow(alarmId)!);
    })();
  }

  private append(
    alarmId: string,
    enterpriseId: string,
    action: DisposalAction,
    actor: string,
    detail: Record<string, unknown>,
  ): DisposalEvent {
    const db = this.requireDb();
    const last = db
      .prepare<[], { seq: number; hash: string }>(
        'SELECT seq, hash FROM disposal_events ORDER BY seq DESC LIMIT 1',
      )
      .get();
    const prevHash = last?.hash ?? GENESIS_HASH;
    const seq = (last?.seq ?? 0) + 1;
    const at = this.clock.now();
    // Round-trip the detail through JSON so the hashed form is the stored form.
    const stored = JSON.parse(JSON.stringify(detail)) as Record<string, unknown>;
    const event = { seq, alarmId, enterpriseId, action, actor, detail: stored, at };
    const hash = chainHash(prevHash, event);
    db.prepare(
      `INSERT INTO disposal_events (seq, alarm_id, enterprise_id, action, actor, detail, at, prev_hash, hash)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(seq, alarmId, enterpriseId, action, actor, JSON.stringify(stored), at, prevHash, hash);
    return { ...event, prevHash, hash };
  }

  private dispositionRow(alarmId: string): DispositionRow | undefined {
    return this.requireDb()
      .prepare<[string], DispositionRow>('SELECT * FROM alarm_dispositions WHERE alarm_id = ?')
      .get(alarmId);
  }

  private hasAction(alarmId: string, action: DisposalAction): boolean {
    return (
      this.requireDb()
        .prepare<[string, string], number>(
          'SELECT 1 FROM disposal_events WHERE alarm_id = ? AND action = ? LIMIT 1',
        )
        .pluck()
        .get(alarmId, action) !== undefined
    );
  }

  private requireDb(): SqliteDatabase {
    if (!this.db) throw new Error('disposal ledger is not started');
    return this.db;
  }
}

const CSV_COLUMNS = [
  'seq',
  'alarmId',
  'enterpriseId',
  'action',
  'actor',
  'detail',
  'at',
  'prevHash',
  'hash',
] as const;

/** RFC 4180 field; a leading = + - @ is prefixed with ' so spreadsheets do not run it as a formula. */
function csvField(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** CSV (header + one line per row, CRLF) of the given events; `at` as ISO 8601. */
export function* disposalCsv(events: Iterable<DisposalEvent>): Generator<string> {
  yield `${CSV_COLUMNS.join(',')}\r\n`;
  for (const e of events) {
    const fields = [
      String(e.seq),
      e.alarmId,
      e.enterpriseId,
      e.action,
      e.actor,
      canonicalJson(e.detail),
      new Date(e.at).toISOString(),
      e.prevHash,
      e.hash,
    ];
    yield `${fields.map(csvField).join(',')}\r\n`;
  }
}
