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
 * Schema versions ('disposal-ledger' in schema_versions): 1 was an unkeyed sha256 chain keyed by
 * alarm id alone; 2 is this one. A version-1 chain is checked with the old hash, kept as
 * `disposal_events_v1` (append-only) for forensics, and replayed row by row into the keyed chain
 * (same seq, action, actor, detail, time; the gateway taken from the alarm ledger). docs/ledger.md.
 */

import Database from 'better-sqlite3';
import type { Clock } from '../../common/clock.js';
import { systemClock } from '../../common/clock.js';
import { type OpenOptions, openWithSchema, type SqliteDatabase } from '../store/sqlite.js';
import {
  applyDisposalEvent,
  chainHash,
  type DisposalAction,
  type DisposalEvent,
  type Disposition,
  dispositionDifferences,
  ESCALATION_LEVELS,
  GENESIS_HASH,
  ProjectionError,
} from './disposal-chain.js';
import { migrateV1 } from './disposal-migrate.js';
import {
  appendRow,
  type ChainHead,
  type DispositionRow,
  dispositionFromRow,
  type EventRow,
  eventFromRow,
  KEY_WHERE,
  keyParams,
  SCHEMA,
  writeDisposition,
} from './disposal-store.js';
import { type AlarmKey, alarmKeyString, describeAlarm } from './identity.js';
import type { AlarmRecord } from './ledger.js';
import { loadLedgerKey } from './ledger-key.js';
import { migrateComponent, schemaVersionReadonly } from './schema-version.js';

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

export const DISPOSAL_LEDGER_SCHEMA_VERSION = 2;
export const DISPOSAL_DEFAULTS = {
  maxProblems: 20, // projection differences listed by verify (the count is always complete)
} as const;

/** A disposal step refused because of the alarm's state (HTTP 409 in the API). */
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

export interface DisposalLedgerOptions extends OpenOptions {
  path: string;
  clock?: Clock;
  /** HMAC key of the chain; default: loadLedgerKey beside `path` (ledger-key.ts). */
  key?: Buffer;
  /**
   * Open an existing file read-only, without migrating (the CLI verifier: verifying must not
   * change what it verifies). Refuses a file whose schema is not the current one.
   */
  readonly?: boolean;
}

/**
 * Lifecycle: `start()` opens and migrates the tables; `stop()` closes them (safe twice). Every
 * write is one SQLite transaction (chain row + projection), committed before the method returns.
 */
export class DisposalLedger {
  private db: SqliteDatabase | null = null;
  private readonly clock: Clock;
  private readonly key: Buffer;

  constructor(private readonly options: DisposalLedgerOptions) {
    this.clock = options.clock ?? systemClock;
    this.key = options.key ?? loadLedgerKey({ storePath: options.path }).key;
  }

  async start(): Promise<void> {
    if (this.db) return;
    const what = `disposal ledger '${this.options.path}'`;
    if (this.options.readonly) {
      this.db = openReadonly(this.options.path, what);
      return;
    }
    this.db = openWithSchema(
      this.options.path,
      this.options,
      (db) => {
        migrateComponent(db, {
          component: 'disposal-ledger',
          version: DISPOSAL_LEDGER_SCHEMA_VERSION,
          existingTable: 'disposal_events',
          create: (d) => d.exec(SCHEMA),
          steps: { 1: (d) => migrateV1(d, this.key, what) },
          what,
        });
      },
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

  /**
   * Follows the gateway's transitions: the first sight of an alarm opens its disposition
   * ('raised' row); its clear adds a 'cleared' row. Idempotent: repeats add nothing.
   * Returns the rows appended.
   */
  track(alarm: AlarmRecord): DisposalEvent[] {
    const db = this.requireDb();
    return db.transaction(() => {
      const appended: DisposalEvent[] = [];
      if (!this.dispositionRow(alarm)) {
        appended.push(
          this.append(alarm, 'raised', 'system', {
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
      if (alarm.state === 'cleared' && !this.hasAction(alarm, 'cleared')) {
        appended.push(this.append(alarm, 'cleared', 'system', { clearedAt: alarm.clearedAt }));
      }
      return appended;
    })();
  }

  acknowledge(key: AlarmKey, actor: string, note?: string): Disposition {
    return this.step(key, 'acknowledged', (d) => {
      if (d.status !== 'open') throw new DisposalStateError(key, 'acknowledged', d.status);
      return { actor, detail: note ? { note } : {} };
    });
  }

  assign(key: AlarmKey, actor: string, assignee: string): Disposition {
    return this.step(key, 'assigned', (d) => {
      if (d.status === 'closed') throw new DisposalStateError(key, 'assigned', d.status);
      return { actor, detail: { assignee } };
    });
  }

  recordMeasure(key: AlarmKey, actor: string, measure: string): Disposition {
    return this.step(key, 'measure', (d) => {
      if (d.status === 'closed') throw new DisposalStateError(key, 'given measures', d.status);
      return { actor, detail: { measure } };
    });
  }

  /** Closes the loop; only after acknowledgement, with a note saying how it was resolved. */
  close(key: AlarmKey, actor: string, note: string): Disposition {
    return this.step(key, 'closed', (d) => {
      if (d.status !== 'acknowledged') throw new DisposalStateError(key, 'closed', d.status);
      return { actor, detail: { note } };
    });
  }

  /**
   * Raises the escalation level to `level` (1 county, 2 city, 3 province), one row per level
   * passed; a level already reached is never recorded again. Returns the rows appended.
   */
  escalate(
    key: AlarmKey,
    level: number,
    reason: 'not acknowledged' | 'not disposed',
  ): DisposalEvent[] {
    const db = this.requireDb();
    return db.transaction(() => {
      const d = this.dispositionRow(key);
      if (!d || d.status === 'closed') return [];
      const appended: DisposalEvent[] = [];
      const top = Math.min(level, ESCALATION_LEVELS.length - 1);
      for (let next = d.escalation_level + 1; next <= top; next++) {
        appended.push(
          this.append(key, 'escalated', 'system', {
            level: next,
            to: ESCALATION_LEVELS[next],
            reason,
          }),
        );
      }
      return appended;
    })();
  }

  disposition(key: AlarmKey): Disposition | undefined {
    const row = this.dispositionRow(key);
    return row ? dispositionFromRow(row) : undefined;
  }

  /** Dispositions not closed, oldest raise first (drills included; callers filter). */
  unclosed(): Disposition[] {
    return this.requireDb()
      .prepare<[], DispositionRow>(
        "SELECT * FROM alarm_dispositions WHERE status != 'closed' ORDER BY opened_at, enterprise_id, gateway_id, alarm_id",
      )
      .all()
      .map(dispositionFromRow);
  }

  /** One alarm's steps, oldest first. */
  events(key: AlarmKey): DisposalEvent[] {
    return this.requireDb()
      .prepare<[string, string, string], EventRow>(
        `SELECT * FROM disposal_events WHERE ${KEY_WHERE} ORDER BY seq`,
      )
      .all(...keyParams(key))
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

  /** The newest row's (seq, hash); null while the chain is empty. */
  head(): ChainHead | null {
    return (
      this.requireDb()
        .prepare<[], ChainHead>('SELECT seq, hash FROM disposal_events ORDER BY seq DESC LIMIT 1')
        .get() ?? null
    );
  }

  /** The hash recorded at `seq`, or undefined when there is no such row. */
  hashAt(seq: number): string | undefined {
    return this.requireDb()
      .prepare<[number], string>('SELECT hash FROM disposal_events WHERE seq = ?')
      .pluck()
      .get(seq);
  }

  /**
   * Recomputes the keyed chain (contiguous seqs from 1, prev_hash links, MACs), replays it into
   * dispositions and compares them with the `alarm_dispositions` table. Anchors are checked by
   * ledger-integrity.ts on top of this.
   */
  verify(): VerifyResult {
    let prev = GENESIS_HASH;
    let rows = 0;
    let expectedSeq = 1;
    let head: ChainHead | null = null;
    const projected = new Map<string, Disposition>();
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
      if (event.seq !== expectedSeq) {
        return broken(expectedSeq, `row ${expectedSeq} is missing (next row is ${event.seq})`);
      }
      expectedSeq++;
      if (event.prevHash !== prev) {
        return broken(event.seq, 'prev_hash does not match the row before');
      }
      if (chainHash(this.key, prev, event) !== event.hash) {
        return broken(event.seq, 'hash does not match the row content (or another key made it)');
      }
      prev = event.hash;
      const k = alarmKeyString(event);
      try {
        projected.set(k, applyDisposalEvent(projected.get(k), event));
      } catch (err) {
        if (err instanceof ProjectionError) return broken(event.seq, err.message);
        throw err;
      }
    }
    const problems = this.compareProjection(projected);
    const ok = problems.length === 0;
    return {
      ok,
      rows,
      brokenAt: ok ? null : this.firstSeqOf(problems[0]!.key),
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

  private compareProjection(
    projected: Map<string, Disposition>,
  ): { key: AlarmKey; text: string }[] {
    const problems: { key: AlarmKey; text: string }[] = [];
    const seen = new Set<string>();
    const rows = this.requireDb()
      .prepare<[], DispositionRow>('SELECT * FROM alarm_dispositions')
      .iterate();
    for (const row of rows) {
      const table = dispositionFromRow(row);
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
  private firstSeqOf(key: AlarmKey): number | null {
    return (
      this.requireDb()
        .prepare<[string, string, string], number>(
          `SELECT MAX(seq) FROM disposal_events WHERE ${KEY_WHERE}`,
        )
        .pluck()
        .get(...keyParams(key)) ?? null
    );
  }

  private step(
    key: AlarmKey,
    action: DisposalAction,
    check: (d: Disposition) => { actor: string; detail: Record<string, unknown> },
  ): Disposition {
    const db = this.requireDb();
    return db.transaction(() => {
      const row = this.dispositionRow(key);
      if (!row) throw new Error(`alarm '${describeAlarm(key)}' is not in the disposal ledger`);
      const { actor, detail } = check(dispositionFromRow(row));
      this.append(key, action, actor, detail);
      return dispositionFromRow(this.dispositionRow(key)!);
    })();
  }

  /** Appends one chain row and writes the projection of it, in the caller's transaction. */
  private append(
    key: AlarmKey,
    action: DisposalAction,
    actor: string,
    detail: Record<string, unknown>,
  ): DisposalEvent {
    const db = this.requireDb();
    const event = appendRow(db, this.key, {
      enterpriseId: key.enterpriseId,
      gatewayId: key.gatewayId,
      alarmId: key.alarmId,
      action,
      actor,
      detail,
      at: this.clock.now(),
    });
    const current = this.dispositionRow(key);
    writeDisposition(
      db,
      applyDisposalEvent(current ? dispositionFromRow(current) : undefined, event),
    );
    return event;
  }

  private dispositionRow(key: AlarmKey): DispositionRow | undefined {
    return this.requireDb()
      .prepare<[string, string, string], DispositionRow>(
        `SELECT * FROM alarm_dispositions WHERE ${KEY_WHERE}`,
      )
      .get(...keyParams(key));
  }

  private hasAction(key: AlarmKey, action: DisposalAction): boolean {
    return (
      this.requireDb()
        .prepare<[string, string, string, string], number>(
          `SELECT 1 FROM disposal_events WHERE ${KEY_WHERE} AND action = ? LIMIT 1`,
        )
        .pluck()
        .get(...keyParams(key), action) !== undefined
    );
  }

  private requireDb(): SqliteDatabase {
    if (!this.db) throw new Error('disposal ledger is not started');
    return this.db;
  }
}

function openReadonly(path: string, what: string): SqliteDatabase {
  let db: SqliteDatabase;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new Error(`cannot open ${what} read-only: ${(err as Error).message}`, { cause: err });
  }
  const version = schemaVersionReadonly(db, 'disposal-ledger');
  if (version !== DISPOSAL_LEDGER_SCHEMA_VERSION) {
    db.close();
    throw new Error(
      `${what} has schema version ${version ?? 'none (version 1 or no ledger)'}, not ${DISPOSAL_LEDGER_SCHEMA_VERSION}: start the server once to migrate it`,
    );
  }
  return db;
}
