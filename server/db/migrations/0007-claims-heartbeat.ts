/**
 * Migration 0007: indexes for the liveness-based delivery claims (server/db/delivery-claims.ts,
 * issue 14). Every node now renews its open claims once a second and sweeps for pending
 * deliveries and follow-ups once a second, so neither may scan tables that grow with every
 * alarm ever paged:
 * - the heartbeat (`owner = me AND completed_at IS NULL`) reads a partial index of the open
 *   claims by owner, a handful of rows however many claims were ever completed;
 * - the sweep's follow-ups query (`state = 'pending'`) reads an index on state, as the
 *   deliveries' query already does (linkage_deliveries_state, migration 0001).
 * Indexes only (IF NOT EXISTS): no table changes, so embedded files are adopted as they are.
 */
import { sql } from 'kysely';
import type { MigrationDb } from './dialect.js';

export async function up(db: MigrationDb): Promise<void> {
  await db.schema
    .createIndex('delivery_claims_open_owner')
    .ifNotExists()
    .on('delivery_claims')
    .column('owner')
    .where(sql.ref('completed_at'), 'is', null)
    .execute();
  await db.schema
    .createIndex('linkage_followups_state')
    .ifNotExists()
    .on('linkage_followups')
    .column('state')
    .execute();
}

export async function down(db: MigrationDb): Promise<void> {
  await db.schema.dropIndex('linkage_followups_state').ifExists().execute();
  await db.schema.dropIndex('delivery_claims_open_owner').ifExists().execute();
}
