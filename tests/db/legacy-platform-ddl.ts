/**
 * What the registry, access control and fleet stores created in the embedded SQLite file before
 * they moved onto server/db (issue 14), copied verbatim from those stores (commit a4583ae):
 * server/platform/registry.ts SCHEMA, server/platform/access.ts platform_sessions and
 * server/fleet/fleet-store.ts SCHEMA. The adoption test makes a file with them and checks the
 * layer's migrations create the same tables and adopt the rows.
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
