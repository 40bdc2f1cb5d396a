/**
 * Migration 0005: the emergency follow-ups table (server/linkage/emergency-notifier.ts), which
 * 0001 left out. Exactly what the embedded notifier creates today (IF NOT EXISTS, column for
 * column, same keys and checks), so an embedded file that has it is adopted as it is.
 */
import { sql } from 'kysely';
import { BIGINT, type MigrationDb } from './dialect.js';

export async function up(db: MigrationDb): Promise<void> {
  // One follow-up per paged notification and kind ('cleared', 'closed'): unique on both.
  await db.schema
    .createTable('linkage_followups')
    .ifNotExists()
    .addColumn('followup_id', 'text', (c) => c.primaryKey())
    .addColumn('notification_id', 'text', (c) => c.notNull())
    .addColumn('centre_id', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind IN ('cleared', 'closed')`))
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) =>
      c.notNull().check(sql`state IN ('pending', 'delivered', 'refused')`),
    )
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_status', 'integer')
    .addColumn('created_at', BIGINT, (c) => c.notNull())
    .addColumn('next_attempt_at', BIGINT)
    .addColumn('delivered_at', BIGINT)
    .addUniqueConstraint('linkage_followups_notification_kind', ['notification_id', 'kind'])
    .execute();
}

export async function down(db: MigrationDb): Promise<void> {
  // Follow-ups are told to centres already paged; dropping them loses only pending retries.
  await db.schema.dropTable('linkage_followups').ifExists().execute();
}
