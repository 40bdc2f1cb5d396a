/**
 * The supervision store's rows as the database layer returns them. Their tables are made by
 * migration 0003 (server/db/migrations/0003-supervision.ts); the DDL the embedded store ran
 * before it moved onto server/db is kept only as the adoption test's input
 * (tests/db/legacy-platform-ddl.ts, LEGACY_SUPERVISION_DDL).
 */

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
