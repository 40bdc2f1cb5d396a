/**
 * Migration 0004: the fleet's tables (server/fleet/fleet-store.ts) exactly as the fleet store
 * created them in the server's SQLite file before it moved onto server/db: same tables, columns,
 * keys and NOT NULLs, every statement IF NOT EXISTS, so an embedded file that already holds
 * enrolled gateways is adopted as it is (tests/db/adoption.test.ts compares them).
 * Epoch milliseconds are BIGINT (INTEGER affinity in SQLite, as before).
 */
import { BIGINT, type MigrationDb } from './dialect.js';

export async function up(db: MigrationDb): Promise<void> {
  // Enrolment tokens: only the SHA-256 of a token; used_at set once, by the one enrolment that
  // consumed it (a conditional UPDATE, so single-use across nodes).
  await db.schema
    .createTable('fleet_tokens')
    .ifNotExists()
    .addColumn('token_hash', 'text', (c) => c.primaryKey())
    .addColumn('enterprise_id', 'text', (c) => c.notNull())
    .addColumn('gateway_id', 'text')
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', BIGINT, (c) => c.notNull())
    .addColumn('expires_at', BIGINT, (c) => c.notNull())
    .addColumn('used_at', BIGINT)
    .addColumn('used_by', 'text')
    .execute();
  // Enrolled gateways: scrypt hash of the MQTT password, the gateway's public key, revocation.
  await db.schema
    .createTable('fleet_gateways')
    .ifNotExists()
    .addColumn('gateway_id', 'text', (c) => c.primaryKey())
    .addColumn('enterprise_id', 'text', (c) => c.notNull())
    .addColumn('password_hash', 'text', (c) => c.notNull())
    .addColumn('public_key', 'text', (c) => c.notNull())
    .addColumn('key_fingerprint', 'text', (c) => c.notNull())
    .addColumn('enrolled_at', BIGINT, (c) => c.notNull())
    .addColumn('revoked_at', BIGINT)
    .addColumn('revoked_by', 'text')
    .addColumn('revoke_reason', 'text')
    .execute();
  // Every pushed version with its management-of-change record (JSON document).
  await db.schema
    .createTable('fleet_versions')
    .ifNotExists()
    .addColumn('gateway_id', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('document', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('fleet_versions_pkey', ['gateway_id', 'version'])
    .execute();
  // What each gateway last reported about its configuration (JSON).
  await db.schema
    .createTable('fleet_status')
    .ifNotExists()
    .addColumn('gateway_id', 'text', (c) => c.primaryKey())
    .addColumn('running_version', 'integer')
    .addColumn('last_status', 'text', (c) => c.notNull())
    .execute();
}

/** Down: the fleet tables hold the gateways' identities and the change records; never dropped. */
export async function down(): Promise<void> {
  throw new Error(
    'migration 0004 cannot be reverted: it holds enrolled identities and MoC records',
  );
}
