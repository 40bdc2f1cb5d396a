/**
 * GB 18218-2018 "Identification of major hazard installations for hazardous chemicals":
 * whether a unit is a major hazard installation, and its grade.
 *
 * - Identification (§4.2.2, formula (1)): S = Σ qᵢ/Qᵢ; the unit is a major hazard when S >= 1.
 *   qᵢ: actual quantity of chemical i present (t); Qᵢ: its critical quantity (t) from Table 1
 *   (named chemicals) or Table 2 (hazard categories of chemicals not named in Table 1).
 * - Grading (§4.3, formula (2)): R = α·(β₁·q₁/Q₁ + … + βₙ·qₙ/Qₙ). β: Table 3 (named toxic gases)
 *   or Table 4 (hazard categories); α: Table 5 (people exposed within 500 m of the boundary).
 *   Grade (Table 6): 1 for R >= 100, 2 for 50 <= R < 100, 3 for 10 <= R < 50, 4 for R < 10.
 *
 * Only critical quantities we are sure of are in the table below; anything else is entered with
 * an explicit `criticalQuantityT` (and `beta`) so the derivation shows where it came from.
 */

/** One chemical the standard names, with where its numbers come from. */
export interface ChemicalEntry {
  /** Key used in configs (lower-case English). */
  key: string;
  nameZh: string;
  nameEn: string;
  /** Critical quantity Q (t), GB 18218-2018 Table 1 or Table 2. */
  criticalQuantityT: number;
  /** Correction factor β, GB 18218-2018 Table 3 (toxic gases) or Table 4 (categories). */
  beta: number;
  /** Where Q and β come from, shown in the derivation. */
  source: string;
}

// β from GB 18218-2018 Table 3 (toxic gases named there).
const TOXIC_BETA = 'GB 18218-2018 Table 1 (Q), Table 3 (β)';
// β from GB 18218-2018 Table 4: W2 flammable gases 1.5; everything else not listed there 1.
const FLAMMABLE_GAS = 'GB 18218-2018 Table 1 (Q), Table 4 W2 flammable gas (β = 1.5)';
const OTHER = 'GB 18218-2018 Table 1 (Q), Table 4 other (β = 1)';

/** Named chemicals (GB 18218-2018 Table 1) with β from Table 3 / Table 4. */
export const CHEMICALS: readonly ChemicalEntry[] = [
  // Toxic gases of Table 3.
  {
    key: 'carbon-monoxide',
    nameZh: '一氧化碳',
    nameEn: 'carbon monoxide',
    criticalQuantityT: 10,
    beta: 2,
    source: TOXIC_BETA,
  },
  {
    key: 'sulfur-dioxide',
    nameZh: '二氧化硫',
    nameEn: 'sulfur dioxide',
    criticalQuantityT: 20,
    beta: 2,
    source: TOXIC_BETA,
  },
  {
    key: 'ammonia',
    nameZh: '氨',
    nameEn: 'ammonia',
    criticalQuantityT: 10,
    beta: 2,
    source: TOXIC_BETA,
  },
  {
    key: 'ethylene-oxide',
    nameZh: '环氧乙烷',
    nameEn: 'ethylene oxide',
    criticalQuantityT: 10,
    beta: 2,
    source: TOXIC_BETA,
  },
  {
    key: 'hydrogen-chloride',
    nameZh: '氯化氢（无水）',
    nameEn: 'hydrogen chloride (anhydrous)',
    criticalQuantityT: 20,
    beta: 3,
    source: TOXIC_BETA,
  },
  {
    key: 'methyl-bromide',
    nameZh: '溴甲烷',
    nameEn: 'methyl bromide',
    criticalQuantityT: 10,
    beta: 3,
    source: TOXIC_BETA,
  },
  {
    key: 'chlorine',
    nameZh: '氯',
    nameEn: 'chlorine',
    criticalQuantityT: 5,
    beta: 4,
    source: TOXIC_BETA,
  },
  {
    key: 'hydrogen-sulfide',
    nameZh: '硫化氢',
    nameEn: 'hydrogen sulfide',
    criticalQuantityT: 5,
    beta: 5,
    source: TOXIC_BETA,
  },
  {
    key: 'hydrogen-fluoride',
    nameZh: '氟化氢',
    nameEn: 'hydrogen fluoride',
    criticalQuantityT: 1,
    beta: 5,
    source: TOXIC_BETA,
  },
  {
    key: 'nitrogen-dioxide',
    nameZh: '二氧化氮',
    nameEn: 'nitrogen dioxide',
    criticalQuantityT: 1,
    beta: 10,
    source: TOXIC_BETA,
  },
  {
    key: 'hydrogen-cyanide',
    nameZh: '氰化氢',
    nameEn: 'hydrogen cyanide',
    criticalQuantityT: 1,
    beta: 10,
    source: TOXIC_BETA,
  },
  {
    key: 'phosgene',
    nameZh: '光气',
    nameEn: 'phosgene',
    criticalQuantityT: 0.3,
    beta: 20,
    source: TOXIC_BETA,
  },
  {
    key: 'phosphine',
    nameZh: '磷化氢',
    nameEn: 'phosphine',
    criticalQuantityT: 1,
    beta: 20,
    source: TOXIC_BETA,
  },
  {
    key: 'methyl-isocyanate',
    nameZh: '异氰酸甲酯',
    nameEn: 'methyl isocyanate',
    criticalQuantityT: 0.75,
    beta: 20,
    source: TOXIC_BETA,
  },
  // Flammable gases (Table 4, W2: β = 1.5).
  {
    key: 'methane',
    nameZh: '甲烷、天然气',
    nameEn: 'methane, natural gas',
    criticalQuantityT: 50,
    beta: 1.5,
    source: FLAMMABLE_GAS,
  },
  {
    key: 'lpg',
    nameZh: '液化石油气',
    nameEn: 'liquefied petroleum gas',
    criticalQuantityT: 50,
    beta: 1.5,
    source: FLAMMABLE_GAS,
  },
  {
    key: 'hydrogen',
    nameZh: '氢',
    nameEn: 'hydrogen',
    criticalQuantityT: 5,
    beta: 1.5,
    source: FLAMMABLE_GAS,
  },
  {
    key: 'acetylene',
    nameZh: '乙炔',
    nameEn: 'acetylene',
    criticalQuantityT: 1,
    beta: 1.5,
    source: FLAMMABLE_GAS,
  },
  {
    key: 'ethylene',
    nameZh: '乙烯',
    nameEn: 'ethylene',
    criticalQuantityT: 50,
    beta: 1.5,
    source: FLAMMABLE_GAS,
  },
  // Flammable liquids (Table 4: β = 1).
  {
    key: 'benzene',
    nameZh: '苯',
    nameEn: 'benzene',
    criticalQuantityT: 50,
    beta: 1,
    source: OTHER,
  },
  {
    key: 'toluene',
    nameZh: '甲苯',
    nameEn: 'toluene',
    criticalQuantityT: 500,
    beta: 1,
    source: OTHER,
  },
  {
    key: 'methanol',
    nameZh: '甲醇',
    nameEn: 'methanol',
    criticalQuantityT: 500,
    beta: 1,
    source: OTHER,
  },
  {
    key: 'gasoline',
    nameZh: '汽油',
    nameEn: 'gasoline',
    criticalQuantityT: 200,
    beta: 1,
    source: OTHER,
  },
];

const byKey = new Map(CHEMICALS.map((c) => [c.key, c]));

export function findChemical(key: string): ChemicalEntry | undefined {
  return byKey.get(key);
}

/** One line of an installation's inventory. */
export interface InventoryItem {
  /** A key of {@link CHEMICALS}, or any name when `criticalQuantityT` is given. */
  chemical: string;
  /** Maximum quantity present q (t). */
  quantityT: number;
  /** Critical quantity Q (t) when the chemical is not in the table (GB 18218-2018 Table 2 category). */
  criticalQuantityT?: number;
  /** β when not in the table; GB 18218-2018 Table 4 (1 for categories it does not list). */
  beta?: number;
}

export interface GradingInput {
  inventory: readonly InventoryItem[];
  /** People within 500 m of the installation's boundary (GB 18218-2018 Table 5). */
  peopleWithin500m: number;
}

export interface GradedItem {
  chemical: string;
  name: string;
  quantityT: number;
  criticalQuantityT: number;
  beta: number;
  /** qᵢ/Qᵢ */
  ratio: number;
  /** βᵢ·qᵢ/Qᵢ */
  weightedRatio: number;
  source: string;
}

export type HazardGrade = 1 | 2 | 3 | 4;

export interface GradingResult {
  items: GradedItem[];
  /** S = Σ qᵢ/Qᵢ (§4.2.2). */
  sumRatio: number;
  isMajorHazard: boolean;
  alpha: number;
  /** R = α·Σ βᵢ·qᵢ/Qᵢ (§4.3). */
  r: number;
  /** Grade per Table 6; null when the unit is not a major hazard installation. */
  grade: HazardGrade | null;
  /** Human-readable steps, in order, each naming its clause. */
  derivation: string[];
}

/** α from GB 18218-2018 Table 5 (people exposed within 500 m). */
export function alphaFor(people: number): number {
  if (!Number.isFinite(people) || people < 0) {
    throw new Error(`peopleWithin500m must be a non-negative number (got ${people})`);
  }
  if (people > 100) return 2.0; // > 100 people
  if (people >= 50) return 1.5; // 50–99
  if (people >= 30) return 1.2; // 30–49
  if (people >= 1) return 1.0; // 1–29
  return 0.5; // 0
}

/** Grade from R, GB 18218-2018 Table 6. */
export function gradeFor(r: number): HazardGrade {
  if (r >= 100) return 1;
  if (r >= 50) return 2;
  if (r >= 10) return 3;
  return 4;
}

const fmt = (n: number) => String(Math.round(n * 1000) / 1000);

/** Identifies and grades one unit; throws naming the item for an unknown chemical or bad number. */
export function gradeInstallation(input: GradingInput): GradingResult {
  const items: GradedItem[] = input.inventory.map((item, index) => {
    if (!Number.isFinite(item.quantityT) || item.quantityT < 0) {
      throw new Error(
        `inventory[${index}] '${item.chemical}': quantityT must be >= 0 (got ${item.quantityT})`,
      );
    }
    const entry = byKey.get(item.chemical);
    const criticalQuantityT = item.criticalQuantityT ?? entry?.criticalQuantityT;
    if (criticalQuantityT === undefined) {
      throw new Error(
        `inventory[${index}] '${item.chemical}': not in the GB 18218-2018 table here; give criticalQuantityT (Table 2) and beta (Table 4)`,
      );
    }
    if (!(criticalQuantityT > 0)) {
      throw new Error(
        `inventory[${index}] '${item.chemical}': criticalQuantityT must be > 0 (got ${criticalQuantityT})`,
      );
    }
    const beta = item.beta ?? entry?.beta ?? 1;
    const ratio = item.quantityT / criticalQuantityT;
    const overridden = item.criticalQuantityT !== undefined || item.beta !== undefined;
    return {
      chemical: item.chemical,
      name: entry ? `${entry.nameZh} (${entry.nameEn})` : item.chemical,
      quantityT: item.quantityT,
      criticalQuantityT,
      beta,
      ratio,
      weightedRatio: beta * ratio,
      source:
        entry && !overridden
          ? entry.source
          : 'given in the registry (GB 18218-2018 Table 2 / Table 4)',
    };
  });
  const derivation: string[] = [];
  for (const it of items) {
    derivation.push(
      `${it.name}: q = ${fmt(it.quantityT)} t, Q = ${fmt(it.criticalQuantityT)} t, q/Q = ${fmt(it.ratio)}, β = ${it.beta}, β·q/Q = ${fmt(it.weightedRatio)} [${it.source}]`,
    );
  }
  const sumRatio = items.reduce((s, it) => s + it.ratio, 0);
  const isMajorHazard = sumRatio >= 1;
  derivation.push(
    `S = Σ q/Q = ${fmt(sumRatio)} ${isMajorHazard ? '>= 1: major hazard installation' : '< 1: not a major hazard installation'} [GB 18218-2018 §4.2.2]`,
  );
  const alpha = alphaFor(input.peopleWithin500m);
  derivation.push(
    `α = ${alpha} for ${input.peopleWithin500m} people within 500 m [GB 18218-2018 Table 5]`,
  );
  const weighted = items.reduce((s, it) => s + it.weightedRatio, 0);
  const r = alpha * weighted;
  derivation.push(`R = α·Σ β·q/Q = ${alpha} × ${fmt(weighted)} = ${fmt(r)} [GB 18218-2018 §4.3]`);
  const grade = isMajorHazard ? gradeFor(r) : null;
  derivation.push(
    grade === null
      ? 'no grade: not a major hazard installation'
      : `grade ${grade} (R ${r >= 100 ? '>= 100' : r >= 50 ? 'in [50, 100)' : r >= 10 ? 'in [10, 50)' : '< 10'}) [GB 18218-2018 Table 6]`,
  );
  return { items, sumRatio, isMajorHazard, alpha, r, grade, derivation };
}

/**
 * Quantity in a vessel from its level (or weight) sensor: q = level fraction × capacity ×
 * density (issue 16). The fraction is (value − empty) / (full − empty), not clamped above 1: an
 * overfilled vessel must show as more than its capacity, not as exactly full. Below empty reads
 * as 0 (a level cannot hold a negative quantity).
 */
export function quantityFromLevel(vessel: {
  value: number;
  levelEmpty: number;
  levelFull: number;
  capacityM3: number;
  densityTPerM3: number;
}): number {
  const span = vessel.levelFull - vessel.levelEmpty;
  if (!Number.isFinite(vessel.value) || span === 0) {
    throw new Error(
      `level value ${vessel.value} with empty ${vessel.levelEmpty} and full ${vessel.levelFull} gives no fraction`,
    );
  }
  const fraction = Math.max(0, (vessel.value - vessel.levelEmpty) / span);
  return fraction * vessel.capacityM3 * vessel.densityTPerM3;
}

/**
 * The inventory as it is now: each chemical that has vessels with a live quantity takes the sum
 * of their quantities; the others keep their registered quantity. Chemicals found only in
 * vessels are added with the table's Q (or fail grading, naming them, if the table has none).
 */
export function liveInventory(
  registered: readonly InventoryItem[],
  live: ReadonlyMap<string, number>,
): InventoryItem[] {
  const out = registered.map((item) =>
    live.has(item.chemical) ? { ...item, quantityT: live.get(item.chemical) ?? 0 } : { ...item },
  );
  for (const [chemical, quantityT] of live) {
    if (!registered.some((item) => item.chemical === chemical)) out.push({ chemical, quantityT });
  }
  return out;
}
