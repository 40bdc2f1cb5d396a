/**
 * Every SQL statement of the supervision store, in one file (a later database layer replaces
 * this file and store.ts, nothing else). Tables share the server's SQLite file; component
 * 'hazard-ledger' in `schema_versions`.
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

export const SQL = {
  head: 'SELECT seq, hash FROM hazard_events ORDER BY seq DESC LIMIT 1',
  insertEvent: `INSERT INTO hazard_events
    (seq, enterprise_id, installation_id, hazard_id, action, actor, detail, at, prev_hash, hash)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  upsertHazard: `INSERT OR REPLACE INTO hazards
    (hazard_id, enterprise_id, installation_id, kind, severity, status, rule_id, subject, opened_at, record)
    VALUES (@hazard_id, @enterprise_id, @installation_id, @kind, @severity, @status, @rule_id,
      @subject, @opened_at, @record)`,
  hazard: 'SELECT record FROM hazards WHERE hazard_id = ?',
  unclosedBySubject:
    "SELECT record FROM hazards WHERE rule_id = ? AND subject = ? AND status != 'closed' LIMIT 1",
  unclosed: "SELECT record FROM hazards WHERE status != 'closed' ORDER BY opened_at, hazard_id",
  allHazards: 'SELECT record FROM hazards ORDER BY opened_at DESC, hazard_id DESC',
  allHazardRows: 'SELECT hazard_id, record FROM hazards',
  events: 'SELECT * FROM hazard_events WHERE hazard_id = ? ORDER BY seq',
  allEvents: 'SELECT * FROM hazard_events ORDER BY seq',
  hashAt: 'SELECT hash FROM hazard_events WHERE seq = ?',
  lastSeqOf: 'SELECT MAX(seq) FROM hazard_events WHERE hazard_id = ?',
  conditions: 'SELECT rule_id, subject, since FROM supervision_conditions',
  upsertCondition: `INSERT INTO supervision_conditions (rule_id, subject, since) VALUES (?, ?, ?)
    ON CONFLICT (rule_id, subject) DO NOTHING`,
  deleteCondition: 'DELETE FROM supervision_conditions WHERE rule_id = ? AND subject = ?',
  insertGrade: `INSERT INTO supervision_grade_history
    (installation_id, enterprise_id, at, sum_ratio, r, is_major, grade, previous_grade, inventory)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  lastGrades: `SELECT h.* FROM supervision_grade_history h
    JOIN (SELECT installation_id, MAX(id) AS id FROM supervision_grade_history GROUP BY installation_id) m
    ON h.id = m.id`,
  gradeHistory:
    'SELECT * FROM supervision_grade_history WHERE installation_id = ? ORDER BY id DESC LIMIT ?',
  openOutage:
    'SELECT id FROM supervision_outages WHERE gateway_id = ? AND ended_at IS NULL ORDER BY id DESC LIMIT 1',
  insertOutage:
    'INSERT INTO supervision_outages (enterprise_id, gateway_id, started_at, points) VALUES (?, ?, ?, ?)',
  endOutage: 'UPDATE supervision_outages SET ended_at = ? WHERE id = ?',
  outagesSince: `SELECT * FROM supervision_outages WHERE ended_at IS NULL OR ended_at >= ?
    ORDER BY started_at`,
  /**
   * Lifecycle transitions the alarm ledger kept (server/alarms/ledger-schema.ts, table
   * alarm_events): the hub does not emit them, so screening reads them after a cursor.
   */
  lifecycleTableExists:
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alarm_events'",
  lifecycleSince: `SELECT event_id, enterprise_id, gateway_id, transition, received_at, payload
    FROM alarm_events WHERE event_id > ? AND transition IN
      ('shelved', 'unshelved', 'out-of-service', 'in-service', 'suppressed', 'unsuppressed')
    ORDER BY event_id LIMIT ?`,
} as const;

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
