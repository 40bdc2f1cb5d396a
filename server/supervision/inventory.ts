/**
 * Grading that follows the inventory (issue 16): an installation's quantity per chemical comes
 * from its vessels' level sensors (q = level fraction × capacity × density,
 * server/platform/grading.ts `quantityFromLevel`), and GB 18218-2018 S, R, the major-hazard
 * decision and the grade are recomputed from it. A change of grade (or of the major-hazard
 * decision) is recorded in the grade history and reported once.
 *
 * A chemical is taken live only when every vessel holding it has a good, fresh numeric reading;
 * otherwise its registered quantity stands (a silent level sensor must not empty the register),
 * and the derivation says which quantities are live.
 */
import {
  type GradingResult,
  gradeInstallation,
  type InventoryItem,
  liveInventory,
  quantityFromLevel,
} from '../platform/grading.js';
import type { InstallationRecord } from '../platform/registry.js';
import type { VesselConfig } from './config.js';
import type { EvidenceTracker } from './evidence.js';
import type { GradeChangeRecord } from './store.js';

export interface VesselReading {
  vesselId: string;
  chemical: string;
  quantityT: number | null;
  maxQuantityT: number | null;
  /** Why the vessel gives no quantity (no reading, bad quality, stale, not a number). */
  missing: string | null;
}

export interface LiveGrading {
  installationId: string;
  enterpriseId: string;
  registered: GradingResult | null;
  live: GradingResult | null;
  liveChemicals: string[];
  vessels: VesselReading[];
  inventory: InventoryItem[];
  error: string | null;
}

export interface InventoryOptions {
  vessels: readonly VesselConfig[];
  staleMs: number;
}

/** The installation's live grading at `now` (pure apart from reading the tracker). */
export function liveGradingOf(
  inst: InstallationRecord,
  tracker: EvidenceTracker,
  options: InventoryOptions,
  now: number,
): LiveGrading {
  const vessels: VesselReading[] = [];
  const sums = new Map<string, number>();
  const incomplete = new Set<string>();
  for (const v of options.vessels) {
    if (v.installationId !== inst.id) continue;
    const p = tracker.point(v.gatewayId, v.sensorId);
    let missing: string | null = null;
    if (!p) missing = 'no reading yet';
    else if (p.lastQuality === 'bad') missing = `quality bad (${p.lastReason ?? 'no reason'})`;
    else if (now - p.lastReceivedAt > options.staleMs) missing = 'stale';
    else if (typeof p.lastValue !== 'number') missing = 'not a number';
    let quantityT: number | null = null;
    if (missing === null && p && typeof p.lastValue === 'number') {
      quantityT = quantityFromLevel({
        value: p.lastValue,
        levelEmpty: v.levelEmpty ?? 0,
        levelFull: v.levelFull ?? 100,
        capacityM3: v.capacityM3,
        densityTPerM3: v.densityTPerM3,
      });
      sums.set(v.chemical, (sums.get(v.chemical) ?? 0) + quantityT);
    } else {
      incomplete.add(v.chemical);
    }
    vessels.push({
      vesselId: v.id,
      chemical: v.chemical,
      quantityT,
      maxQuantityT: v.maxQuantityT ?? null,
      missing,
    });
  }
  for (const chemical of incomplete) sums.delete(chemical);
  const inventory = liveInventory(inst.inventory, sums);
  let live: GradingResult | null = null;
  let error: string | null = null;
  try {
    live = gradeInstallation({ inventory, peopleWithin500m: inst.peopleWithin500m });
    if (sums.size > 0) {
      live.derivation.unshift(
        `live quantities (level × capacity × density) for: ${[...sums.keys()].join(', ')}; registered quantities for the rest`,
      );
    }
  } catch (err) {
    error = `installation '${inst.id}': ${(err as Error).message}`;
  }
  return {
    installationId: inst.id,
    enterpriseId: inst.enterpriseId,
    registered: inst.grading,
    live,
    liveChemicals: [...sums.keys()],
    vessels,
    inventory,
    error,
  };
}

/** The grade-history row when the live grade (or the major-hazard decision) moved, else null. */
export function gradeChange(
  g: LiveGrading,
  last: GradeChangeRecord | undefined,
  now: number,
): GradeChangeRecord | null {
  if (!g.live) return null;
  const previous = last ?? null;
  const grade = g.live.grade;
  if (previous && previous.grade === grade && previous.isMajorHazard === g.live.isMajorHazard) {
    return null;
  }
  return {
    installationId: g.installationId,
    enterpriseId: g.enterpriseId,
    at: now,
    sumRatio: g.live.sumRatio,
    r: g.live.r,
    isMajorHazard: g.live.isMajorHazard,
    grade,
    previousGrade: previous ? previous.grade : (g.registered?.grade ?? null),
    inventory: g.inventory.map((i) => ({ chemical: i.chemical, quantityT: i.quantityT })),
  };
}
