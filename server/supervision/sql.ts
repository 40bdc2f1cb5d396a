/**
 * The supervision store's rows, and the schema its embedded version created (component
 * 'hazard-ledger' in `schema_versions`): migration 0003 (server/db/migrations) creates these
 * tables column for column and adopts a file that has them; the store itself runs on
 * server/db and no longer executes this text.
 */

export const SUPERVISION_SCHEMA_VERSION = 1;

export const SCHEMA = `
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

export interface EventRow {
  seq: number;
  enterprise_id: string;
  installation_id: string | null;
  hazard_id: string;
  action: string;
  actor: string;
  detail: string;
  at: number;
  prev_hash: string;
  hash: string;
}

export interface GradeRow {
  id: number;
  installation_id: string;
  enterprise_id: string;
  at: number;
  sum_ratio: number;
  r: number;
  is_major: number;
  grade: number | null;
  previous_grade: number | null;
  inventory: string;
}

export interface OutageRow {
  id: number;
  enterprise_id: string;
  gateway_id: string;
  started_at: number;
  ended_at: number | null;
  points: number;
}

export interface LifecycleRow {
  event_id: number;
  enterprise_id: string;
  gateway_id: string;
  transition: string;
  received_at: number;
  payload: string;
}
