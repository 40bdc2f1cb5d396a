/**
 * The workbench's stable, explained risk score per enterprise (issue 15).
 *
 * The score of supervision.ts follows the alarms active at one instant, so an enterprise with
 * eight unacknowledged alarms went orange → yellow → blue in ten seconds as their values
 * crossed back under the setpoints. Here every alarm keeps counting while it is not handled:
 *
 * - in alarm: its level's weight while the value is beyond the setpoint;
 * - unacknowledged: a weight until someone acknowledged it;
 * - escalated: a weight per escalation level reached (county, city, province) until closed;
 * - overdue: a weight once it is older than the overdue time, until closed;
 *
 * and once a term is handled (cleared, acknowledged, closed) it does not drop to zero but decays
 * with a half-life of hours (configurable: `platform.workbench.riskHalfLifeMs`), so colours
 * change over hours, never in seconds. The GB 18218-2018 grade and offline points add as in
 * supervision.ts. Weights, caps and the half-life are our choice (no standard gives a score);
 * the colours and their meaning are the provincial four-colour scheme. Pure functions of the
 * inputs and a time: the history of the last days is the same function at earlier times.
 */
import type { HazardGrade } from './grading.js';
import { RISK_COLOUR_THRESHOLDS, RISK_WEIGHTS, type RiskColour } from './supervision.js';

export const RISK_SCORE_DEFAULTS = {
  halfLifeMs: 6 * 60 * 60_000, // 6 h: a handled alarm still weighs half after 6 h (our choice)
  forgetAfterHalfLives: 6, // below 1/64 of its weight a handled term is dropped
  weights: {
    level2InAlarm: 25, // per level-2 alarm (GB/T 50493-2019 §5.5.3 action level) in alarm: ours
    level2Cap: 50,
    level1InAlarm: 10, // per level-1 alarm in alarm: ours
    level1Cap: 30,
    unacknowledged: 8, // per alarm nobody acknowledged yet
    unacknowledgedCap: 32,
    escalationLevel: 6, // per escalation level reached (1 county, 2 city, 3 province)
    escalationCap: 36,
    overdue: 10, // per alarm open longer than the overdue time
    overdueCap: 30,
    offlinePoint: RISK_WEIGHTS.offlinePoint,
    offlineCap: RISK_WEIGHTS.offlineCap,
  },
} as const;

export type RiskTermName =
  | 'grade'
  | 'level2InAlarm'
  | 'level1InAlarm'
  | 'unacknowledged'
  | 'escalated'
  | 'overdue'
  | 'offlinePoints';

/** One alarm as the score needs it: times are epoch ms, null while it has not happened. */
export interface RiskAlarm {
  level: 1 | 2;
  drill: boolean;
  /** When the server heard of it (Disposition.openedAt); deadlines count from here. */
  openedAt: number;
  clearedAt: number | null;
  acknowledgedAt: number | null;
  closedAt: number | null;
  /** Escalation level recorded by the escalator (0–3); the score takes the higher of this and the computed one. */
  escalationLevel?: number;
}

export interface RiskScoreSettings {
  halfLifeMs: number;
  overdueMs: number;
  acknowledgeWithinMs: readonly number[];
  disposeWithinMs: readonly number[];
}

export interface RiskTerm {
  factor: RiskTermName;
  /** Points after decay and cap, one decimal. */
  points: number;
  /** Alarms (or points) still counting in full. */
  live: number;
  /** Handled ones still decaying. */
  decaying: number;
}

export interface StableRisk {
  score: number;
  colour: RiskColour;
  grade: HazardGrade | null;
  terms: RiskTerm[];
}

const round1 = (n: number) => Math.round(n * 10) / 10;

/** Weight left at `now` of a term handled at `handledAt` (1 while not handled). */
export function decay(now: number, handledAt: number | null, halfLifeMs: number): number {
  if (handledAt === null || handledAt > now) return 1;
  const halfLives = (now - handledAt) / halfLifeMs;
  if (halfLives >= RISK_SCORE_DEFAULTS.forgetAfterHalfLives) return 0;
  return 0.5 ** halfLives;
}

/** Escalation level an alarm had reached by `t`, from the deadlines (the escalator's rule). */
export function escalationLevelAt(a: RiskAlarm, t: number, s: RiskScoreSettings): number {
  const end = a.closedAt !== null && a.closedAt < t ? a.closedAt : t;
  const ackEnd = a.acknowledgedAt !== null && a.acknowledgedAt < end ? a.acknowledgedAt : end;
  const count = (deadlines: readonly number[], until: number) =>
    deadlines.filter((d) => a.openedAt + d <= until).length;
  return Math.min(3, Math.max(count(s.acknowledgeWithinMs, ackEnd), count(s.disposeWithinMs, end)));
}

/** The stable score at `now` (or at any earlier time: only what had happened by then counts). */
export function stableRiskAt(
  input: { grade: HazardGrade | null; alarms: readonly RiskAlarm[]; offlinePoints: number },
  now: number,
  settings: RiskScoreSettings,
): StableRisk {
  const w = RISK_SCORE_DEFAULTS.weights;
  const acc: Record<Exclude<RiskTermName, 'grade' | 'offlinePoints'>, RiskTerm> = {
    level2InAlarm: { factor: 'level2InAlarm', points: 0, live: 0, decaying: 0 },
    level1InAlarm: { factor: 'level1InAlarm', points: 0, live: 0, decaying: 0 },
    unacknowledged: { factor: 'unacknowledged', points: 0, live: 0, decaying: 0 },
    escalated: { factor: 'escalated', points: 0, live: 0, decaying: 0 },
    overdue: { factor: 'overdue', points: 0, live: 0, decaying: 0 },
  };
  const add = (term: RiskTerm, weight: number, handledAt: number | null) => {
    const left = decay(now, handledAt, settings.halfLifeMs);
    if (left <= 0) return;
    term.points += weight * left;
    if (left === 1) term.live++;
    else term.decaying++;
  };
  const at = (t: number | null) => (t !== null && t <= now ? t : null);
  let liveLevel2 = 0;
  for (const a of input.alarms) {
    if (a.drill || a.openedAt > now) continue;
    const cleared = at(a.clearedAt);
    const acknowledged = at(a.acknowledgedAt);
    const closed = at(a.closedAt);
    // In alarm until the value returned to normal.
    if (a.level === 2) {
      add(acc.level2InAlarm, w.level2InAlarm, cleared);
      if (cleared === null) liveLevel2++;
    } else add(acc.level1InAlarm, w.level1InAlarm, cleared);
    add(acc.unacknowledged, w.unacknowledged, acknowledged);
    let level = escalationLevelAt(a, now, settings);
    if (closed === null && a.escalationLevel !== undefined)
      level = Math.max(level, a.escalationLevel);
    if (level > 0) add(acc.escalated, w.escalationLevel * level, closed);
    const overdueFrom = a.openedAt + settings.overdueMs;
    if (overdueFrom <= (closed ?? now)) add(acc.overdue, w.overdue, closed);
  }
  const caps: Record<keyof typeof acc, number> = {
    level2InAlarm: w.level2Cap,
    level1InAlarm: w.level1Cap,
    unacknowledged: w.unacknowledgedCap,
    escalated: w.escalationCap,
    overdue: w.overdueCap,
  };
  const gradePoints = input.grade === null ? 0 : RISK_WEIGHTS.grade[input.grade];
  const terms: RiskTerm[] = [
    { factor: 'grade', points: gradePoints, live: input.grade === null ? 0 : 1, decaying: 0 },
    ...Object.values(acc).map((t) => ({
      ...t,
      points: round1(Math.min(caps[t.factor as keyof typeof acc], t.points)),
    })),
    {
      factor: 'offlinePoints',
      points: Math.min(w.offlineCap, input.offlinePoints * w.offlinePoint),
      live: input.offlinePoints,
      decaying: 0,
    },
  ];
  const score = round1(
    Math.min(
      100,
      terms.reduce((s, t) => s + t.points, 0),
    ),
  );
  return { score, colour: colourOf(score, liveLevel2 > 0), grade: input.grade, terms };
}

/** The four colours by score; a level-2 alarm still in alarm is never low or general risk. */
export function colourOf(score: number, level2InAlarm: boolean): RiskColour {
  const t = RISK_COLOUR_THRESHOLDS;
  const colour: RiskColour =
    score >= t.red ? 'red' : score >= t.orange ? 'orange' : score >= t.yellow ? 'yellow' : 'blue';
  if (level2InAlarm && (colour === 'blue' || colour === 'yellow')) return 'orange';
  return colour;
}

/** Score and colour every `stepMs` from `from` to `to` (inclusive), oldest first. */
export function riskHistory(
  input: { grade: HazardGrade | null; alarms: readonly RiskAlarm[] },
  from: number,
  to: number,
  stepMs: number,
  settings: RiskScoreSettings,
): { ts: number; score: number; colour: RiskColour }[] {
  const out: { ts: number; score: number; colour: RiskColour }[] = [];
  // Offline points are known only now (no history of presence is kept): history leaves them out.
  for (let ts = from; ts <= to; ts += stepMs) {
    const r = stableRiskAt({ ...input, offlinePoints: 0 }, ts, settings);
    out.push({ ts, score: r.score, colour: r.colour });
  }
  return out;
}
