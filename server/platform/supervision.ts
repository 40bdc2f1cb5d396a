/**
 * Graded supervision: a dynamic risk score per enterprise and its colour.
 *
 * The four colours and what they mean come from the provincial access rules (red, orange,
 * yellow, blue = major, large, general, low risk). The score itself is ours (no standard gives
 * one): it adds the enterprise's worst GB 18218-2018 grade, its active real alarms by level, its
 * monitoring points that are offline, and its overdue disposals, each capped so no single factor
 * dominates; the weights are in {@link RISK_WEIGHTS}.
 */
import type { HazardGrade } from './grading.js';

/**
 * Weights of the dynamic risk score. The inputs are standard terms (GB 18218-2018 grade,
 * GB/T 50493-2019 alarm levels); the weights and caps are our own choice, since no
 * standard or provincial rule gives a formula.
 */
export const RISK_WEIGHTS = {
  grade: { 1: 40, 2: 30, 3: 20, 4: 10 } as Record<HazardGrade, number>, // weight per GB 18218-2018 grade (ours)
  level2Alarm: 25, // per active level-2 alarm: our weighting (no standard gives one); level 2 is GB/T 50493-2019 §5.5.3
  level2Cap: 50,
  level1Alarm: 10, // per active level-1 alarm
  level1Cap: 30,
  offlinePoint: 2, // per monitoring point without a good, fresh value
  offlineCap: 20,
  overdueDisposal: 10, // per alarm not closed within the disposal time
  overdueCap: 30,
} as const;

/** Score thresholds for the colours (inclusive lower bounds). */
export const RISK_COLOUR_THRESHOLDS = { red: 75, orange: 50, yellow: 25 } as const;

export type RiskColour = 'red' | 'orange' | 'yellow' | 'blue';

export interface RiskFactors {
  /** Worst (lowest-numbered) grade among the enterprise's major hazard installations. */
  grade: HazardGrade | null;
  activeLevel1: number;
  activeLevel2: number;
  offlinePoints: number;
  overdueDisposals: number;
}

export interface RiskAssessment extends RiskFactors {
  score: number;
  colour: RiskColour;
  /** How the score was reached, one term per factor. */
  terms: { factor: string; points: number }[];
}

export function assessRisk(f: RiskFactors): RiskAssessment {
  const w = RISK_WEIGHTS;
  const terms = [
    { factor: 'grade', points: f.grade === null ? 0 : w.grade[f.grade] },
    { factor: 'level2Alarms', points: Math.min(w.level2Cap, f.activeLevel2 * w.level2Alarm) },
    { factor: 'level1Alarms', points: Math.min(w.level1Cap, f.activeLevel1 * w.level1Alarm) },
    { factor: 'offlinePoints', points: Math.min(w.offlineCap, f.offlinePoints * w.offlinePoint) },
    {
      factor: 'overdueDisposals',
      points: Math.min(w.overdueCap, f.overdueDisposals * w.overdueDisposal),
    },
  ];
  const score = Math.min(
    100,
    terms.reduce((s, t) => s + t.points, 0),
  );
  let colour: RiskColour =
    score >= RISK_COLOUR_THRESHOLDS.red
      ? 'red'
      : score >= RISK_COLOUR_THRESHOLDS.orange
        ? 'orange'
        : score >= RISK_COLOUR_THRESHOLDS.yellow
          ? 'yellow'
          : 'blue';
  // An active action-level alarm is never shown as low or general risk.
  if (f.activeLevel2 > 0 && (colour === 'blue' || colour === 'yellow')) colour = 'orange';
  return { ...f, score, colour, terms };
}

export const COLOUR_ORDER: Record<RiskColour, number> = { red: 0, orange: 1, yellow: 2, blue: 3 };

/**
 * A gateway's own diagnostic points are not process monitoring points: the uplink's
 * `_uplink.backlog` / `_uplink.dropped` (every sensor id starting with `_`) and each device's
 * synthetic `<deviceId>.online` status (gateway/acquisition/source.ts). Counting them as offline
 * points would rank an enterprise by its gateway's plumbing (issue 11 item 6).
 */
export function isDiagnosticPoint(sensor: { sensorId: string; kind?: string }): boolean {
  return (
    sensor.sensorId.startsWith('_') ||
    (sensor.kind === 'status' && sensor.sensorId.endsWith('.online'))
  );
}
