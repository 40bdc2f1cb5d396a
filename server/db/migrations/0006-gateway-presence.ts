/**
 * Migration 0006: gateway presence shared by the server nodes of a cluster
 * (server/cluster/presence-share.ts). Each node handles only the share of a gateway's status
 * messages and traffic that the broker's shared subscription hands it; every node upserts what
 * it saw here (batched), and merges the others' rows into its own registry, so the leader's
 * presence monitor decides on what ANY node saw.
 *
 * One row per gateway. Epoch milliseconds are BIGINT, on the clock of the node that wrote them:
 * - last_seen only grows (the upsert keeps the greatest);
 * - the status columns (state, stale_reason, clock_skew_ms, software, uplink, enterprise_id)
 *   move together, taken from whichever write has the newer state_at (0: known from traffic
 *   only, never a status);
 * - catalogue (the sensor catalogue of the latest birth, JSON) moves with catalogue_at;
 * - updated_at: when the row was last written, so a node pulls only rows changed lately.
 * Embedded (SQLite) mode creates the table and leaves it empty (one process is the cluster).
 */
import { sql } from 'kysely';
import { BIGINT, type MigrationDb } from './dialect.js';

export async function up(db: MigrationDb): Promise<void> {
  await db.schema
    .createTable('gateway_presence')
    .ifNotExists()
    .addColumn('gateway_id', 'text', (c) => c.primaryKey())
    .addColumn('enterprise_id', 'text', (c) => c.notNull())
    .addColumn('last_seen', BIGINT, (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull().check(sql`state IN ('online', 'offline')`))
    .addColumn('stale_reason', 'text', (c) =>
      c.check(sql`stale_reason IN ('offline', 'heartbeat-timeout')`),
    )
    .addColumn('state_at', BIGINT, (c) => c.notNull())
    .addColumn('state_by', 'text', (c) => c.notNull())
    .addColumn('clock_skew_ms', BIGINT)
    .addColumn('software', 'text')
    .addColumn('uplink', 'text')
    .addColumn('catalogue', 'text')
    .addColumn('catalogue_at', BIGINT)
    .addColumn('updated_at', BIGINT, (c) => c.notNull())
    .execute();
}

export async function down(db: MigrationDb): Promise<void> {
  // Presence is rebuilt by the running nodes from the gateways' next heartbeats: safe to drop.
  await db.schema.dropTable('gateway_presence').ifExists().execute();
}
