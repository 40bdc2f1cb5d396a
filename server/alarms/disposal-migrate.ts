import { createLogger } from '../../common/logger.js';
import type { SqliteDatabase } from '../store/sqlite.js';
import {
  applyDisposalEvent,
  type DisposalAction,
  type Disposition,
  GENESIS_HASH,
  legacyChainHash,
} from './disposal-chain.js';
import { appendRow, SCHEMA, writeDisposition } from './disposal-store.js';
import { alarmKeyString } from './identity.js';

const log = createLogger('server.disposal');

interface V1EventRow {
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

/**
 * Version 1 → 2: checks the old sha256 chain (logged, never fatal: a broken old chain is
 * evidence, kept as it is), keeps it as `disposal_events_v1`, replays it into the keyed chain and
 * rebuilds the projection. The gateway of each alarm comes from the alarm ledger (alarm ids were
 * unique in version 1); openedAt from the old dispositions table.
 */
export function migrateV1(db: SqliteDatabase, key: Buffer, what: string): void {
  const old = db.prepare<[], V1EventRow>('SELECT * FROM disposal_events ORDER BY seq').all();
  let prev = GENESIS_HASH;
  let brokenAt: number | null = null;
  for (const row of old) {
    const detail = JSON.parse(row.detail) as unknown;
    if (
      row.prev_hash !== prev ||
      legacyChainHash(prev, {
        ...row,
        alarmId: row.alarm_id,
        enterpriseId: row.enterprise_id,
        detail,
      }) !== row.hash
    ) {
      brokenAt = row.seq;
      break;
    }
    prev = row.hash;
  }
  const openedAt = new Map<string, number>();
  for (const d of db
    .prepare<[], { alarm_id: string; opened_at: number }>(
      'SELECT alarm_id, opened_at FROM alarm_dispositions',
    )
    .all()) {
    openedAt.set(d.alarm_id, d.opened_at);
  }
  const hasAlarms =
    db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alarms'").get() !==
    undefined;
  const gatewayOf = hasAlarms
    ? db
        .prepare<[string, string], string>(
          'SELECT gateway_id FROM alarms WHERE enterprise_id = ? AND alarm_id = ? LIMIT 1',
        )
        .pluck()
    : null;
  db.exec(`
    DROP INDEX IF EXISTS disposal_events_alarm;
    DROP INDEX IF EXISTS alarm_dispositions_open;
    DROP TRIGGER IF EXISTS disposal_events_no_update;
    DROP TRIGGER IF EXISTS disposal_events_no_delete;
    ALTER TABLE disposal_events RENAME TO disposal_events_v1;
    CREATE TRIGGER disposal_events_v1_no_update BEFORE UPDATE ON disposal_events_v1
      BEGIN SELECT RAISE(ABORT, 'disposal_events_v1 is kept as evidence'); END;
    CREATE TRIGGER disposal_events_v1_no_delete BEFORE DELETE ON disposal_events_v1
      BEGIN SELECT RAISE(ABORT, 'disposal_events_v1 is kept as evidence'); END;
    DROP TABLE alarm_dispositions;
    ${SCHEMA}
  `);
  const projected = new Map<string, Disposition>();
  for (const row of old) {
    const gatewayId = gatewayOf?.get(row.enterprise_id, row.alarm_id) ?? '_unknown';
    const detail = JSON.parse(row.detail) as Record<string, unknown>;
    if (row.action === 'raised' && openedAt.has(row.alarm_id))
      detail.openedAt = openedAt.get(row.alarm_id);
    const event = appendRow(db, key, {
      seq: row.seq,
      enterpriseId: row.enterprise_id,
      gatewayId,
      alarmId: row.alarm_id,
      action: row.action,
      actor: row.actor,
      detail,
      at: row.at,
    });
    const k = alarmKeyString(event);
    try {
      projected.set(k, applyDisposalEvent(projected.get(k), event));
    } catch (err) {
      log.warn(
        { err, seq: row.seq },
        'version-1 disposal row cannot be projected; kept in the chain',
      );
    }
  }
  for (const d of projected.values()) writeDisposition(db, d);
  const head = old.at(-1);
  log.warn(
    {
      what,
      rows: old.length,
      v1Head: head ? { seq: head.seq, hash: head.hash } : null,
      v1Chain: brokenAt === null ? 'verified ok' : `broken at seq ${brokenAt}`,
    },
    'migrated the version-1 disposal chain into the keyed chain; the original is kept in disposal_events_v1',
  );
}
