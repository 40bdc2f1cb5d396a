/**
 * The supervision store: the hazard ledger (keyed chain + projection), the screening conditions
 * that hold, the history of grade changes and the gateway outages, on the platform database
 * (server/db, migration 0003). Methods take and return plain data, asynchronously.
 *
 * The chain is the disposal ledger's machinery (server/alarms/hash-chain.ts): several nodes may
 * append at once; every write transaction of the chain takes its lock first.
 *
 * Lifecycle: `start()` checks the database is started; `stop()` releases nothing of the
 * database's (its owner closes it). Every write is one transaction: a chain row and its
 * projection commit together, before the returned promise resolves.
 */
import type { Clock } from '../../common/clock.js';
import { systemClock } from '../../common/clock.js';
import { brokenChainResult, type VerifyResult } from '../alarms/disposal.js';
import {
  appendLink,
  type ChainHead,
  type ChainSpec,
  chainHashAt,
  chainHead,
  chainRows,
  chainTransaction,
  type Tx,
  walkChain,
} from '../alarms/hash-chain.js';
import type { Database } from '../db/database.js';
import {
  applyHazardEvent,
  type Hazard,
  type HazardAction,
  type HazardEvent,
  HazardProjectionError,
  type HazardRow,
  hazardHash,
} from './hazard-chain.js';
import type { EventRow, GradeRow, LifecycleRow, OutageRow } from './sql.js';

/** The hazard chain; its lock key is 'HWHAZD' read as a number, used for nothing else. */
export const HAZARD_CHAIN: ChainSpec = { table: 'hazard_events', lockKey: 0x4857_4841_5a44 };

/** Screening's lifecycle transitions of the alarm ledger (alarm_events.transition). */
const LIFECYCLE_TRANSITIONS = [
  'shelved',
  'unshelved',
  'out-of-service',
  'in-service',
  'suppressed',
  'unsuppressed',
] as const;

export const STORE_DEFAULTS = {
  maxProblems: 20, // projection differences listed by verify
  lifecycleBatch: 5_000, // alarm lifecycle rows read per call
} as const;

export interface SupervisionStoreOptions {
  /** The platform database (started by its owner; the store never opens or closes it). */
  database: Database;
  /** HMAC key of the chain: the disposal ledger's key (server/alarms/ledger-key.ts). */
  key: Buffer;
  clock?: Clock;
}

export interface AppendInput {
  /** The record; null opens a new one, numbered from the chain's next seq under its lock. */
  hazardId: string | null;
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

/** The id of the record opened by chain row `seq` (unique, readable, never reused). */
export function hazardIdOf(seq: number): string {
  return `HZ-${String(seq).padStart(6, '0')}`;
}

export class SupervisionStore {
  private open = false;
  private readonly clock: Clock;
  private readonly database: Database;

  constructor(private readonly options: SupervisionStoreOptions) {
    this.database = options.database;
    this.clock = options.clock ?? systemClock;
  }

  async start(): Promise<void> {
    if (!this.database.started) {
      throw new Error(`supervision store: database '${this.database.where}' is not started`);
    }
    this.open = true;
  }

  async stop(): Promise<void> {
    this.open = false;
  }

  get isOpen(): boolean {
    return this.open;
  }

  /** The id the next opened record would get (a new record takes its own under the lock). */
  async nextHazardId(): Promise<string> {
    const head = await this.head();
    return hazardIdOf((head?.seq ?? 0) + 1);
  }

  /**
   * Appends one chain row and writes the projection, in one transaction under the chain lock;
   * `check` sees the record before the step (undefined before 'opened') and throws to refuse it.
   * `hazardId: null` opens a new record numbered from the row's seq.
   */
  async append(input: AppendInput, check?: (current: Hazard | undefined) => void): Promise<Hazard> {
    if (!this.open) throw new Error('supervision store is not started');
    return chainTransaction(this.database, HAZARD_CHAIN, async (trx) => {
      const hazardId =
        input.hazardId ?? hazardIdOf(((await chainHead(trx, HAZARD_CHAIN))?.seq ?? 0) + 1);
      const current = await this.hazardIn(trx, hazardId);
      check?.(current);
      // Round-trip the detail through JSON so the hashed form is the stored form.
      const detail = JSON.parse(JSON.stringify(input.detail)) as Record<string, unknown>;
      const { row } = await appendLink<HazardRow>(trx, HAZARD_CHAIN, {
        build: (seq) => ({
          seq,
          enterpriseId: input.enterpriseId,
          installationId: input.installationId,
          hazardId,
          action: input.action,
          actor: input.actor,
          detail,
          at: this.clock.now(),
        }),
        link: (prev, r) => hazardHash(this.options.key, prev, r),
        insert: async (t, r, prevHash, hash) => {
          await t
            .insertInto('hazard_events')
            .values({
              seq: r.seq,
              enterprise_id: r.enterpriseId,
              installation_id: r.installationId,
              hazard_id: r.hazardId,
              action: r.action,
              actor: r.actor,
              detail: JSON.stringify(r.detail),
              at: r.at,
              prev_hash: prevHash,
              hash,
            })
            .execute();
        },
      });
      const next = applyHazardEvent(current, row);
      await writeHazard(trx, next);
      return next;
    });
  }

  hazard(hazardId: string): Promise<Hazard | undefined> {
    return this.hazardIn(this.db, hazardId);
  }

  /** The record screening keeps for (rule, subject) while it is not closed. */
  async unclosedFor(ruleId: string, subject: string): Promise<Hazard | undefined> {
    const row = await this.db
      .selectFrom('hazards')
      .select('record')
      .where('rule_id', '=', ruleId)
      .where('subject', '=', subject)
      .where('status', '!=', 'closed')
      .limit(1)
      .executeTakeFirst();
    return row ? hazardOf(row.record) : undefined;
  }

  async unclosed(): Promise<Hazard[]> {
    const rows = await this.db
      .selectFrom('hazards')
      .select('record')
      .where('status', '!=', 'closed')
      .orderBy('opened_at')
      .orderBy('hazard_id')
      .execute();
    return rows.map((r) => hazardOf(r.record));
  }

  /** Every record, newest first; filtered by enterprise when a set is given. */
  async hazards(enterpriseIds?: ReadonlySet<string>): Promise<Hazard[]> {
    const rows = await this.db
      .selectFrom('hazards')
      .select('record')
      .orderBy('opened_at', 'desc')
      .orderBy('hazard_id', 'desc')
      .execute();
    const all = rows.map((r) => hazardOf(r.record));
    return enterpriseIds ? all.filter((h) => enterpriseIds.has(h.enterpriseId)) : all;
  }

  async events(hazardId: string): Promise<HazardEvent[]> {
    const rows = await this.db
      .selectFrom('hazard_events')
      .selectAll()
      .where('hazard_id', '=', hazardId)
      .orderBy('seq')
      .execute();
    return rows.map(eventFromRow);
  }

  async *allEvents(enterpriseIds?: ReadonlySet<string>): AsyncGenerator<HazardEvent> {
    for await (const row of chainRows<EventRow>(this.db, HAZARD_CHAIN)) {
      if (enterpriseIds && !enterpriseIds.has(row.enterprise_id)) continue;
      yield eventFromRow(row);
    }
  }

  head(): Promise<ChainHead | null> {
    return chainHead(this.db, HAZARD_CHAIN);
  }

  hashAt(seq: number): Promise<string | undefined> {
    return chainHashAt(this.db, HAZARD_CHAIN, seq);
  }

  /**
   * The chain (contiguous seqs, links, MACs), replayed into records and compared with the
   * `hazards` table; the same result shape as the disposal ledger's, so `verifyLedger` adds the
   * anchors on top (server/alarms/ledger-integrity.ts).
   */
  async verify(): Promise<VerifyResult> {
    const projected = new Map<string, Hazard>();
    const walk = await walkChain(
      this.allEvents(),
      (prev, event) => hazardHash(this.options.key, prev, event),
      (event) => {
        try {
          projected.set(event.hazardId, applyHazardEvent(projected.get(event.hazardId), event));
          return null;
        } catch (err) {
          if (err instanceof HazardProjectionError) return err.message;
          throw err;
        }
      },
    );
    const { rows, head } = walk;
    const broken = brokenChainResult(walk);
    if (broken) return broken;
    const problems: { hazardId: string; text: string }[] = [];
    const seen = new Set<string>();
    const table = await this.db.selectFrom('hazards').select(['hazard_id', 'record']).execute();
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
      brokenAt: first ? await this.lastSeqOf(first.hazardId) : null,
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
  async conditions(): Promise<Map<string, number>> {
    const rows = await this.db
      .selectFrom('supervision_conditions')
      .select(['rule_id', 'subject', 'since'])
      .execute();
    return new Map(rows.map((r) => [`${r.rule_id}\u0000${r.subject}`, r.since]));
  }

  /** Records the conditions that started and stopped holding in one pass. */
  async updateConditions(
    started: readonly { ruleId: string; subject: string; since: number }[],
    stopped: readonly { ruleId: string; subject: string }[],
  ): Promise<void> {
    if (!this.open) throw new Error('supervision store is not started');
    await chainTransaction(this.database, null, async (trx) => {
      for (const c of started) {
        // Another node's pass may have recorded it first: its start time stands.
        await trx
          .insertInto('supervision_conditions')
          .values({ rule_id: c.ruleId, subject: c.subject, since: c.since })
          .onConflict((oc) => oc.columns(['rule_id', 'subject']).doNothing())
          .execute();
      }
      for (const c of stopped) {
        await trx
          .deleteFrom('supervision_conditions')
          .where('rule_id', '=', c.ruleId)
          .where('subject', '=', c.subject)
          .execute();
      }
    });
  }

  async recordGrade(change: GradeChangeRecord): Promise<void> {
    await this.db
      .insertInto('supervision_grade_history')
      .values({
        installation_id: change.installationId,
        enterprise_id: change.enterpriseId,
        at: change.at,
        sum_ratio: change.sumRatio,
        r: change.r,
        is_major: change.isMajorHazard ? 1 : 0,
        grade: change.grade,
        previous_grade: change.previousGrade,
        inventory: JSON.stringify(change.inventory),
      })
      .execute();
  }

  /** The newest recorded grade of every installation. */
  async lastGrades(): Promise<Map<string, GradeChangeRecord>> {
    const rows = await this.db
      .selectFrom('supervision_grade_history as h')
      .innerJoin(
        (eb) =>
          eb
            .selectFrom('supervision_grade_history')
            .select((e) => ['installation_id', e.fn.max('id').as('id')])
            .groupBy('installation_id')
            .as('m'),
        (join) => join.onRef('h.id', '=', 'm.id'),
      )
      .selectAll('h')
      .execute();
    return new Map(rows.map((r) => [r.installation_id, gradeFromRow(r as GradeRow)]));
  }

  async gradeHistory(installationId: string, limit = 100): Promise<GradeChangeRecord[]> {
    const rows = await this.db
      .selectFrom('supervision_grade_history')
      .selectAll()
      .where('installation_id', '=', installationId)
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
    return rows.map((r) => gradeFromRow(r as GradeRow));
  }

  /** Opens an outage for a gateway unless one is open; true when it opened one. */
  async startOutage(
    enterpriseId: string,
    gatewayId: string,
    at: number,
    points: number,
  ): Promise<boolean> {
    if (!this.open) throw new Error('supervision store is not started');
    return chainTransaction(this.database, null, async (trx) => {
      if (await openOutage(trx, gatewayId)) return false;
      await trx
        .insertInto('supervision_outages')
        .values({ enterprise_id: enterpriseId, gateway_id: gatewayId, started_at: at, points })
        .execute();
      return true;
    });
  }

  async endOutage(gatewayId: string, at: number): Promise<boolean> {
    // Conditional: of two nodes ending the same outage, one ends it.
    const result = await this.db
      .updateTable('supervision_outages')
      .set({ ended_at: at })
      .where('gateway_id', '=', gatewayId)
      .where('ended_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** Outages open now or ended at or after `since`. */
  async outages(since: number): Promise<OutageRecord[]> {
    const rows = await this.db
      .selectFrom('supervision_outages')
      .selectAll()
      .where((eb) => eb.or([eb('ended_at', 'is', null), eb('ended_at', '>=', since)]))
      .orderBy('started_at')
      .execute();
    return rows.map((r: OutageRow) => ({
      enterpriseId: r.enterprise_id,
      gatewayId: r.gateway_id,
      startedAt: r.started_at,
      endedAt: r.ended_at,
      points: r.points,
    }));
  }

  /** Shelve / out-of-service / suppression transitions the alarm ledger kept after `cursor`. */
  async lifecycleSince(cursor: number): Promise<LifecycleTransition[]> {
    const rows: LifecycleRow[] = await this.db
      .selectFrom('alarm_events')
      .select(['event_id', 'enterprise_id', 'gateway_id', 'transition', 'received_at', 'payload'])
      .where('event_id', '>', cursor)
      .where('transition', 'in', LIFECYCLE_TRANSITIONS)
      .orderBy('event_id')
      .limit(STORE_DEFAULTS.lifecycleBatch)
      .execute();
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

  private async hazardIn(db: Database['db'] | Tx, hazardId: string): Promise<Hazard | undefined> {
    const row = await db
      .selectFrom('hazards')
      .select('record')
      .where('hazard_id', '=', hazardId)
      .executeTakeFirst();
    return row ? hazardOf(row.record) : undefined;
  }

  private async lastSeqOf(hazardId: string): Promise<number | null> {
    const row = await this.db
      .selectFrom('hazard_events')
      .select((eb) => eb.fn.max('seq').as('seq'))
      .where('hazard_id', '=', hazardId)
      .executeTakeFirst();
    return row?.seq ?? null;
  }

  private get db(): Database['db'] {
    if (!this.open) throw new Error('supervision store is not started');
    return this.database.db;
  }
}

async function openOutage(trx: Tx, gatewayId: string): Promise<boolean> {
  const row = await trx
    .selectFrom('supervision_outages')
    .select('id')
    .where('gateway_id', '=', gatewayId)
    .where('ended_at', 'is', null)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

async function writeHazard(trx: Tx, h: Hazard): Promise<void> {
  const row = {
    enterprise_id: h.enterpriseId,
    installation_id: h.installationId,
    kind: h.kind,
    severity: h.severity,
    status: h.status,
    rule_id: h.ruleId,
    subject: h.subject,
    opened_at: h.openedAt,
    record: JSON.stringify(h),
  };
  await trx
    .insertInto('hazards')
    .values({ hazard_id: h.hazardId, ...row })
    .onConflict((oc) => oc.column('hazard_id').doUpdateSet(row))
    .execute();
}
