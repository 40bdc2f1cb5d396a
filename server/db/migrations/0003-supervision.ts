/**
 * Migration 0003: the supervision store's tables (server/supervision/store.ts: the hazard
 * ledger's keyed chain and its projection, the screening conditions that hold, the grade
 * history, the gateway outages), column for column, with the indexes and append-only triggers,
 * as the embedded store created them ('hazard-ledger' version 1; its DDL is kept as the
 * adoption test's input, tests/db/legacy-platform-ddl.ts LEGACY_SUPERVISION_DDL). Every
 * statement is IF NOT EXISTS, so an embedded file the store made is adopted as it is, rows
 * untouched.
 */
import { sql } from 'kysely';
import {
  BIGINT,
  createTableWithAutoId,
  DOUBLE,
  dialectOf,
  type MigrationDb,
  makeAppendOnly,
} from './dialect.js';

/** The only version of 'hazard-ledger' there has been; another one is refused by name. */
export const ADOPTABLE_HAZARD_LEDGER_VERSION = 1;

async function refuseOtherEmbeddedVersion(db: MigrationDb): Promise<void> {
  const hasVersions = await sql<{ name: string }>`SELECT name FROM sqlite_master
    WHERE type = 'table' AND name = 'schema_versions'`.execute(db);
  if (hasVersions.rows.length === 0) return; // no store has run on this file: nothing to adopt
  const found = await sql<{ version: number }>`SELECT version FROM schema_versions
    WHERE component = 'hazard-ledger'`.execute(db);
  const version = found.rows[0]?.version;
  if (version !== undefined && version !== ADOPTABLE_HAZARD_LEDGER_VERSION) {
    throw new Error(
      `migration 0003: the hazard ledger tables are at schema version ${version} of 'hazard-ledger', not ${ADOPTABLE_HAZARD_LEDGER_VERSION}; this release cannot adopt them`,
    );
  }
}

export async function up(db: MigrationDb): Promise<void> {
  const dialect = dialectOf(db);
  if (dialect === 'sqlite') await refuseOtherEmbeddedVersion(db);

  // Hazard ledger chain (keyed like the disposal chain: server/alarms/hash-chain.ts).
  await createTableWithAutoId(db, 'hazard_events', 'seq', (t) =>
    t
      .addColumn('enterprise_id', 'text', (c) => c.notNull())
      .addColumn('installation_id', 'text')
      .addColumn('hazard_id', 'text', (c) => c.notNull())
      .addColumn('action', 'text', (c) => c.notNull())
      .addColumn('actor', 'text', (c) => c.notNull())
      .addColumn('detail', 'text', (c) => c.notNull())
      .addColumn('at', BIGINT, (c) => c.notNull())
      .addColumn('prev_hash', 'text', (c) => c.notNull())
      .addColumn('hash', 'text', (c) => c.notNull().unique()),
  );
  await db.schema
    .createIndex('hazard_events_hazard')
    .ifNotExists()
    .on('hazard_events')
    .columns(['hazard_id', 'seq'])
    .execute();
  await makeAppendOnly(db, dialect, 'hazard_events');

  // Its projection: one row per hazard record, the record as JSON.
  await db.schema
    .createTable('hazards')
    .ifNotExists()
    .addColumn('hazard_id', 'text', (c) => c.primaryKey())
    .addColumn('enterprise_id', 'text', (c) => c.notNull())
    .addColumn('installation_id', 'text')
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('severity', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('rule_id', 'text')
    .addColumn('subject', 'text')
    .addColumn('opened_at', BIGINT, (c) => c.notNull())
    .addColumn('record', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('hazards_enterprise')
    .ifNotExists()
    .on('hazards')
    .columns(['enterprise_id', 'opened_at'])
    .execute();
  await db.schema
    .createIndex('hazards_subject')
    .ifNotExists()
    .on('hazards')
    .columns(['rule_id', 'subject', 'status'])
    .execute();

  await db.schema
    .createTable('supervision_conditions')
    .ifNotExists()
    .addColumn('rule_id', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('since', BIGINT, (c) => c.notNull())
    .addPrimaryKeyConstraint('supervision_conditions_pkey', ['rule_id', 'subject'])
    .execute();

  await createTableWithAutoId(db, 'supervision_grade_history', 'id', (t) =>
    t
      .addColumn('installation_id', 'text', (c) => c.notNull())
      .addColumn('enterprise_id', 'text', (c) => c.notNull())
      .addColumn('at', BIGINT, (c) => c.notNull())
      .addColumn('sum_ratio', DOUBLE, (c) => c.notNull())
      .addColumn('r', DOUBLE, (c) => c.notNull())
      .addColumn('is_major', 'integer', (c) => c.notNull())
      .addColumn('grade', 'integer')
      .addColumn('previous_grade', 'integer')
      .addColumn('inventory', 'text', (c) => c.notNull()),
  );
  await db.schema
    .createIndex('supervision_grade_history_inst')
    .ifNotExists()
    .on('supervision_grade_history')
    .columns(['installation_id', 'id'])
    .execute();

  await createTableWithAutoId(db, 'supervision_outages', 'id', (t) =>
    t
      .addColumn('enterprise_id', 'text', (c) => c.notNull())
      .addColumn('gateway_id', 'text', (c) => c.notNull())
      .addColumn('started_at', BIGINT, (c) => c.notNull())
      .addColumn('ended_at', BIGINT)
      .addColumn('points', 'integer', (c) => c.notNull()),
  );
  await db.schema
    .createIndex('supervision_outages_gateway')
    .ifNotExists()
    .on('supervision_outages')
    .columns(['gateway_id', 'id'])
    .execute();
}
