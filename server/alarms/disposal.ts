/**
 * Alarm disposal ledger: the closed loop per alarm (collect → push → feedback, as provincial
 * access rules put it): raised, cleared, acknowledged, assigned, disposal measures recorded,
 * escalated, closed with a note. Alarms are addressed by their identity (enterprise, gateway,
 * alarm id; identity.ts).
 *
 * Every step is one row of `disposal_events`, append-only (triggers refuse UPDATE and DELETE) and
 * keyed-chained: hash = HMAC-SHA256(key, prev_hash ‖ canonical JSON of the row), the first row
 * chaining from 64 zeros, the key outside the database (ledger-key.ts). `alarm_dispositions` is a
 * projection of the chain (disposal-chain.ts `applyDisposalEvent`) written in the same
 * transaction, so lists do not replay the chain; {@link DisposalLedger.verify} recomputes the
 * chain, rebuilds the projection and compares it with the table. Truncation of the newest rows,
 * and rewriting by someone who holds the key, are found against the anchors (ledger-anchors.ts).
 *
 * The tables live on the platform database (server/db, migration 0001); several nodes may append
 * to the one chain at once: every write transaction takes the chain's lock first (hash-chain.ts).
 * The version-1 upgrade of an old embedded file (disposal-migrate.ts) is the lead's one-time
 * embedded upgrade step, not this class's. docs/ledger.md.
 */

import type { Clock } from '../../common/clock.js';
import { systemClock } from '../../common/clock.js';
import type { Database } from '../db/database.js';
import type { AlarmDispositionsTable, DisposalEventsTable } from '../db/schema.js';
import {
  applyDisposalEvent,
  chainHash,
  type DisposalAction,
  type DisposalEvent,
  type Disposition,
  dispositionDifferences,
  ESCALATION_LEVELS,
  ProjectionError,
} from './disposal-chain.js';
import {
  appendEvent,
  type ChainHead,
  DISPOSAL_CHAIN,
  type DispositionRow,
  dispositionFromRow,
  type EventRow,
  eventFromRow,
  upsertDisposition,
} from './disposal-store.js';
import {
  type ChainWalk,
  chainHashAt,
  chainHead,
  chainRows,
  chainTransaction,
  type Tx,
  walkChain,
} from './hash-chain.js';
import { type AlarmKey, alarmKeyString, describeAlarm } from './identity.js';
import type { AlarmRecord } from './ledger.js';
import { loadLedgerKey } from './ledger-key.js';

export {
  canonicalJson,
  chainHash,
  type DisposalAction,
  type DisposalEvent,
  type DisposalStatus,
  type Disposition,
  ESCALATION_LEVELS,
  type EscalationLevelName,
  GENESIS_HASH,
} from './disposal-chain.js';
export { disposalCsv } from './disposal-csv.js';
export type { ChainHead } from './disposal-store.js';

/** Version of the embedded schema this ledger's tables match ('disposal-ledger', migration 0001). */
export const DISPOSAL_LEDGER_SCHEMA_VERSION = 2;
export const DISPOSAL_DEFAULTS = {
  maxProblems: 20, // projection differences listed by verify (the count is always complete)
} as const;

/** A disposal step refused because of the alarm's state (HTTP 409 in the API). */
/**
 * The verification result of a chain whose walk stopped at a broken link (both ledgers report a
 * break the same way: where, why, and no projection check on top); null for an intact walk.
 */
export function brokenChainResult(walk: ChainWalk): VerifyResult | null {
  if (!walk.broken) return null;
  return {
    ok: false,
    rows: walk.rows,
    brokenAt: walk.broken.seq,
    reason: walk.broken.reason,
    projection: { differences: 0, problems: [] },
    head: walk.head,
  };
}

export class DisposalStateError extends Error {
  constructor(key: AlarmKey, action: string, status: string) {
    super(`alarm '${describeAlarm(key)}' cannot be ${action} while ${status}`);
    this.name = 'DisposalStateError';
  }
}

export interface VerifyResult {
  ok: boolean;
  rows: number;
  /** seq of the first row found bad (chain, projection or anchor), when !ok. */
  brokenAt: number | null;
  reason: string | null;
  /** Dispositions whose table row differs from the chain's projection (first few). */
  projection: { differences: number; problems: string[] };
  /** Head of the chain as read (null when empty). */
  head: ChainHead | null;
}

export interface DisposalLedgerOptions {
  /** The platform database (started by its owner; the ledger never opens or closes it). */
  database: Database;
  clock?: Clock;
  /** HMAC key of the chain; default: loadLedgerKey beside the SQLite file (ledger-key.ts). */
  key?: Buffer;
}

type EventSelect = { [K in keyof DisposalEventsTable]: EventRow[K & keyof EventRow] };
type DispositionSelect = { [K in keyof AlarmDispositionsTable]: DispositionRow[K] };

/**
 * Lifecycle: `start()` checks the database is started; `stop()` releases nothing of the
 * database's (it belongs to its owner). Every write is one transaction (chain lock, chain row,
 * projection), committed before the returned promise resolves.
 */
export class DisposalLedger {
  private open = false;
  private readonly clock: Clock;
  private readonly key: Buffer;
  private readonly database: Database;

  constructor(options: DisposalLedgerOptions) {
    this.database = options.database;
    this.clock = options.clock ?? systemClock;
    this.key = options.key ?? defaultKey(options.database);
  }

  async start(): Promise<void> {
    if (!this.database.started) {
      throw new Error(`disposal ledger: database '${this.database.where}' is not started`);
    }
    this.open = true;
  }

  async stop(): Promise<void> {
    this.open = false;
  }

  get isOpen(): boolean {
    return this.open;
  }

  /**
   * Follows the gateway's transitions: the first sight of an alarm opens its disposition
   * ('raised' row); its clear adds a 'cleared' row. Idempotent: repeats add nothing, also when
   * two nodes track the same alarm at once (both hold the chain lock in turn).
   * Returns the rows appended.
   */
  async track(alarm: AlarmRecord): Promise<DisposalEvent[]> {
    return this.write(async (trx) => {
      const appended: DisposalEvent[] = [];
      if (!(await this.dispositionRow(trx, alarm))) {
        appended.push(
          await this.append(trx, alarm, 'raised', 'system', {
            level: alarm.level,
            sensorId: alarm.sensorId,
            value: alarm.value,
            unit: alarm.unit,
            drill: alarm.drill,
            raisedAt: alarm.raisedAt,
            openedAt: alarm.receivedAt,
          }),
        );
      }
      if (alarm.state === 'cleared' && !(await this.hasAction(trx, alarm, 'cleared'))) {
        appended.push(
          await this.append(trx, alarm, 'cleared', 'system', { clearedAt: alarm.clearedAt }),
        );
      }
      return appended;
    });
  }

  acknowledge(key: AlarmKey, actor: string, note?: string): Promise<Disposition> {
    return this.step(key, 'acknowledged', (d) => {
      if (d.status !== 'open') throw new DisposalStateError(key, 'acknowledged', d.status);
      return { actor, detail: note ? { note } : {} };
    });
  }

  assign(key: AlarmKey, actor: string, assignee: string): Promise<Disposition> {
    return this.step(key, 'assigned', (d) => {
      if (d.status === 'closed') throw new DisposalStateError(key, 'assigned', d.status);
      return { actor, detail: { assignee } };
    });
  }

  recordMeasure(key: AlarmKey, actor: string, measure: string): Promise<Disposition> {
    return this.step(key, 'measure', (d) => {
      if (d.status === 'closed') throw new DisposalStateError(key, 'given measures', d.status);
      return { actor, detail: { measure } };
    });
  }

  /** Closes the loop; only after acknowledgement, with a note saying how it was resolved. */
  close(key: AlarmKey, actor: string, note: string): Promise<Disposition> {
    return this.step(key, 'closed', (d) => {
      if (d.status !== 'acknowledged') throw new DisposalStateError(key, 'closed', d.status);
      return { actor, detail: { note } };
    });
  }

  /**
   * Raises the escalation level to `level` (1 county, 2 city, 3 province), one row per level
   * passed; a level already reached is never recorded again (not by another node either: the
   * level is read under the chain lock). Returns the rows appended.
   */
  async escalate(
    key: AlarmKey,
    level: number,
    reason: 'not acknowledged' | 'not disposed',
  ): Promise<DisposalEvent[]> {
    return this.write(async (trx) => {
      const d = await this.dispositionRow(trx, key);
      if (!d || d.status === 'closed') return [];
      const appended: DisposalEvent[] = [];
      const top = Math.min(level, ESCALATION_LEVELS.length - 1);
      for (let next = d.escalation_level + 1; next <= top; next++) {
        appended.push(
          await this.append(trx, key, 'escalated', 'system', {
            level: next,
            to: ESCALATION_LEVELS[next],
            reason,
          }),
        );
      }
      return appended;
    });
  }

  async disposition(key: AlarmKey): Promise<Disposition | undefined> {
    const row = await this.dispositionRow(this.db, key);
    return row ? dispositionFromRow(row) : undefined;
  }

  /** Dispositions not closed, oldest raise first (drills included; callers filter). */
  async unclosed(): Promise<Disposition[]> {
    const rows = await this.db
      .selectFrom('alarm_dispositions')
      .selectAll()
      .where('status', '!=', 'closed')
      .orderBy('opened_at')
      .orderBy('enterprise_id')
      .orderBy('gateway_id')
      .orderBy('alarm_id')
      .execute();
    return rows.map((r) => dispositionFromRow(r as DispositionSelect));
  }

  /** One alarm's steps, oldest first. */
  async events(key: AlarmKey): Promise<DisposalEvent[]> {
    const rows = await this.db
      .selectFrom('disposal_events')
      .selectAll()
      .where('enterprise_id', '=', key.enterpriseId)
      .where('gateway_id', '=', key.gatewayId)
      .where('alarm_id', '=', key.alarmId)
      .orderBy('seq')
      .execute();
    return rows.map((r) => eventFromRow(r as EventSelect));
  }

  /** Every row in chain order, optionally only these enterprises' (for a scoped export). */
  async *allEvents(enterpriseIds?: ReadonlySet<string>): AsyncGenerator<DisposalEvent> {
    for await (const row of chainRows<EventRow>(this.db, DISPOSAL_CHAIN)) {
      if (enterpriseIds && !enterpriseIds.has(row.enterprise_id)) continue;
      yield eventFromRow(row);
    }
  }

  /** The newest row's (seq, hash); null while the chain is empty. */
  head(): Promise<ChainHead | null> {
    return chainHead(this.db, DISPOSAL_CHAIN);
  }

  /** The hash recorded at `seq`, or undefined when there is no such row. */
  hashAt(seq: number): Promise<string | undefined> {
    return chainHashAt(this.db, DISPOSAL_CHAIN, seq);
  }

  /**
   * Recomputes the keyed chain (contiguous seqs from 1, prev_hash links, MACs), replays it into
   * dispositions and compares them with the `alarm_dispositions` table. Anchors are checked by
   * ledger-integrity.ts on top of this.
   */
  async verify(): Promise<VerifyResult> {
    const projected = new Map<string, Disposition>();
    const walk = await walkChain(
      this.allEvents(),
      (prev, event) => chainHash(this.key, prev, event),
      (event) => {
        const k = alarmKeyString(event);
        try {
          projected.set(k, applyDisposalEvent(projected.get(k), event));
          return null;
        } catch (err) {
          if (err instanceof ProjectionError) return err.message;
          throw err;
        }
      },
    );
    const { rows, head } = walk;
    const broken = brokenChainResult(walk);
    if (broken) return broken;
    const problems = await this.compareProjection(projected);
    const ok = problems.length === 0;
    return {
      ok,
      rows,
      brokenAt: ok ? null : await this.lastSeqOf(problems[0]!.key),
      reason: ok
        ? null
        : `${problems.length} disposition(s) differ from the chain, first: ${problems[0]!.text}`,
      projection: {
        differences: problems.length,
        problems: problems.slice(0, DISPOSAL_DEFAULTS.maxProblems).map((p) => p.text),
      },
      head,
    };
  }

  private async compareProjection(
    projected: Map<string, Disposition>,
  ): Promise<{ key: AlarmKey; text: string }[]> {
    const problems: { key: AlarmKey; text: string }[] = [];
    const seen = new Set<string>();
    const rows = await this.db.selectFrom('alarm_dispositions').selectAll().execute();
    for (const row of rows) {
      const table = dispositionFromRow(row as DispositionSelect);
      const k = alarmKeyString(table);
      seen.add(k);
      const chain = projected.get(k);
      if (!chain) {
        problems.push({
          key: table,
          text: `${describeAlarm(table)}: in the table, not in the chain`,
        });
        continue;
      }
      const diff = dispositionDifferences(chain, table);
      if (diff.length > 0)
        problems.push({ key: table, text: `${describeAlarm(table)}: ${diff.join('; ')}` });
    }
    for (const [k, chain] of projected) {
      if (!seen.has(k))
        problems.push({
          key: chain,
          text: `${describeAlarm(chain)}: in the chain, not in the table`,
        });
    }
    return problems;
  }

  /** The newest row of the alarm (where the table stopped agreeing at the latest), else null. */
  private async lastSeqOf(key: AlarmKey): Promise<number | null> {
    const row = await this.db
      .selectFrom('disposal_events')
      .select((eb) => eb.fn.max('seq').as('seq'))
      .where('enterprise_id', '=', key.enterpriseId)
      .where('gateway_id', '=', key.gatewayId)
      .where('alarm_id', '=', key.alarmId)
      .executeTakeFirst();
    return row?.seq ?? null;
  }

  private step(
    key: AlarmKey,
    action: DisposalAction,
    check: (d: Disposition) => { actor: string; detail: Record<string, unknown> },
  ): Promise<Disposition> {
    return this.write(async (trx) => {
      const row = await this.dispositionRow(trx, key);
      if (!row) throw new Error(`alarm '${describeAlarm(key)}' is not in the disposal ledger`);
      const { actor, detail } = check(dispositionFromRow(row));
      await this.append(trx, key, action, actor, detail);
      return dispositionFromRow((await this.dispositionRow(trx, key))!);
    });
  }

  /** One write transaction: the chain lock first, then `fn` (reads it decides on included). */
  private write<T>(fn: (trx: Tx) => Promise<T>): Promise<T> {
    if (!this.open) throw new Error('disposal ledger is not started');
    return chainTransaction(this.database, DISPOSAL_CHAIN, fn);
  }

  /** Appends one chain row and writes the projection of it, in the caller's transaction. */
  private async append(
    trx: Tx,
    key: AlarmKey,
    action: DisposalAction,
    actor: string,
    detail: Record<string, unknown>,
  ): Promise<DisposalEvent> {
    const event = await appendEvent(trx, this.key, {
      enterpriseId: key.enterpriseId,
      gatewayId: key.gatewayId,
      alarmId: key.alarmId,
      action,
      actor,
      detail,
      at: this.clock.now(),
    });
    const current = await this.dispositionRow(trx, key);
    await upsertDisposition(
      trx,
      applyDisposalEvent(current ? dispositionFromRow(current) : undefined, event),
    );
    return event;
  }

  private async dispositionRow(
    db: Database['db'] | Tx,
    key: AlarmKey,
  ): Promise<DispositionRow | undefined> {
    const row = await db
      .selectFrom('alarm_dispositions')
      .selectAll()
      .where('enterprise_id', '=', key.enterpriseId)
      .where('gateway_id', '=', key.gatewayId)
      .where('alarm_id', '=', key.alarmId)
      .executeTakeFirst();
    return row as DispositionSelect | undefined;
  }

  private async hasAction(trx: Tx, key: AlarmKey, action: DisposalAction): Promise<boolean> {
    const row = await trx
      .selectFrom('disposal_events')
      .select('seq')
      .where('enterprise_id', '=', key.enterpriseId)
      .where('gateway_id', '=', key.gatewayId)
      .where('alarm_id', '=', key.alarmId)
      .where('action', '=', action)
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }

  private get db(): Database['db'] {
    if (!this.open) throw new Error('disposal ledger is not started');
    return this.database.db;
  }
}

/** The key file beside the embedded SQLite file; PostgreSQL has no "beside": the key is given. */
function defaultKey(database: Database): Buffer {
  if (database.config.kind !== 'sqlite') {
    throw new Error(
      `disposal ledger on '${database.where}': pass the chain key (a PostgreSQL database has no file to keep it beside)`,
    );
  }
  return loadLedgerKey({ storePath: database.config.path }).key;
}
