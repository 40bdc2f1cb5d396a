/**
 * The supervision store: the hazard ledger (keyed chain + projection), the screening conditions
 * that hold, the history of grade changes and the gateway outages. One class, so a later
 * database layer swaps one implementation; the methods are synchronous today (better-sqlite3)
 * and take and return plain data, so they can become async without changing their shape.
 *
 * Lifecycle: `start()` opens the tables through the shared helper (server/store/sqlite.ts) and
 * migrates them (component 'hazard-ledger'); `stop()` closes (safe twice). Every write is one
 * transaction: a chain row and its projection commit together, before the method returns.
 */
import type { Clock } from '../../common/clock.js';
import { systemClock } from '../../common/clock.js';
import type { ChainHead, VerifyResult } from '../alarms/disposal.js';
import { GENESIS_HASH } from '../alarms/disposal-chain.js';
import { migrateComponent } from '../alarms/schema-version.js';
import { type OpenOptions, openWithSchema, type SqliteDatabase } from '../store/sqlite.js';
import {
  applyHazardEvent,
  type Hazard,
  type HazardAction,
  type HazardEvent,
  HazardProjectionError,
  type HazardRow,
  hazardHash,
} from './hazard-chain.js';
import {
  type EventRow,
  type GradeRow,
  type LifecycleRow,
  type OutageRow,
  SCHEMA,
  SQL,
  SUPERVISION_SCHEMA_VERSION,
} from './sql.js';

export const STORE_DEFAULTS = {
  maxProblems: 20, // projection differences listed by verify
  lifecycleBatch: 5_000, // alarm lifecycle rows read per call
} as const;

export interface SupervisionStoreOptions extends OpenOptions {
  path: string;
  /** HMAC key of the chain: the disposal ledger's key (server/alarms/ledger-key.ts). */
  key: Buffer;
  clock?: Clock;
}

export interface AppendInput {
  hazardId: string;
  enterpriseId: string;
  installationId: string | null;
  action: HazardAction;
  actor: string;
  detail: Record<string, unknown>;
}

export interface GradeChangeRecord {
  installationId: string;
  enterpriseId: string;
  at: number;
  sumRatio: number;
  r: number;
  isMajorHazard: boolean;
  grade: number | null;
  previousGrade: number | null;
  inventory: { chemical: string; quantityT: number }[];
}

export interface OutageRecord {
  enterpriseId: string;
  gatewayId: string;
  startedAt: number;
  endedAt: number | null;
  points: number;
}

export interface LifecycleTransition {
  cursor: number;
  enterpriseId: string;
  gatewayId: string;
  sensorId: string;
  transition: string;
  at: number;
}

const hazardOf = (record: string) => JSON.parse(record) as Hazard;

function eventFromRow(row: EventRow): HazardEvent {
  return {
    seq: row.seq,
    enterpriseId: row.enterprise_id,
    installationId: row.installation_id,
    hazardId: row.hazard_id,
    action: row.action as HazardAction,
    actor: row.actor,
    detail: JSON.parse(row.detail) as Record<string, unknown>,
    at: row.at,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

function gradeFromRow(row: GradeRow): GradeChangeRecord {
  return {
    installationId: row.installation_id,
    enterpriseId: row.enterprise_id,
    at: row.at,
    sumRatio: row.sum_ratio,
    r: row.r,
    isMajorHazard: row.is_major !== 0,
    grade: row.grade,
    previousGrade: row.previous_grade,
    inventory: JSON.parse(row.inventory) as GradeChangeRecord['inventory'],
  };
}

export class SupervisionStore {
  private db: SqliteDatabase | null = null;
  private readonly clock: Clock;

  constructor(private readonly options: SupervisionStoreOptions) {
    this.clock = options.clock ?? systemClock;
  }

  async start(): Promise<void> {
    if (this.db) return;
    const what = `supervision store '${this.options.path}'`;
    this.db = openWithSchema(
      this.options.path,
      this.options,
      (db) =>
        migrateComponent(db, {
          component: 'hazard-ledger',
          version: SUPERVISION_SCHEMA_VERSION,
          existingTable: 'hazard_events',
          create: (d) => d.exec(SCHEMA),
          steps: {},
          what,
        }),
      what,
    );
  }

  async stop(): Promise<void> {
    const db = this.db;
    this.db = null;
    if (db?.open) db.close();
  }

  get isOpen(): boolean {
    return this.db !== null;
  }

  /** Runs `fn` in one transaction (several steps that must commit together). */
  transaction<T>(fn: () => T): T {
    return this.requireDb().transaction(fn)();
  }

  /** The next hazard id (from the chain's next seq: unique, readable, never reused). */
  nextHazardId(): string {
    const head = this.head();
    return `HZ-${String((head?.seq ?? 0) + 1).padStart(6, '0')}`;
  }

  /**
   * Appends one chain row and writes the projection, in one transaction; `check` sees the
   * record before the step (undefined before 'opened') and throws to refuse it.
   */
  append(input: AppendInput, check?: (current: Hazard | undefined) => void): Hazard {
    const db = this.requireDb();
    return db.transaction(() => {
      const current = this.hazard(input.hazardId);
      check?.(current);
      const last = db.prepare<[], ChainHead>(SQL.head).get();
      const prevHash = last?.hash ?? GENESIS_HASH;
      // Round-trip the detail through JSON so the hashed form is the stored form.
      const detail = JSON.parse(JSON.stringify(input.detail)) as Record<string, unknown>;
      const row: HazardRow = {
        seq: (last?.seq ?? 0) + 1,
        enterpriseId: input.enterpriseId,
        installationId: input.installationId,
        hazardId: input.hazardId,
        action: input.action,
        actor: input.actor,
        detail,
        at: this.clock.now(),
      };
      const hash = hazardHash(this.options.key, prevHash, row);
      db.prepare(SQL.insertEvent).run(
        row.seq,
        row.enterpriseId,
        row.installationId,
        row.hazardId,
        row.action,
        row.actor,
        JSON.stringify(detail),
        row.at,
        prevHash,
        hash,
      );
      const next = applyHazardEvent(current, row);
      this.writeHazard(next);
      return next;
    })();
  }

  hazard(hazardId: string): Hazard | undefined {
    const record = this.requireDb().prepare<[string], string>(SQL.hazard).pluck().get(hazardId);
    return record === undefined ? undefined : hazardOf(record);
  }

  /** The record screening keeps for (rule, subject) while it is not closed. */
  unclosedFor(ruleId: string, subject: string): Hazard | undefined {
    const record = this.requireDb()
      .prepare<[string, string], string>(SQL.unclosedBySubject)
      .pluck()
      .get(ruleId, subject);
    return record === undefined ? undefined : hazardOf(record);
  }

  unclosed(): Hazard[] {
    return this.requireDb().prepare<[], string>(SQL.unclosed).pluck().all().map(hazardOf);
  }

  /** Every record, newest first; filtered by enterprise when a set is given. */
  hazards(enterpriseIds?: ReadonlySet<string>): Hazard[] {
    const all = this.requireDb().prepare<[], string>(SQL.allHazards).pluck().all().map(hazardOf);
    return enterpriseIds ? all.filter((h) => enterpriseIds.has(h.enterpriseId)) : all;
  }

  events(hazardId: string): HazardEvent[] {
    return this.requireDb().prepare<[string], EventRow>(SQL.events).all(hazardId).map(eventFromRow);
  }

  *allEvents(enterpriseIds?: ReadonlySet<string>): Generator<HazardEvent> {
    for (const row of this.requireDb().prepare<[], EventRow>(SQL.allEvents).iterate()) {
      if (enterpriseIds && !enterpriseIds.has(row.enterprise_id)) continue;
      yield eventFromRow(row);
    }
  }

  head(): ChainHead | null {
    return this.requireDb().prepare<[], ChainHead>(SQL.head).get() ?? null;
  }

  hashAt(seq: number): string | undefined {
    return this.requireDb().prepare<[number], string>(SQL.hashAt).pluck().get(seq);
  }

  /**
   * The chain (contiguous seqs, links, MACs), replayed into records and compared with the
   * `hazards` table; the same result shape as the disposal ledger's, so `verifyLedger` adds the
   * anchors on top (server/alarms/ledger-integrity.ts).
   */
  verify(): VerifyResult {
    let prev = GENESIS_HASH;
    let rows = 0;
    let head: ChainHead | null = null;
    const projected = new Map<string, Hazard>();
    const broken = (seq: number, reason: string): VerifyResult => ({
      ok: false,
      rows,
      brokenAt: seq,
      reason,
      projection: { differences: 0, problems: [] },
      head,
    });
    for (const event of this.allEvents()) {
      rows++;
      head = { seq: event.seq, hash: event.hash };
      if (event.seq !== rows) return broken(rows, `row ${rows} is missing (next is ${event.seq})`);
      if (event.prevHash !== prev)
        return broken(event.seq, 'prev_hash does not match the row before');
      if (hazardHash(this.options.key, prev, event) !== event.hash) {
        return broken(event.seq, 'hash does not match the row content (or another key made it)');
      }
      prev = event.hash;
      try {
        projected.set(event.hazardId, applyHazardEvent(projected.get(event.hazardId), event));
      } catch (err) {
        if (err instanceof HazardProjectionError) return broken(event.seq, err.message);
        throw err;
      }
    }
    const problems: { hazardId: string; text: string }[] = [];
    const seen = new Set<string>();
    const table = this.requireDb()
      .prepare<[], { hazard_id: string; record: string }>(SQL.allHazardRows)
      .all();
    for (const row of table) {
      seen.add(row.hazard_id);
      const chain = projected.get(row.hazard_id);
      if (!chain) {
        problems.push({ hazardId: row.hazard_id, text: `${row.hazard_id}: not in the chain` });
      } else if (JSON.stringify(chain) !== JSON.stringify(hazardOf(row.record))) {
        problems.push({
          hazardId: row.hazard_id,
          text: `${row.hazard_id}: differs from the chain`,
        });
      }
    }
    for (const hazardId of projected.keys()) {
      if (!seen.has(hazardId)) problems.push({ hazardId, text: `${hazardId}: not in the table` });
    }
    const ok = problems.length === 0;
    const first = problems[0];
    return {
      ok,
      rows,
      brokenAt: first
        ? (this.requireDb().prepare<[string], number>(SQL.lastSeqOf).pluck().get(first.hazardId) ??
          null)
        : null,
      reason: first
        ? `${problems.length} record(s) differ from the chain, first: ${first.text}`
        : null,
      projection: {
        differences: problems.length,
        problems: problems.slice(0, STORE_DEFAULTS.maxProblems).map((p) => p.text),
      },
      head,
    };
  }

  /** Conditions that hold, by `rule\u0000subject`, with the time they started holding. */
  conditions(): Map<string, number> {
    const rows = this.requireDb()
      .prepare<[], { rule_id: string; subject: string; since: number }>(SQL.conditions)
      .all();
    return new Map(rows.map((r) => [`${r.rule_id}\u0000${r.subject}`, r.since]));
  }

  /** Records the conditions that started and stopped holding in one pass. */
  updateConditions(
    started: readonly { ruleId: string; subject: string; since: number }[],
    stopped: readonly { ruleId: string; subject: string }[],
  ): void {
    const db = this.requireDb();
    const insert = db.prepare(SQL.upsertCondition);
    const remove = db.prepare(SQL.deleteCondition);
    db.transaction(() => {
      for (const c of started) insert.run(c.ruleId, c.subject, c.since);
      for (const c of stopped) remove.run(c.ruleId, c.subject);
    })();
  }

  recordGrade(change: GradeChangeRecord): void {
    this.requireDb()
      .prepare(SQL.insertGrade)
      .run(
        change.installationId,
        change.enterpriseId,
        change.at,
        change.sumRatio,
        change.r,
        change.isMajorHazard ? 1 : 0,
        change.grade,
        change.previousGrade,
        JSON.stringify(change.inventory),
      );
  }

  /** The newest recorded grade of every installation. */
  lastGrades(): Map<string, GradeChangeRecord> {
    const rows = this.requireDb().prepare<[], GradeRow>(SQL.lastGrades).all();
    return new Map(rows.map((r) => [r.installation_id, gradeFromRow(r)]));
  }

  gradeHistory(installationId: string, limit = 100): GradeChangeRecord[] {
    return this.requireDb()
      .prepare<[string, number], GradeRow>(SQL.gradeHistory)
      .all(installationId, limit)
      .map(gradeFromRow);
  }

  /** Opens an outage for a gateway unless one is open; true when it opened one. */
  startOutage(enterpriseId: string, gatewayId: string, at: number, points: number): boolean {
    const db = this.requireDb();
    return db.transaction(() => {
      if (db.prepare(SQL.openOutage).get(gatewayId)) return false;
      db.prepare(SQL.insertOutage).run(enterpriseId, gatewayId, at, points);
      return true;
    })();
  }

  endOutage(gatewayId: string, at: number): boolean {
    const db = this.requireDb();
    const open = db.prepare<[string], { id: number }>(SQL.openOutage).get(gatewayId);
    if (!open) return false;
    db.prepare(SQL.endOutage).run(at, open.id);
    return true;
  }

  /** Outages open now or ended at or after `since`. */
  outages(since: number): OutageRecord[] {
    return this.requireDb()
      .prepare<[number], OutageRow>(SQL.outagesSince)
      .all(since)
      .map((r) => ({
        enterpriseId: r.enterprise_id,
        gatewayId: r.gateway_id,
        startedAt: r.started_at,
        endedAt: r.ended_at,
        points: r.points,
      }));
  }

  /**
   * Shelve / out-of-service / suppression transitions the alarm ledger kept after `cursor`
   * (none when the alarm ledger lives in another database, e.g. ':memory:' in tests).
   */
  lifecycleSince(cursor: number): LifecycleTransition[] {
    const db = this.requireDb();
    if (!db.prepare(SQL.lifecycleTableExists).get()) return [];
    const rows = db
      .prepare<[number, number], LifecycleRow>(SQL.lifecycleSince)
      .all(cursor, STORE_DEFAULTS.lifecycleBatch);
    const out: LifecycleTransition[] = [];
    for (const row of rows) {
      let sensorId = '';
      try {
        sensorId = String((JSON.parse(row.payload) as { sensorId?: unknown }).sensorId ?? '');
      } catch {
        // A payload that is not JSON cannot name its sensor: skipped, the cursor moves on.
      }
      out.push({
        cursor: row.event_id,
        enterpriseId: row.enterprise_id,
        gatewayId: row.gateway_id,
        sensorId,
        transition: row.transition,
        at: row.received_at,
      });
    }
    return out;
  }

  private writeHazard(h: Hazard): void {
    this.requireDb()
      .prepare(SQL.upsertHazard)
      .run({
        hazard_id: h.hazardId,
        enterprise_id: h.enterpriseId,
        installation_id: h.installationId,
        kind: h.kind,
        severity: h.severity,
        status: h.status,
        rule_id: h.ruleId,
        subject: h.subject,
        opened_at: h.openedAt,
        record: JSON.stringify(h),
      });
  }

  private requireDb(): SqliteDatabase {
    if (!this.db) throw new Error('supervision store is not started');
    return this.db;
  }
}
