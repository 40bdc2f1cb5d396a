/**
 * What the registry, access control and fleet stores created in the embedded SQLite file before
 * they moved onto server/db (issue 14), copied verbatim from those stores (commit a4583ae):
 * server/platform/registry.ts SCHEMA, server/platform/access.ts platform_sessions and
 * server/fleet/fleet-store.ts SCHEMA; and what the supervision store created, the hazard ledger
 * at component 'hazard-ledger' version 1 (server/supervision/sql.ts SCHEMA, until it moved here).
 * The adoption test makes a file with them and checks the layer's migrations create the same
 * tables and adopt the rows.
 */
export const LEGACY_REGISTRY_DDL = `
CREATE TABLE IF NOT EXISTS registry_enterprises (
  id TEXT PRIMARY KEY, name TEXT NOT NULL,
  province TEXT, city TEXT, county TEXT, park TEXT
);
CREATE TABLE IF NOT EXISTS registry_installations (
  id TEXT PRIMARY KEY, enterprise_id TEXT NOT NULL, name TEXT NOT NULL,
  people_within_500m INTEGER NOT NULL, inventory TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS registry_gateways (
  id TEXT PRIMARY KEY, enterprise_id TEXT NOT NULL, software TEXT, last_seen INTEGER
);
CREATE TABLE IF NOT EXISTS registry_sensors (
  gateway_id TEXT NOT NULL, sensor_id TEXT NOT NULL, enterprise_id TEXT NOT NULL,
  name TEXT NOT NULL, kind TEXT NOT NULL, unit TEXT NOT NULL, gas TEXT, installation_id TEXT,
  location TEXT, range_min REAL, range_max REAL, setpoint_l1 REAL, setpoint_l2 REAL,
  PRIMARY KEY (gateway_id, sensor_id)
);
CREATE INDEX IF NOT EXISTS registry_sensors_enterprise ON registry_sensors (enterprise_id);
`;

export const LEGACY_ACCESS_DDL = `CREATE TABLE IF NOT EXISTS platform_sessions (
        token_hash TEXT PRIMARY KEY, username TEXT NOT NULL, expires_at INTEGER NOT NULL)`;

export const LEGACY_FLEET_DDL = `
CREATE TABLE IF NOT EXISTS fleet_tokens (
  token_hash TEXT PRIMARY KEY,
  enterprise_id TEXT NOT NULL,
  gateway_id TEXT,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at INTEGER,
  used_by TEXT
);
CREATE TABLE IF NOT EXISTS fleet_gateways (
  gateway_id TEXT PRIMARY KEY,
  enterprise_id TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  public_key TEXT NOT NULL,
  key_fingerprint TEXT NOT NULL,
  enrolled_at INTEGER NOT NULL,
  revoked_at INTEGER,
  revoked_by TEXT,
  revoke_reason TEXT
);
CREATE TABLE IF NOT EXISTS fleet_versions (
  gateway_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  document TEXT NOT NULL,
  PRIMARY KEY (gateway_id, version)
);
CREATE TABLE IF NOT EXISTS fleet_status (
  gateway_id TEXT PRIMARY KEY,
  running_version INTEGER,
  last_status TEXT NOT NULL
);
`;

/** The schema_versions entry the embedded supervision store wrote for LEGACY_SUPERVISION_DDL. */
export const LEGACY_HAZARD_LEDGER_VERSION = 1;

export const LEGACY_SUPERVISION_DDL = `
CREATE TABLE IF NOT EXISTS hazard_events (
  seq             INTEGER PRIMARY KEY AUTOINCREMENT,
  enterprise_id   TEXT NOT NULL,
  installation_id TEXT,
  hazard_id       TEXT NOT NULL,
  action          TEXT NOT NULL,
  actor           TEXT NOT NULL,
  detail          TEXT NOT NULL,
  at              INTEGER NOT NULL,
  prev_hash       TEXT NOT NULL,
  hash            TEXT NOT NULL UNIQUE
);
CREATE INDEX IF NOT EXISTS hazard_events_hazard ON hazard_events (hazard_id, seq);
CREATE TRIGGER IF NOT EXISTS hazard_events_no_update BEFORE UPDATE ON hazard_events
  BEGIN SELECT RAISE(ABORT, 'hazard_events is append-only'); END;
CREATE TRIGGER IF NOT EXISTS hazard_events_no_delete BEFORE DELETE ON hazard_events
  BEGIN SELECT RAISE(ABORT, 'hazard_events is append-only'); END;
CREATE TABLE IF NOT EXISTS hazards (
  hazard_id       TEXT PRIMARY KEY,
  enterprise_id   TEXT NOT NULL,
  installation_id TEXT,
  kind            TEXT NOT NULL,
  severity        TEXT NOT NULL,
  status          TEXT NOT NULL,
  rule_id         TEXT,
  subject         TEXT,
  opened_at       INTEGER NOT NULL,
  record          TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS hazards_enterprise ON hazards (enterprise_id, opened_at);
CREATE INDEX IF NOT EXISTS hazards_subject ON hazards (rule_id, subject, status);
CREATE TABLE IF NOT EXISTS supervision_conditions (
  rule_id  TEXT NOT NULL,
  subject  TEXT NOT NULL,
  since    INTEGER NOT NULL,
  PRIMARY KEY (rule_id, subject)
);
CREATE TABLE IF NOT EXISTS supervision_grade_history (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  installation_id TEXT NOT NULL,
  enterprise_id   TEXT NOT NULL,
  at              INTEGER NOT NULL,
  sum_ratio       REAL NOT NULL,
  r               REAL NOT NULL,
  is_major        INTEGER NOT NULL,
  grade           INTEGER,
  previous_grade  INTEGER,
  inventory       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS supervision_grade_history_inst
  ON supervision_grade_history (installation_id, id);
CREATE TABLE IF NOT EXISTS supervision_outages (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  enterprise_id TEXT NOT NULL,
  gateway_id    TEXT NOT NULL,
  started_at    INTEGER NOT NULL,
  ended_at      INTEGER,
  points        INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS supervision_outages_gateway ON supervision_outages (gateway_id, id);
`;
