/** The alarm ledger's tables (ledger.ts), by schema version. */

export const ALARM_LEDGER_SCHEMA_VERSION = 2;

export const ALARM_LEDGER_SCHEMA = `
CREATE TABLE IF NOT EXISTS alarms (
  alarm_id        TEXT NOT NULL,
  gateway_id      TEXT NOT NULL,
  enterprise_id   TEXT NOT NULL,
  rule_id         TEXT NOT NULL,
  sensor_id       TEXT NOT NULL,
  sensor_name     TEXT,
  installation_id TEXT,
  location        TEXT,
  gas             TEXT,
  level           INTEGER NOT NULL,
  state           TEXT NOT NULL CHECK (state IN ('active', 'cleared')),
  value           REAL,
  unit            TEXT NOT NULL,
  setpoint        REAL NOT NULL,
  raised_at       INTEGER,
  cleared_at      INTEGER,
  drill           INTEGER NOT NULL,
  message         TEXT,
  received_at     INTEGER NOT NULL,
  PRIMARY KEY (enterprise_id, gateway_id, alarm_id)
);
CREATE INDEX IF NOT EXISTS alarms_recent ON alarms (COALESCE(raised_at, cleared_at));
CREATE INDEX IF NOT EXISTS alarms_state_recent ON alarms (state, COALESCE(raised_at, cleared_at));
CREATE INDEX IF NOT EXISTS alarms_enterprise_recent ON alarms (enterprise_id, COALESCE(raised_at, cleared_at));
CREATE TABLE IF NOT EXISTS alarm_events (
  event_id      INTEGER PRIMARY KEY AUTOINCREMENT,
  alarm_id      TEXT NOT NULL,
  transition    TEXT NOT NULL,
  gateway_id    TEXT NOT NULL,
  enterprise_id TEXT NOT NULL,
  seq           INTEGER NOT NULL,  -- gateway sequence number
  ts            INTEGER NOT NULL,  -- edge time of the transition
  sent_at       INTEGER NOT NULL,
  received_at   INTEGER NOT NULL,  -- server clock
  level         INTEGER NOT NULL,
  value         REAL,
  drill         INTEGER NOT NULL,
  payload       TEXT NOT NULL,     -- the event as received (JSON)
  UNIQUE (enterprise_id, gateway_id, alarm_id, transition, seq)
);
CREATE TRIGGER IF NOT EXISTS alarm_events_no_update BEFORE UPDATE ON alarm_events
  BEGIN SELECT RAISE(ABORT, 'alarm_events is append-only'); END;
CREATE TRIGGER IF NOT EXISTS alarm_events_no_delete BEFORE DELETE ON alarm_events
  BEGIN SELECT RAISE(ABORT, 'alarm_events is append-only'); END;
`;

/**
 * Version 1 → 2: the same columns, keyed by identity. Renamed tables keep their index and trigger
 * names, so those are dropped first (else `IF NOT EXISTS` would skip the new ones); DROP TABLE
 * does not fire the append-only triggers (SQLite: "the implicit DELETE FROM ... does not invoke
 * any triggers").
 */
export const MIGRATE_ALARM_LEDGER_V1_TO_V2 = `
DROP INDEX IF EXISTS alarms_recent;
DROP INDEX IF EXISTS alarms_state_recent;
DROP INDEX IF EXISTS alarms_enterprise_recent;
DROP TRIGGER IF EXISTS alarm_events_no_update;
DROP TRIGGER IF EXISTS alarm_events_no_delete;
ALTER TABLE alarms RENAME TO alarms_v1;
ALTER TABLE alarm_events RENAME TO alarm_events_v1;
${ALARM_LEDGER_SCHEMA}
INSERT INTO alarms SELECT alarm_id, gateway_id, enterprise_id, rule_id, sensor_id, sensor_name,
  installation_id, location, gas, level, state, value, unit, setpoint, raised_at, cleared_at,
  drill, message, received_at FROM alarms_v1;
INSERT INTO alarm_events SELECT event_id, alarm_id, transition, gateway_id, enterprise_id, seq, ts,
  sent_at, received_at, level, value, drill, payload FROM alarm_events_v1;
DROP TABLE alarms_v1;
DROP TABLE alarm_events_v1;
`;
