/**
 * Migration 0002: the tables behind the cluster primitives. Both engines get both tables, so the
 * schema is one schema whatever the mode; PostgreSQL elects its leader with an advisory lock
 * and leaves `leader_leases` empty.
 */
import { BIGINT, type MigrationDb } from './dialect.js';

export async function up(db: MigrationDb): Promise<void> {
  // server/db/delivery-claims.ts: one row per notification (alarm identity × centre); the row's
  // owner is the one node that pages the centre, until it completes or its lease runs out.
  await db.schema
    .createTable('delivery_claims')
    .ifNotExists()
    .addColumn('notification_id', 'text', (c) => c.primaryKey())
    .addColumn('owner', 'text', (c) => c.notNull())
    .addColumn('claimed_at', BIGINT, (c) => c.notNull())
    .addColumn('lease_until', BIGINT, (c) => c.notNull())
    .addColumn('completed_at', BIGINT)
    .execute();
  // Claims a dead node left behind are found by their lease among the unfinished ones.
  await db.schema
    .createIndex('delivery_claims_open')
    .ifNotExists()
    .on('delivery_claims')
    .columns(['completed_at', 'lease_until'])
    .execute();

  // server/db/leader-election.ts, embedded mode: one row per election, renewed by its holder.
  await db.schema
    .createTable('leader_leases')
    .ifNotExists()
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('holder', 'text', (c) => c.notNull())
    .addColumn('term', BIGINT, (c) => c.notNull())
    .addColumn('expires_at', BIGINT, (c) => c.notNull())
    .execute();
}

export async function down(db: MigrationDb): Promise<void> {
  // Claims and leases are coordination state, rebuilt by the running nodes: safe to drop.
  await db.schema.dropTable('leader_leases').ifExists().execute();
  await db.schema.dropTable('delivery_claims').ifExists().execute();
}
