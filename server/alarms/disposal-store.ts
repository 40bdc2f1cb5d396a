/**
 * The disposal ledger's tables and the two writes every path shares (one keyed chain row, one
 * projection row): on the platform database (server/db, Kysely) for the ledger, and the
 * synchronous better-sqlite3 forms the legacy version-1 upgrade (disposal-migrate.ts) still uses.
 */
import type { SqliteDatabase } from '../store/sqlite.js';
import {
  chainHash,
  type DisposalAction,
  type DisposalEvent,
  type Disposition,
  GENESIS_HASH,
} from './disposal-chain.js';
import { appendLink, type ChainHead, type ChainSpec, type Tx } from './hash-chain.js';
import type { AlarmKey } from './identity.js';

export type { ChainHead } from './hash-chain.js';

/** The disposal chain; its lock key is 'HWDISP' read as a number, used for nothing else. */
export const DISPOSAL_CHAIN: ChainSpec = { table: 'disposal_events', lockKey: 0x4857_4449_5350 };

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS disposal_events (
  seq           INTEGER PRIMARY KEY AUTOINCREMENT,
  enterprise_id TEXT NOT NULL,
  gateway_id    TEXT NOT NULL,
  alarm_id      TEXT NOT NULL,
  action        TEXT NOT NULL,
  actor         TEXT NOT NULL,
  detail        TEXT NOT NULL,
  at            INTEGER NOT NULL,
  prev_hash     TEXT NOT NULL,
  hash          TEXT NOT NULL UNIQUE
);
CREATE INDEX IF NOT EXISTS disposal_events_alarm
  ON disposal_events (enterprise_id, gateway_id, alarm_id, seq);
CREATE TRIGGER IF NOT EXISTS disposal_events_no_update BEFORE UPDATE ON disposal_events
  BEGIN SELECT RAISE(ABORT, 'disposal_events is append-only'); END;
CREATE TRIGGER IF NOT EXISTS disposal_events_no_delete BEFORE DELETE ON disposal_events
  BEGIN SELECT RAISE(ABORT, 'disposal_events is append-only'); END;
CREATE TABLE IF NOT EXISTS alarm_dispositions (
  enterprise_id    TEXT NOT NULL,
  gateway_id       TEXT NOT NULL,
  alarm_id         TEXT NOT NULL,
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
  escalation_level INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (enterprise_id, gateway_id, alarm_id)
);
CREATE INDEX IF NOT EXISTS alarm_dispositions_open ON alarm_dispositions (status);
`;

export interface EventRow {
  seq: number;
  enterprise_id: string;
  gateway_id: string;
  alarm_id: string;
  action: DisposalAction;
  actor: string;
  detail: string;
  at: number;
  prev_hash: string;
  hash: string;
}

export interface DispositionRow {
  enterprise_id: string;
  gateway_id: string;
  alarm_id: string;
  level: number;
  drill: number;
  status: Disposition['status'];
  opened_at: number;
  acknowledged_at: number | null;
  acknowledged_by: string | null;
  assignee: string | null;
  measures: number;
  closed_at: number | null;
  closed_by: string | null;
  escalation_level: number;
}

export const KEY_WHERE = 'enterprise_id = ? AND gateway_id = ? AND alarm_id = ?';
export const keyParams = (k: AlarmKey): [string, string, string] => [
  k.enterpriseId,
  k.gatewayId,
  k.alarmId,
];

export function eventFromRow(row: EventRow): DisposalEvent {
  return {
    seq: row.seq,
    enterpriseId: row.enterprise_id,
    gatewayId: row.gateway_id,
    alarmId: row.alarm_id,
    action: row.action,
    actor: row.actor,
    detail: JSON.parse(row.detail) as Record<string, unknown>,
    at: row.at,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

export function dispositionFromRow(row: DispositionRow): Disposition {
  return {
    enterpriseId: row.enterprise_id,
    gatewayId: row.gateway_id,
    alarmId: row.alarm_id,
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

export function dispositionToRow(d: Disposition): DispositionRow {
  return {
    enterprise_id: d.enterpriseId,
    gateway_id: d.gatewayId,
    alarm_id: d.alarmId,
    level: d.level,
    drill: d.drill ? 1 : 0,
    status: d.status,
    opened_at: d.openedAt,
    acknowledged_at: d.acknowledgedAt,
    acknowledged_by: d.acknowledgedBy,
    assignee: d.assignee,
    measures: d.measures,
    closed_at: d.closedAt,
    closed_by: d.closedBy,
    escalation_level: d.escalationLevel,
  };
}

/** Appends one keyed row after the head, in `trx` (which holds the chain lock, hash-chain.ts). */
export async function appendEvent(
  trx: Tx,
  key: Buffer,
  row: Omit<DisposalEvent, 'seq' | 'prevHash' | 'hash'>,
): Promise<DisposalEvent> {
  // Round-trip the detail through JSON so the hashed form is the stored form.
  const detail = JSON.parse(JSON.stringify(row.detail)) as Record<string, unknown>;
  const {
    row: event,
    prevHash,
    hash,
  } = await appendLink(trx, DISPOSAL_CHAIN, {
    build: (seq) => ({ ...row, seq, detail }),
    link: (prev, e) => chainHash(key, prev, e),
    insert: async (t, e, prev, h) => {
      await t
        .insertInto('disposal_events')
        .values({
          seq: e.seq,
          enterprise_id: e.enterpriseId,
          gateway_id: e.gatewayId,
          alarm_id: e.alarmId,
          action: e.action,
          actor: e.actor,
          detail: JSON.stringify(e.detail),
          at: e.at,
          prev_hash: prev,
          hash: h,
        })
        .execute();
    },
  });
  return { ...event, prevHash, hash };
}

/** Writes (inserts or replaces) the projection row of one alarm, in `trx`. */
export async function upsertDisposition(trx: Tx, d: Disposition): Promise<void> {
  const { enterprise_id, gateway_id, alarm_id, ...rest } = dispositionToRow(d);
  await trx
    .insertInto('alarm_dispositions')
    .values({ enterprise_id, gateway_id, alarm_id, ...rest })
    .onConflict((oc) => oc.columns(['enterprise_id', 'gateway_id', 'alarm_id']).doUpdateSet(rest))
    .execute();
}

/** Legacy (better-sqlite3, disposal-migrate.ts only): one keyed row after the current head. */
export function appendRow(
  db: SqliteDatabase,
  key: Buffer,
  row: Omit<DisposalEvent, 'seq' | 'prevHash' | 'hash'> & { seq?: number },
): DisposalEvent {
  const last = db
    .prepare<[], ChainHead>('SELECT seq, hash FROM disposal_events ORDER BY seq DESC LIMIT 1')
    .get();
  const prevHash = last?.hash ?? GENESIS_HASH;
  const seq = row.seq ?? (last?.seq ?? 0) + 1;
  // Round-trip the detail through JSON so the hashed form is the stored form.
  const detail = JSON.parse(JSON.stringify(row.detail)) as Record<string, unknown>;
  const event = { ...row, seq, detail };
  const hash = chainHash(key, prevHash, event);
  db.prepare(
    `INSERT INTO disposal_events
       (seq, enterprise_id, gateway_id, alarm_id, action, actor, detail, at, prev_hash, hash)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    seq,
    event.enterpriseId,
    event.gatewayId,
    event.alarmId,
    event.action,
    event.actor,
    JSON.stringify(detail),
    event.at,
    prevHash,
    hash,
  );
  return { ...event, prevHash, hash };
}

/** Legacy (better-sqlite3, disposal-migrate.ts only). */
export function writeDisposition(db: SqliteDatabase, d: Disposition): void {
  db.prepare(
    `INSERT OR REPLACE INTO alarm_dispositions VALUES (@enterprise_id, @gateway_id, @alarm_id,
       @level, @drill, @status, @opened_at, @acknowledged_at, @acknowledged_by, @assignee,
       @measures, @closed_at, @closed_by, @escalation_level)`,
  ).run(dispositionToRow(d));
}
