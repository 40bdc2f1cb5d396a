/**
 * The platform state as Kysely sees it: one interface per table, column names exactly as the
 * embedded SQLite stores named them (server/alarms/ledger-schema.ts, disposal-store.ts,
 * server/linkage/*.ts, server/platform/registry.ts, access.ts, server/fleet/fleet-store.ts), so an existing file is adopted
 * as it is and its rows copy to PostgreSQL column for column.
 *
 * Types are what both engines return: integers and epoch milliseconds as `number` (PostgreSQL
 * BIGINT is parsed to a number by the layer, server/db/database.ts), booleans as 0/1 integers
 * (SQLite has no boolean; the stores already store `drill` that way), JSON as text.
 * `Generated<T>` marks a column the database fills (identity, default).
 */
import type { ColumnType, Generated } from 'kysely';

/** Alarm ledger: one row per alarm identity, its latest state (server/alarms/ledger.ts). */
export interface AlarmsTable {
  alarm_id: string;
  gateway_id: string;
  enterprise_id: string;
  rule_id: string;
  sensor_id: string;
  sensor_name: string | null;
  installation_id: string | null;
  location: string | null;
  gas: string | null;
  level: number;
  state: 'active' | 'cleared';
  value: number | null;
  unit: string;
  setpoint: number;
  raised_at: number | null;
  cleared_at: number | null;
  drill: number;
  message: string | null;
  received_at: number;
}

/** Alarm ledger: every transition as received, append-only. */
export interface AlarmEventsTable {
  event_id: Generated<number>;
  alarm_id: string;
  transition: string;
  gateway_id: string;
  enterprise_id: string;
  /** The gateway's sequence number. */
  seq: number;
  /** Edge time of the transition. */
  ts: number;
  sent_at: number;
  /** Server clock. */
  received_at: number;
  level: number;
  value: number | null;
  drill: number;
  /** The event as received (JSON). */
  payload: string;
}

/** Disposal chain: keyed hash chain of disposal steps, append-only (disposal-chain.ts). */
export interface DisposalEventsTable {
  seq: Generated<number>;
  enterprise_id: string;
  gateway_id: string;
  alarm_id: string;
  action: string;
  actor: string;
  /** JSON. */
  detail: string;
  at: number;
  prev_hash: string;
  hash: string;
}

type DefaultZero = ColumnType<number, number | undefined, number>;

/** Disposal projection: one row per alarm identity, rebuilt from the chain. */
export interface AlarmDispositionsTable {
  enterprise_id: string;
  gateway_id: string;
  alarm_id: string;
  level: number;
  drill: number;
  status: string;
  opened_at: number;
  acknowledged_at: number | null;
  acknowledged_by: string | null;
  assignee: string | null;
  measures: DefaultZero;
  closed_at: number | null;
  closed_by: string | null;
  /** 0 enterprise … 3 province: escalation state lives here. */
  escalation_level: DefaultZero;
}

/** Emergency notification over HTTP: one row per (alarm identity, centre). */
export interface LinkageDeliveriesTable {
  notification_id: string;
  enterprise_id: string;
  gateway_id: string;
  alarm_id: string;
  centre_id: string;
  /** The JSON sent on every attempt. */
  body: string;
  state: 'pending' | 'delivered';
  attempts: DefaultZero;
  last_status: number | null;
  last_error: string | null;
  created_at: number;
  next_attempt_at: number | null;
  delivered_at: number | null;
}

/** Follow-ups ('cleared', 'closed') of a paged notification: one per notification and kind. */
export interface LinkageFollowupsTable {
  /** `<notificationId>.<kind>`. */
  followup_id: string;
  notification_id: string;
  centre_id: string;
  kind: 'cleared' | 'closed';
  /** The JSON sent on every attempt. */
  body: string;
  state: 'pending' | 'delivered' | 'refused';
  attempts: DefaultZero;
  last_status: number | null;
  created_at: number;
  next_attempt_at: number | null;
  delivered_at: number | null;
}

/** Emergency notification over MQTT: one publication per alarm identity. */
export interface LinkageMqttTable {
  notification_id: string;
  enterprise_id: string;
  gateway_id: string;
  alarm_id: string;
  body: string;
  state: string;
  created_at: number;
  published_at: number | null;
}

export interface LinkageMqttReceiptsTable {
  notification_id: string;
  centre_id: string;
  received_at: number;
}

/** Enterprise registry (server/platform/registry.ts). */
export interface RegistryEnterprisesTable {
  id: string;
  name: string;
  province: string | null;
  city: string | null;
  county: string | null;
  park: string | null;
}

export interface RegistryInstallationsTable {
  id: string;
  enterprise_id: string;
  name: string;
  people_within_500m: number;
  /** JSON. */
  inventory: string;
}

export interface RegistryGatewaysTable {
  id: string;
  enterprise_id: string;
  software: string | null;
  last_seen: number | null;
}

export interface RegistrySensorsTable {
  gateway_id: string;
  sensor_id: string;
  enterprise_id: string;
  name: string;
  kind: string;
  unit: string;
  gas: string | null;
  installation_id: string | null;
  location: string | null;
  range_min: number | null;
  range_max: number | null;
  setpoint_l1: number | null;
  setpoint_l2: number | null;
}

/** Sessions: only the sha256 of a token is stored (server/platform/access.ts). */
export interface PlatformSessionsTable {
  token_hash: string;
  username: string;
  expires_at: number;
}

/**
 * Security audit (server/auth/audit-log.ts writes JSONL today): one row per AuditRecord, its
 * camelCase fields in snake_case, `at` in epoch ms beside the ISO `time`, and the node that
 * recorded it (in a cluster several nodes write).
 */
export interface AuditRecordsTable {
  id: Generated<number>;
  at: number;
  time: string;
  node_id: string;
  category: string;
  event: string;
  reason: string;
  client_id: string | null;
  username: string | null;
  gateway_id: string | null;
  remote_address: string | null;
  topic: string | null;
  detail: string | null;
  payload_bytes: number | null;
  /** AuditRecord.count: records the rate limit held back ('suppressed'). */
  suppressed_count: number | null;
}

/** Fleet enrolment tokens: only the SHA-256 of a token (server/fleet/fleet-store.ts). */
export interface FleetTokensTable {
  token_hash: string;
  enterprise_id: string;
  gateway_id: string | null;
  created_by: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
  used_by: string | null;
}

/** Enrolled gateways: scrypt hash of the MQTT password, public key, revocation. */
export interface FleetGatewaysTable {
  gateway_id: string;
  enterprise_id: string;
  password_hash: string;
  public_key: string;
  key_fingerprint: string;
  enrolled_at: number;
  revoked_at: number | null;
  revoked_by: string | null;
  revoke_reason: string | null;
}

/** Every pushed configuration version with its management-of-change record. */
export interface FleetVersionsTable {
  gateway_id: string;
  version: number;
  /** FleetConfigDocument (JSON). */
  document: string;
}

/** What each gateway last reported about its configuration. */
export interface FleetStatusTable {
  gateway_id: string;
  running_version: number | null;
  /** FleetConfigStatus (JSON). */
  last_status: string;
}

/** Cluster: who pages a centre for one notification (server/db/delivery-claims.ts). */
export interface DeliveryClaimsTable {
  notification_id: string;
  owner: string;
  claimed_at: number;
  lease_until: number;
  completed_at: number | null;
}

/** Embedded mode's leader lease (server/db/leader-election.ts); PostgreSQL uses advisory locks. */
export interface LeaderLeasesTable {
  name: string;
  holder: string;
  term: number;
  expires_at: number;
}

/** Hazard ledger chain: keyed like the disposal chain, append-only (server/supervision/store.ts). */
export interface HazardEventsTable {
  seq: Generated<number>;
  enterprise_id: string;
  installation_id: string | null;
  hazard_id: string;
  action: string;
  actor: string;
  /** JSON. */
  detail: string;
  at: number;
  prev_hash: string;
  hash: string;
}

/** Hazard ledger projection: one row per record, the record itself as JSON. */
export interface HazardsTable {
  hazard_id: string;
  enterprise_id: string;
  installation_id: string | null;
  kind: string;
  severity: string;
  status: string;
  rule_id: string | null;
  subject: string | null;
  opened_at: number;
  /** JSON of the Hazard. */
  record: string;
}

/** Screening conditions that hold, with when they started holding. */
export interface SupervisionConditionsTable {
  rule_id: string;
  subject: string;
  since: number;
}

export interface SupervisionGradeHistoryTable {
  id: Generated<number>;
  installation_id: string;
  enterprise_id: string;
  at: number;
  sum_ratio: number;
  r: number;
  is_major: number;
  grade: number | null;
  previous_grade: number | null;
  /** JSON. */
  inventory: string;
}

export interface SupervisionOutagesTable {
  id: Generated<number>;
  enterprise_id: string;
  gateway_id: string;
  started_at: number;
  ended_at: number | null;
  points: number;
}

/**
 * Cluster: gateway presence as every node saw it (server/cluster/presence-share.ts, migration
 * 0006). Epoch ms on the writing node's clock; state_at 0 = known from traffic only.
 */
export interface GatewayPresenceTable {
  gateway_id: string;
  enterprise_id: string;
  /** Greatest sighting of any node. */
  last_seen: number;
  state: 'online' | 'offline';
  stale_reason: 'offline' | 'heartbeat-timeout' | null;
  state_at: number;
  /** The node that took the current state. */
  state_by: string;
  clock_skew_ms: number | null;
  software: string | null;
  /** UplinkStatus (JSON) of the latest heartbeat. */
  uplink: string | null;
  /** SensorInfo[] (JSON) of the latest birth. */
  catalogue: string | null;
  catalogue_at: number | null;
  updated_at: number;
}

export interface PlatformSchema {
  alarms: AlarmsTable;
  alarm_events: AlarmEventsTable;
  disposal_events: DisposalEventsTable;
  alarm_dispositions: AlarmDispositionsTable;
  linkage_deliveries: LinkageDeliveriesTable;
  linkage_followups: LinkageFollowupsTable;
  linkage_mqtt: LinkageMqttTable;
  linkage_mqtt_receipts: LinkageMqttReceiptsTable;
  registry_enterprises: RegistryEnterprisesTable;
  registry_installations: RegistryInstallationsTable;
  registry_gateways: RegistryGatewaysTable;
  registry_sensors: RegistrySensorsTable;
  platform_sessions: PlatformSessionsTable;
  audit_records: AuditRecordsTable;
  delivery_claims: DeliveryClaimsTable;
  leader_leases: LeaderLeasesTable;
  hazard_events: HazardEventsTable;
  hazards: HazardsTable;
  supervision_conditions: SupervisionConditionsTable;
  supervision_grade_history: SupervisionGradeHistoryTable;
  supervision_outages: SupervisionOutagesTable;
  fleet_tokens: FleetTokensTable;
  fleet_gateways: FleetGatewaysTable;
  fleet_versions: FleetVersionsTable;
  fleet_status: FleetStatusTable;
  gateway_presence: GatewayPresenceTable;
}

/** Tables that refuse UPDATE and DELETE (evidence: ledgers and chains). */
export const APPEND_ONLY_TABLES = ['alarm_events', 'disposal_events', 'hazard_events'] as const;
