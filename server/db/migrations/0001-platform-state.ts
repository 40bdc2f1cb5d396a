/**
 * Migration 0001: the platform state tables exactly as the embedded stores create them today
 * (same tables, columns, keys, checks, indexes and append-only triggers), written once for both
 * engines.
 *
 * Adoption: every statement is IF NOT EXISTS, so an embedded file that the current stores made
 * is taken over as it is, rows untouched. The stores kept their own versions in
 * `schema_versions` (server/alarms/schema-version.ts); a file whose tables are at another
 * version than the ones below was never migrated by this release's stores, and creating nothing
 * over it would leave old columns in place, so it is refused by name instead.
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

/** Component versions (schema_versions rows) whose tables this migration matches. */
export const ADOPTABLE_COMPONENT_VERSIONS = [
  { component: 'alarm-ledger', table: 'alarms', version: 2 },
  { component: 'disposal-ledger', table: 'disposal_events', version: 2 },
  { component: 'linkage-deliveries', table: 'linkage_deliveries', version: 2 },
  { component: 'linkage-mqtt', table: 'linkage_mqtt', version: 2 },
] as const;

async function refuseUnmigratedEmbeddedTables(db: MigrationDb): Promise<void> {
  const tables = new Set(
    (
      await sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table'`.execute(db)
    ).rows.map((r) => r.name),
  );
  const versions = new Map<string, number>();
  if (tables.has('schema_versions')) {
    const rows = await sql<{
      component: string;
      version: number;
    }>`SELECT component, version FROM schema_versions`.execute(db);
    for (const r of rows.rows) versions.set(r.component, r.version);
  }
  for (const c of ADOPTABLE_COMPONENT_VERSIONS) {
    if (!tables.has(c.table)) continue;
    // A table without a version row predates versioning: version 1 (schema-version.ts).
    const found = versions.get(c.component) ?? 1;
    if (found !== c.version) {
      throw new Error(
        `migration 0001: table '${c.table}' is at schema version ${found} of '${c.component}', not ${c.version}; the embedded server upgrades such a file as it starts (server/db/embedded-upgrade.ts); start it once on this file, then open it here`,
      );
    }
  }
}

export async function up(db: MigrationDb): Promise<void> {
  const dialect = dialectOf(db);
  if (dialect === 'sqlite') await refuseUnmigratedEmbeddedTables(db);

  // Alarm ledger (server/alarms/ledger-schema.ts, version 2).
  await db.schema
    .createTable('alarms')
    .ifNotExists()
    .addColumn('alarm_id', 'text', (c) => c.notNull())
    .addColumn('gateway_id', 'text', (c) => c.notNull())
    .addColumn('enterprise_id', 'text', (c) => c.notNull())
    .addColumn('rule_id', 'text', (c) => c.notNull())
    .addColumn('sensor_id', 'text', (c) => c.notNull())
    .addColumn('sensor_name', 'text')
    .addColumn('installation_id', 'text')
    .addColumn('location', 'text')
    .addColumn('gas', 'text')
    .addColumn('level', 'integer', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull().check(sql`state IN ('active', 'cleared')`))
    .addColumn('value', DOUBLE)
    .addColumn('unit', 'text', (c) => c.notNull())
    .addColumn('setpoint', DOUBLE, (c) => c.notNull())
    .addColumn('raised_at', BIGINT)
    .addColumn('cleared_at', BIGINT)
    .addColumn('drill', 'integer', (c) => c.notNull())
    .addColumn('message', 'text')
    .addColumn('received_at', BIGINT, (c) => c.notNull())
    .addPrimaryKeyConstraint('alarms_pkey', ['enterprise_id', 'gateway_id', 'alarm_id'])
    .execute();
  const recent = sql`COALESCE(raised_at, cleared_at)`;
  await db.schema
    .createIndex('alarms_recent')
    .ifNotExists()
    .on('alarms')
    .expression(recent)
    .execute();
  await db.schema
    .createIndex('alarms_state_recent')
    .ifNotExists()
    .on('alarms')
    .expression(sql`state, ${recent}`)
    .execute();
  await db.schema
    .createIndex('alarms_enterprise_recent')
    .ifNotExists()
    .on('alarms')
    .expression(sql`enterprise_id, ${recent}`)
    .execute();

  await createTableWithAutoId(db, 'alarm_events', 'event_id', (t) =>
    t
      .addColumn('alarm_id', 'text', (c) => c.notNull())
      .addColumn('transition', 'text', (c) => c.notNull())
      .addColumn('gateway_id', 'text', (c) => c.notNull())
      .addColumn('enterprise_id', 'text', (c) => c.notNull())
      .addColumn('seq', BIGINT, (c) => c.notNull())
      .addColumn('ts', BIGINT, (c) => c.notNull())
      .addColumn('sent_at', BIGINT, (c) => c.notNull())
      .addColumn('received_at', BIGINT, (c) => c.notNull())
      .addColumn('level', 'integer', (c) => c.notNull())
      .addColumn('value', DOUBLE)
      .addColumn('drill', 'integer', (c) => c.notNull())
      .addColumn('payload', 'text', (c) => c.notNull())
      .addUniqueConstraint('alarm_events_identity_seq', [
        'enterprise_id',
        'gateway_id',
        'alarm_id',
        'transition',
        'seq',
      ]),
  );
  await makeAppendOnly(db, dialect, 'alarm_events');

  // Disposal chain and its projection (server/alarms/disposal-store.ts, version 2).
  await createTableWithAutoId(db, 'disposal_events', 'seq', (t) =>
    t
      .addColumn('enterprise_id', 'text', (c) => c.notNull())
      .addColumn('gateway_id', 'text', (c) => c.notNull())
      .addColumn('alarm_id', 'text', (c) => c.notNull())
      .addColumn('action', 'text', (c) => c.notNull())
      .addColumn('actor', 'text', (c) => c.notNull())
      .addColumn('detail', 'text', (c) => c.notNull())
      .addColumn('at', BIGINT, (c) => c.notNull())
      .addColumn('prev_hash', 'text', (c) => c.notNull())
      .addColumn('hash', 'text', (c) => c.notNull().unique()),
  );
  await db.schema
    .createIndex('disposal_events_alarm')
    .ifNotExists()
    .on('disposal_events')
    .columns(['enterprise_id', 'gateway_id', 'alarm_id', 'seq'])
    .execute();
  await makeAppendOnly(db, dialect, 'disposal_events');

  await db.schema
    .createTable('alarm_dispositions')
    .ifNotExists()
    .addColumn('enterprise_id', 'text', (c) => c.notNull())
    .addColumn('gateway_id', 'text', (c) => c.notNull())
    .addColumn('alarm_id', 'text', (c) => c.notNull())
    .addColumn('level', 'integer', (c) => c.notNull())
    .addColumn('drill', 'integer', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('opened_at', BIGINT, (c) => c.notNull())
    .addColumn('acknowledged_at', BIGINT)
    .addColumn('acknowledged_by', 'text')
    .addColumn('assignee', 'text')
    .addColumn('measures', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('closed_at', BIGINT)
    .addColumn('closed_by', 'text')
    .addColumn('escalation_level', 'integer', (c) => c.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('alarm_dispositions_pkey', ['enterprise_id', 'gateway_id', 'alarm_id'])
    .execute();
  await db.schema
    .createIndex('alarm_dispositions_open')
    .ifNotExists()
    .on('alarm_dispositions')
    .column('status')
    .execute();

  // Emergency notification (server/linkage/emergency-notifier.ts and mqtt-linkage.ts, version 2).
  await db.schema
    .createTable('linkage_deliveries')
    .ifNotExists()
    .addColumn('notification_id', 'text', (c) => c.primaryKey())
    .addColumn('enterprise_id', 'text', (c) => c.notNull())
    .addColumn('gateway_id', 'text', (c) => c.notNull())
    .addColumn('alarm_id', 'text', (c) => c.notNull())
    .addColumn('centre_id', 'text', (c) => c.notNull())
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull().check(sql`state IN ('pending', 'delivered')`))
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_status', 'integer')
    .addColumn('last_error', 'text')
    .addColumn('created_at', BIGINT, (c) => c.notNull())
    .addColumn('next_attempt_at', BIGINT)
    .addColumn('delivered_at', BIGINT)
    .addUniqueConstraint('linkage_deliveries_identity_centre', [
      'enterprise_id',
      'gateway_id',
      'alarm_id',
      'centre_id',
    ])
    .execute();
  await db.schema
    .createIndex('linkage_deliveries_state')
    .ifNotExists()
    .on('linkage_deliveries')
    .column('state')
    .execute();
  await db.schema
    .createTable('linkage_mqtt')
    .ifNotExists()
    .addColumn('notification_id', 'text', (c) => c.primaryKey())
    .addColumn('enterprise_id', 'text', (c) => c.notNull())
    .addColumn('gateway_id', 'text', (c) => c.notNull())
    .addColumn('alarm_id', 'text', (c) => c.notNull())
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('created_at', BIGINT, (c) => c.notNull())
    .addColumn('published_at', BIGINT)
    .addUniqueConstraint('linkage_mqtt_identity', ['enterprise_id', 'gateway_id', 'alarm_id'])
    .execute();
  await db.schema
    .createTable('linkage_mqtt_receipts')
    .ifNotExists()
    .addColumn('notification_id', 'text', (c) => c.notNull())
    .addColumn('centre_id', 'text', (c) => c.notNull())
    .addColumn('received_at', BIGINT, (c) => c.notNull())
    .addPrimaryKeyConstraint('linkage_mqtt_receipts_pkey', ['notification_id', 'centre_id'])
    .execute();

  // Enterprise registry (server/platform/registry.ts).
  await db.schema
    .createTable('registry_enterprises')
    .ifNotExists()
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('province', 'text')
    .addColumn('city', 'text')
    .addColumn('county', 'text')
    .addColumn('park', 'text')
    .execute();
  await db.schema
    .createTable('registry_installations')
    .ifNotExists()
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('enterprise_id', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('people_within_500m', 'integer', (c) => c.notNull())
    .addColumn('inventory', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('registry_gateways')
    .ifNotExists()
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('enterprise_id', 'text', (c) => c.notNull())
    .addColumn('software', 'text')
    .addColumn('last_seen', BIGINT)
    .execute();
  await db.schema
    .createTable('registry_sensors')
    .ifNotExists()
    .addColumn('gateway_id', 'text', (c) => c.notNull())
    .addColumn('sensor_id', 'text', (c) => c.notNull())
    .addColumn('enterprise_id', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('unit', 'text', (c) => c.notNull())
    .addColumn('gas', 'text')
    .addColumn('installation_id', 'text')
    .addColumn('location', 'text')
    .addColumn('range_min', DOUBLE)
    .addColumn('range_max', DOUBLE)
    .addColumn('setpoint_l1', DOUBLE)
    .addColumn('setpoint_l2', DOUBLE)
    .addPrimaryKeyConstraint('registry_sensors_pkey', ['gateway_id', 'sensor_id'])
    .execute();
  await db.schema
    .createIndex('registry_sensors_enterprise')
    .ifNotExists()
    .on('registry_sensors')
    .column('enterprise_id')
    .execute();

  // Sessions (server/platform/access.ts); users stay in the config file.
  await db.schema
    .createTable('platform_sessions')
    .ifNotExists()
    .addColumn('token_hash', 'text', (c) => c.primaryKey())
    .addColumn('username', 'text', (c) => c.notNull())
    .addColumn('expires_at', BIGINT, (c) => c.notNull())
    .execute();

  // Security audit: a JSONL file in embedded mode (server/auth/audit-log.ts); a table here so
  // every node of a cluster writes to one place.
  await createTableWithAutoId(db, 'audit_records', 'id', (t) =>
    t
      .addColumn('at', BIGINT, (c) => c.notNull())
      .addColumn('time', 'text', (c) => c.notNull())
      .addColumn('node_id', 'text', (c) => c.notNull())
      .addColumn('category', 'text', (c) => c.notNull())
      .addColumn('event', 'text', (c) => c.notNull())
      .addColumn('reason', 'text', (c) => c.notNull())
      .addColumn('client_id', 'text')
      .addColumn('username', 'text')
      .addColumn('gateway_id', 'text')
      .addColumn('remote_address', 'text')
      .addColumn('topic', 'text')
      .addColumn('detail', 'text')
      .addColumn('payload_bytes', 'integer')
      .addColumn('suppressed_count', 'integer'),
  );
  await db.schema
    .createIndex('audit_records_at')
    .ifNotExists()
    .on('audit_records')
    .column('at')
    .execute();
}

/**
 * Down: the layer never drops evidence (ledger, chain, audit). Rolling back a release means
 * running the older release on a copy of the data, not deleting tables.
 */
export async function down(): Promise<void> {
  throw new Error('migration 0001 cannot be reverted: it holds the alarm ledger and audit');
}
