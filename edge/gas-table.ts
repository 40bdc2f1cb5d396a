/**
 * Built-in gas table: the physical and exposure-limit data that rule checks and
 * alarm messages need. Only values we can cite are listed; a gas that lacks a
 * value (say, no OEL for methane) simply cannot be checked against that basis.
 *
 * Sources (cited per value below):
 * - GB/T 50493-2019 appendix B (table B.0.1, combustible gases: LEL/UEL in %VOL).
 * - GBZ 2.1-2019 (occupational exposure limits, mg/m³, workplaces below 2000 m altitude).
 * - NIOSH Pocket Guide to Chemical Hazards (IDLH, ppm; LEL %VOL where appendix B is not
 *   quoted here).
 * - IEC 60079-20-1:2010 table A.1 (hydrogen LFL, %VOL; NIOSH lists no hydrogen entry).
 *
 * Which OEL a rule is checked against (GB/T 50493-2019 §5.5.3 item 3 says "OEL"
 * without naming the class): the MAC where GBZ 2.1-2019 gives one, otherwise the
 * PC-TWA. This is the strictest of the three classes for every gas listed and the
 * reading most design institutes apply; the PC-STEL is kept for reference only.
 *
 * Conversion mg/m³ → ppm: ppm = mg/m³ × Vm / M with Vm the ideal-gas molar volume
 * at 20 °C and 101.325 kPa (24.05 L/mol). Converting at 25 °C (24.45 L/mol, the
 * NIOSH convention) would give about 1.7 % higher ppm limits; 20 °C is the
 * stricter of the two, so a setpoint that passes here passes there too.
 */

export type GasHazard = 'combustible' | 'toxic' | 'oxygen';

/** Occupational exposure limits of GBZ 2.1-2019, mg/m³ (absent where the standard gives none). */
export interface ExposureLimits {
  /** Maximum allowable concentration (最高容许浓度). */
  readonly macMgPerM3?: number;
  /** Permissible concentration, time-weighted average over 8 h (时间加权平均容许浓度). */
  readonly pcTwaMgPerM3?: number;
  /** Permissible concentration, short-term exposure (15 min) (短时间接触容许浓度). */
  readonly pcStelMgPerM3?: number;
}

export interface GasEntry {
  /** Canonical name used in rules, sensor catalogues and alarms. */
  readonly name: string;
  /** Other names accepted in rule files (matched case-insensitively), e.g. the formula. */
  readonly aliases: readonly string[];
  readonly formula: string;
  /** Molar mass, g/mol. */
  readonly molarMass: number;
  readonly hazards: readonly GasHazard[];
  /** Lower explosive limit, %VOL. */
  readonly lelVol?: number;
  readonly exposure?: ExposureLimits;
  /** Immediately dangerous to life or health, ppm. */
  readonly idlhPpm?: number;
  /** Where each number comes from. */
  readonly sources: readonly string[];
}

/** Ideal-gas molar volume at 20 °C and 101.325 kPa, L/mol (R·T/p = 8.314462618 × 293.15 / 101.325). */
export const MOLAR_VOLUME_20C = (8.314462618 * 293.15) / 101.325; // ≈ 24.05 L/mol

/** Oxygen in normal air, %VOL (dry air composition). */
export const NORMAL_AIR_OXYGEN_VOL = 20.9; // %VOL

/** Oxygen alarm setpoints of GB/T 50493-2019 §5.5.3 item 4. */
export const OXYGEN_DEFICIENCY_VOL = 19.5; // %VOL, deficiency (欠氧) alarm
export const OXYGEN_ENRICHMENT_VOL = 23.5; // %VOL, enrichment (过氧) alarm

const GB50493_B = 'GB/T 50493-2019 appendix B table B.0.1';
const GBZ21 = 'GBZ 2.1-2019 table 1';
const NIOSH = 'NIOSH Pocket Guide to Chemical Hazards';
const IEC60079 = 'IEC 60079-20-1:2010 table A.1';

const entries: readonly GasEntry[] = [
  {
    name: 'methane',
    aliases: ['CH4'],
    formula: 'CH4',
    molarMass: 16.04,
    hazards: ['combustible'],
    lelVol: 5.0, // %VOL, GB/T 50493-2019 appendix B table B.0.1
    sources: [`LEL: ${GB50493_B}`, 'no OEL in GBZ 2.1-2019, no IDLH in NIOSH (simple asphyxiant)'],
  },
  {
    name: 'H2S',
    aliases: ['hydrogen sulfide', 'hydrogen-sulfide', 'hydrogen sulphide'],
    formula: 'H2S',
    molarMass: 34.08,
    hazards: ['toxic'],
    exposure: { macMgPerM3: 10 }, // mg/m³, GBZ 2.1-2019 table 1 (MAC)
    idlhPpm: 100, // ppm, NIOSH Pocket Guide
    sources: [`OEL: ${GBZ21} (MAC 10 mg/m³)`, `IDLH: ${NIOSH} (100 ppm)`],
  },
  {
    name: 'CO',
    aliases: ['carbon monoxide', 'carbon-monoxide'],
    formula: 'CO',
    molarMass: 28.01,
    hazards: ['toxic'],
    // mg/m³, GBZ 2.1-2019 table 1, non-plateau values (below 2000 m altitude).
    exposure: { pcTwaMgPerM3: 20, pcStelMgPerM3: 30 },
    idlhPpm: 1200, // ppm, NIOSH Pocket Guide
    sources: [
      `OEL: ${GBZ21} (PC-TWA 20 mg/m³, PC-STEL 30 mg/m³, below 2000 m)`,
      `IDLH: ${NIOSH} (1200 ppm)`,
    ],
  },
  {
    name: 'propane',
    aliases: ['C3H8'],
    formula: 'C3H8',
    molarMass: 44.1,
    hazards: ['combustible'],
    lelVol: 2.1, // %VOL, NIOSH Pocket Guide (LEL 2.1 %)
    idlhPpm: 2100, // ppm, NIOSH Pocket Guide (IDLH 2100 ppm, based on 10 %LEL)
    sources: [
      `LEL: ${NIOSH} (2.1 %)`,
      `IDLH: ${NIOSH} (2100 ppm [10 %LEL])`,
      'no OEL for propane in GBZ 2.1-2019 (it lists LPG as a mixture)',
    ],
  },
  {
    name: 'hydrogen',
    aliases: ['H2'],
    formula: 'H2',
    molarMass: 2.016,
    hazards: ['combustible'],
    lelVol: 4.0, // %VOL, IEC 60079-20-1:2010 table A.1
    sources: [`LEL: ${IEC60079} (4.0 %VOL)`, 'no OEL in GBZ 2.1-2019, no IDLH in NIOSH'],
  },
  {
    name: 'NH3',
    aliases: ['ammonia'],
    formula: 'NH3',
    molarMass: 17.03,
    hazards: ['toxic', 'combustible'],
    lelVol: 15, // %VOL, NIOSH Pocket Guide (LEL 15 %)
    exposure: { pcTwaMgPerM3: 20, pcStelMgPerM3: 30 }, // mg/m³, GBZ 2.1-2019 table 1
    idlhPpm: 300, // ppm, NIOSH Pocket Guide
    sources: [
      `OEL: ${GBZ21} (PC-TWA 20 mg/m³, PC-STEL 30 mg/m³)`,
      `IDLH: ${NIOSH} (300 ppm)`,
      `LEL: ${NIOSH} (15 %)`,
    ],
  },
  {
    name: 'Cl2',
    aliases: ['chlorine'],
    formula: 'Cl2',
    molarMass: 70.9,
    hazards: ['toxic'],
    exposure: { macMgPerM3: 1 }, // mg/m³, GBZ 2.1-2019 table 1 (MAC)
    idlhPpm: 10, // ppm, NIOSH Pocket Guide
    sources: [`OEL: ${GBZ21} (MAC 1 mg/m³)`, `IDLH: ${NIOSH} (10 ppm)`],
  },
  {
    name: 'benzene',
    aliases: ['C6H6'],
    formula: 'C6H6',
    molarMass: 78.11,
    hazards: ['toxic', 'combustible'],
    lelVol: 1.2, // %VOL, NIOSH Pocket Guide (LEL 1.2 %)
    exposure: { pcTwaMgPerM3: 6, pcStelMgPerM3: 10 }, // mg/m³, GBZ 2.1-2019 table 1
    idlhPpm: 500, // ppm, NIOSH Pocket Guide (Ca: potential occupational carcinogen)
    sources: [
      `OEL: ${GBZ21} (PC-TWA 6 mg/m³, PC-STEL 10 mg/m³)`,
      `IDLH: ${NIOSH} (500 ppm)`,
      `LEL: ${NIOSH} (1.2 %)`,
    ],
  },
  {
    name: 'oxygen',
    aliases: ['O2'],
    formula: 'O2',
    molarMass: 32.0,
    hazards: ['oxygen'],
    sources: ['alarm setpoints 19.5/23.5 %VOL: GB/T 50493-2019 §5.5.3 item 4'],
  },
];

const byName = new Map<string, GasEntry>();
for (const entry of entries) {
  for (const key of [entry.name, entry.formula, ...entry.aliases]) {
    byName.set(key.toLowerCase(), entry);
  }
}

/** Every gas in the table, in table order. */
export const GAS_TABLE: readonly GasEntry[] = entries;

/** Canonical names, for error messages. */
export const GAS_NAMES: readonly string[] = entries.map((entry) => entry.name);

/** Looks a gas up by canonical name, formula or alias, case-insensitively. */
export function findGas(name: string): GasEntry | undefined {
  return byName.get(name.trim().toLowerCase());
}

/** Converts a mass concentration to a volume fraction at 20 °C, 101.325 kPa. */
export function mgPerM3ToPpm(mgPerM3: number, molarMass: number): number {
  return (mgPerM3 * MOLAR_VOLUME_20C) / molarMass;
}

/** The OEL a GB/T 50493-2019 §5.5.3 item 3 check uses: MAC if given, else PC-TWA (see header). */
export interface CheckedOel {
  readonly basis: 'MAC' | 'PC-TWA';
  readonly mgPerM3: number;
  readonly ppm: number;
}

export function oelOf(gas: GasEntry): CheckedOel | undefined {
  const exposure = gas.exposure;
  if (!exposure) return undefined;
  if (exposure.macMgPerM3 !== undefined) {
    const mg = exposure.macMgPerM3;
    return { basis: 'MAC', mgPerM3: mg, ppm: mgPerM3ToPpm(mg, gas.molarMass) };
  }
  if (exposure.pcTwaMgPerM3 !== undefined) {
    const mg = exposure.pcTwaMgPerM3;
    return { basis: 'PC-TWA', mgPerM3: mg, ppm: mgPerM3ToPpm(mg, gas.molarMass) };
  }
  return undefined;
}
