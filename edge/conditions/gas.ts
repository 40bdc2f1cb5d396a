/**
 * `type: gas` — two-level gas alarm (GB/T 50493-2019 §5.5.3): level 1 and level 2
 * high setpoints in the sensor's unit, checked against the standard's maxima for
 * the gas's class.
 *
 * `measure` says what the sensor's unit (and so the setpoints) is:
 *   LEL  — %LEL; combustible check (items 1–2: level 1 <= 25 %LEL, level 2 <= 50 %LEL)
 *   VOL  — %VOL; converted to %LEL with the gas table's LEL, then the combustible check
 *   OEL  — %OEL; toxic check (item 3: level 1 <= 100 %OEL, level 2 <= 200 %OEL)
 *   IDLH — %IDLH; toxic check where the range cannot cover 200 %OEL (item 3: 5 / 10 %IDLH)
 *   ppm  — ppm; the gas table converts the OEL (or, with `basis: IDLH`, the IDLH) to ppm
 *          and the toxic check runs on the ppm values.
 *   LELm — LEL·m, open-path (line-type) combustible detectors (item 5: level 1 1 LEL·m,
 *          level 2 2 LEL·m).
 */
import type { SensorInfo } from '../../protocol/index.js';
import { findGas, GAS_NAMES, type GasEntry, oelOf } from '../gas-table.js';
import type { LimitSpec, RuleBase, RuleIssue } from '../rule-types.js';
import {
  deadbandSchema,
  delaySchema,
  EPSILON,
  fmt,
  numberOr,
  setpointSchema,
  unitKey,
} from './shared.js';
import {
  type CheckedIssue,
  type ConditionType,
  deviation,
  type RuleCheck,
  ruleError,
} from './types.js';

export const GAS_MEASURES = ['LEL', 'VOL', 'OEL', 'IDLH', 'ppm', 'LELm'] as const;
export type GasMeasure = (typeof GAS_MEASURES)[number];
export type ToxicBasis = 'OEL' | 'IDLH';

export interface GasRule extends RuleBase {
  readonly type: 'gas';
  /** Canonical gas name from the gas table (as written when unknown; the check refuses it). */
  readonly gas: string;
  readonly measure: GasMeasure;
  /** For `measure: ppm`: which limit the setpoints are checked against (default OEL). */
  readonly basis: ToxicBasis;
  readonly level1: number;
  readonly level2: number;
  readonly deadband: number;
  readonly onDelayMs: number;
  readonly offDelayMs: number;
}

/** GB/T 50493-2019 §5.5.3 maxima. */
const MAX = {
  level1Lel: 25, // %LEL, item 1
  level2Lel: 50, // %LEL, item 2
  level1Oel: 100, // %OEL, item 3
  level2Oel: 200, // %OEL, item 3
  level1Idlh: 5, // %IDLH, item 3 (range cannot cover 200 %OEL)
  level2Idlh: 10, // %IDLH, item 3
  level1OpenPath: 1, // LEL·m, item 5 (open-path detectors)
  level2OpenPath: 2, // LEL·m, item 5
} as const;

const CLAUSE_COMBUSTIBLE_1 = 'GB/T 50493-2019 §5.5.3 item 1';
const CLAUSE_COMBUSTIBLE_2 = 'GB/T 50493-2019 §5.5.3 item 2';
const CLAUSE_TOXIC = 'GB/T 50493-2019 §5.5.3 item 3';
const CLAUSE_OPEN_PATH = 'GB/T 50493-2019 §5.5.3 item 5';

/** Sensor unit each measure needs (compared with unitKey). */
const UNIT_OF: Record<GasMeasure, string> = {
  LEL: '%LEL',
  VOL: '%VOL',
  OEL: '%OEL',
  IDLH: '%IDLH',
  ppm: 'ppm',
  LELm: 'LEL·m',
};

/** Unit comparison for a measure: LEL·m also written LEL.m, LELm, LEL*m. */
function unitMatches(measure: GasMeasure, unit: string): boolean {
  const strip = (u: string) => unitKey(u).replace(/[·.*]/g, '');
  return strip(unit) === strip(UNIT_OF[measure]);
}

interface Scaled {
  /** Setpoint as a percentage of the reference (%LEL, %OEL or %IDLH). */
  readonly percent: number;
  /** How the percentage was obtained, for the message; '' when the setpoint is already a percentage. */
  readonly how: string;
}

/** One of the two setpoint maxima a gas rule is checked against. */
interface Basis {
  readonly reference: '%LEL' | '%OEL' | '%IDLH' | 'LEL·m';
  readonly max1: number;
  readonly max2: number;
  readonly clause1: string;
  readonly clause2: string;
  scale(setpoint: number): Scaled;
}

function basisFor(rule: GasRule, gas: GasEntry): Basis | RuleIssue {
  const lel = gas.lelVol;
  const oel = oelOf(gas);
  const idlh = gas.idlhPpm;
  const noValue = (what: string, instead: string): RuleIssue => ({
    path: ['measure'],
    message: `the gas table has no ${what} for '${gas.name}'; use measure ${instead}`,
  });
  const combustible = (scale: (setpoint: number) => Scaled): Basis => ({
    reference: '%LEL',
    max1: MAX.level1Lel,
    max2: MAX.level2Lel,
    clause1: CLAUSE_COMBUSTIBLE_1,
    clause2: CLAUSE_COMBUSTIBLE_2,
    scale,
  });
  const toxic = (reference: '%OEL' | '%IDLH', scale: (setpoint: number) => Scaled): Basis => ({
    reference,
    max1: reference === '%OEL' ? MAX.level1Oel : MAX.level1Idlh,
    max2: reference === '%OEL' ? MAX.level2Oel : MAX.level2Idlh,
    clause1: CLAUSE_TOXIC,
    clause2: CLAUSE_TOXIC,
    scale,
  });
  switch (rule.measure) {
    case 'LELm':
      if (lel === undefined) return noValue('LEL', 'ppm, OEL or IDLH');
      return {
        reference: 'LEL·m',
        max1: MAX.level1OpenPath,
        max2: MAX.level2OpenPath,
        clause1: CLAUSE_OPEN_PATH,
        clause2: CLAUSE_OPEN_PATH,
        scale: (setpoint) => ({ percent: setpoint, how: '' }),
      };
    case 'LEL':
      if (lel === undefined) return noValue('LEL', 'ppm, OEL or IDLH');
      return combustible((setpoint) => ({ percent: setpoint, how: '' }));
    case 'VOL':
      if (lel === undefined) return noValue('LEL', 'ppm, OEL or IDLH');
      return combustible((setpoint) => ({
        percent: (setpoint / lel) * 100,
        how: `LEL ${fmt(lel)} %VOL`,
      }));
    case 'OEL':
      if (oel === undefined) return noValue('OEL', 'LEL or VOL');
      return toxic('%OEL', (setpoint) => ({ percent: setpoint, how: '' }));
    case 'IDLH':
      if (idlh === undefined) return noValue('IDLH', 'LEL or VOL');
      return toxic('%IDLH', (setpoint) => ({ percent: setpoint, how: '' }));
    case 'ppm':
      if (rule.basis === 'IDLH') {
        if (idlh === undefined) return noValue('IDLH', 'LEL or VOL');
        return toxic('%IDLH', (setpoint) => ({
          percent: (setpoint / idlh) * 100,
          how: `IDLH ${fmt(idlh)} ppm`,
        }));
      }
      if (oel === undefined) return noValue('OEL', 'LEL or VOL');
      return toxic('%OEL', (setpoint) => ({
        percent: (setpoint / oel.ppm) * 100,
        how: `OEL = ${oel.basis} ${fmt(oel.mgPerM3)} mg/m³ = ${fmt(oel.ppm)} ppm at 20 °C`,
      }));
  }
}

function describe(rule: GasRule, setpoint: number, basis: Basis, scaled: Scaled): string {
  const unit = UNIT_OF[rule.measure];
  if (scaled.how === '') return `${fmt(setpoint)} ${unit}`;
  return `${fmt(setpoint)} ${unit} (${fmt(scaled.percent)} ${basis.reference}; ${scaled.how})`;
}

export const gasCondition: ConditionType<GasRule> = {
  type: 'gas',
  summary: 'Two-level gas alarm checked against GB/T 50493-2019 §5.5.3 (combustible or toxic).',
  properties: {
    gas: {
      type: 'string',
      minLength: 1,
      description: `Gas from the built-in gas table (${GAS_NAMES.join(', ')}); formula and aliases accepted.`,
    },
    measure: {
      enum: GAS_MEASURES,
      description:
        "What the sensor's unit is: %LEL, %VOL, %OEL, %IDLH, ppm (toxic gases; OEL converted to ppm), or LELm (LEL·m, open-path detectors).",
    },
    basis: {
      enum: ['OEL', 'IDLH'],
      default: 'OEL',
      description:
        'measure ppm only: check against %OEL (default) or, where the range cannot cover 200 %OEL, %IDLH.',
    },
    level1: {
      ...setpointSchema('Level 1 (warning) setpoint in the sensor unit.'),
      exclusiveMinimum: 0,
    },
    level2: {
      ...setpointSchema('Level 2 (action) setpoint in the sensor unit.'),
      exclusiveMinimum: 0,
    },
    deadband: deadbandSchema,
    onDelayMs: delaySchema('Condition must hold this long before raising'),
    offDelayMs: delaySchema('Return must hold this long before clearing'),
  },
  required: ['gas', 'measure', 'level1', 'level2', 'deadband'],

  normalize(raw, base) {
    const written = String(raw.gas);
    return {
      ...base,
      type: 'gas',
      gas: findGas(written)?.name ?? written,
      measure: raw.measure as GasMeasure,
      basis: raw.basis === 'IDLH' ? 'IDLH' : 'OEL',
      level1: numberOr(raw, 'level1', 0),
      level2: numberOr(raw, 'level2', 0),
      deadband: numberOr(raw, 'deadband', 0),
      onDelayMs: numberOr(raw, 'onDelayMs', 0),
      offDelayMs: numberOr(raw, 'offDelayMs', 0),
    };
  },

  check(rule): RuleCheck {
    const issues: CheckedIssue[] = [];
    if (rule.deadband >= rule.level1) {
      issues.push(
        ruleError(
          ['deadband'],
          `deadband ${fmt(rule.deadband)} must be smaller than level1 ${fmt(rule.level1)}, or level 1 could never clear`,
        ),
      );
    }
    // A contradiction, not a deviation: no justification makes a level 2 that is not
    // above level 1 safe (a rising leak would reach the action level first or together).
    if (rule.level2 <= rule.level1) {
      issues.push(
        ruleError(
          ['level2'],
          `level2 ${fmt(rule.level2)} must be above level1 ${fmt(rule.level1)}: level 2 is the higher setpoint (GB/T 50493-2019 §5.5.3 items 1–3)`,
        ),
      );
    } else if (rule.deadband >= rule.level2 - rule.level1) {
      // Level 2 clears at level2 - deadband; at or below level 1 it would stay active
      // while the value is already under the level-1 setpoint.
      issues.push(
        ruleError(
          ['deadband'],
          `deadband ${fmt(rule.deadband)} must be smaller than the gap between level1 ${fmt(rule.level1)} and level2 ${fmt(rule.level2)}, or level 2 would stay active below the level 1 setpoint`,
        ),
      );
    }
    const gas = findGas(rule.gas);
    if (!gas) {
      issues.push(ruleError(['gas'], `unknown gas '${rule.gas}' (known: ${GAS_NAMES.join(', ')})`));
      return { issues };
    }
    if (gas.hazards.includes('oxygen')) {
      issues.push(ruleError(['type'], 'oxygen is checked by type: oxygen, not type: gas'));
      return { issues };
    }
    if (rule.measure !== 'ppm' && rule.basis !== 'OEL') {
      issues.push(ruleError(['basis'], 'basis applies only to measure: ppm'));
    }
    const basis = basisFor(rule, gas);
    if (!('scale' in basis)) {
      issues.push(ruleError(basis.path, basis.message));
      return { issues };
    }
    const checks = [
      { key: 'level1', setpoint: rule.level1, max: basis.max1, clause: basis.clause1 },
      { key: 'level2', setpoint: rule.level2, max: basis.max2, clause: basis.clause2 },
    ] as const;
    for (const { key, setpoint, max, clause } of checks) {
      const scaled = basis.scale(setpoint);
      if (scaled.percent > max + EPSILON) {
        issues.push(
          deviation(
            [key],
            `${key} ${describe(rule, setpoint, basis, scaled)} is above the ${max} ${basis.reference} maximum of ${clause}`,
            clause,
          ),
        );
      }
    }
    return { issues };
  },

  checkSensor(rule, sensor: SensorInfo) {
    const issues: RuleIssue[] = [];
    const expected = UNIT_OF[rule.measure];
    if (!unitMatches(rule.measure, sensor.unit)) {
      issues.push({
        path: ['measure'],
        message: `measure ${rule.measure} needs a sensor reporting ${expected}, but sensor '${sensor.sensorId}' reports '${sensor.unit}'`,
      });
    }
    if (sensor.gas !== undefined) {
      const sensorGas = findGas(sensor.gas)?.name ?? sensor.gas;
      if (sensorGas !== rule.gas) {
        issues.push({
          path: ['gas'],
          message: `gas '${rule.gas}' differs from the gas of sensor '${sensor.sensorId}' ('${sensor.gas}')`,
        });
      }
    }
    return issues;
  },

  limits(rule): LimitSpec[] {
    const common = {
      direction: 'high',
      deadband: rule.deadband,
      onDelayMs: rule.onDelayMs,
      offDelayMs: rule.offDelayMs,
    } as const;
    return [
      { ...common, name: 'level1', level: 1, setpoint: rule.level1, setpointPath: ['level1'] },
      { ...common, name: 'level2', level: 2, setpoint: rule.level2, setpointPath: ['level2'] },
    ];
  },

  gasOf(rule) {
    return rule.gas;
  },
};
