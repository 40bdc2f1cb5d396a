/**
 * `type: oxygen` — ambient oxygen deficiency and enrichment alarms on a %VOL
 * sensor, GB/T 50493-2019 §5.5.3 item 4: deficiency 19.5 %VOL, enrichment
 * 23.5 %VOL. A rule may be stricter (deficiency above 19.5, enrichment below
 * 23.5); looser setpoints need a justification.
 */
import type { SensorInfo } from '../../protocol/index.js';
import {
  NORMAL_AIR_OXYGEN_VOL,
  OXYGEN_DEFICIENCY_VOL,
  OXYGEN_ENRICHMENT_VOL,
} from '../gas-table.js';
import type { LimitSpec, RuleBase, RuleIssue } from '../rule-types.js';
import { deadbandSchema, delaySchema, fmt, levelSchema, numberOr, unitKey } from './shared.js';
import {
  type CheckedIssue,
  type ConditionType,
  deviation,
  type RuleCheck,
  ruleError,
} from './types.js';

export interface OxygenRule extends RuleBase {
  readonly type: 'oxygen';
  /** Low alarm setpoint, %VOL. */
  readonly deficiency: number;
  /** High alarm setpoint, %VOL. */
  readonly enrichment: number;
  /** Level of both alarms. */
  readonly level: 1 | 2;
  readonly deadband: number;
  readonly onDelayMs: number;
  readonly offDelayMs: number;
}

const CLAUSE = 'GB/T 50493-2019 §5.5.3 item 4';

const DEFAULTS = {
  deficiency: OXYGEN_DEFICIENCY_VOL, // 19.5 %VOL, GB/T 50493-2019 §5.5.3 item 4
  enrichment: OXYGEN_ENRICHMENT_VOL, // 23.5 %VOL, GB/T 50493-2019 §5.5.3 item 4
  level: 1, // warning: the standard gives one setpoint per side, not two levels
  deadband: 0.2, // %VOL, about 1 % of reading: above typical electrochemical O2 cell noise
  onDelayMs: 0, // ms
  offDelayMs: 0, // ms
} as const;

export const oxygenCondition: ConditionType<OxygenRule> = {
  type: 'oxygen',
  summary: `Oxygen deficiency and enrichment alarms on a %VOL sensor (${CLAUSE}).`,
  properties: {
    deficiency: {
      type: 'number',
      default: DEFAULTS.deficiency,
      description: `Deficiency (low) setpoint, %VOL; at least ${OXYGEN_DEFICIENCY_VOL} (${CLAUSE}).`,
    },
    enrichment: {
      type: 'number',
      default: DEFAULTS.enrichment,
      description: `Enrichment (high) setpoint, %VOL; at most ${OXYGEN_ENRICHMENT_VOL} (${CLAUSE}).`,
    },
    level: { ...levelSchema, default: DEFAULTS.level },
    deadband: { ...deadbandSchema, default: DEFAULTS.deadband },
    onDelayMs: delaySchema('Condition must hold this long before raising'),
    offDelayMs: delaySchema('Return must hold this long before clearing'),
  },
  required: [],

  normalize(raw, base) {
    return {
      ...base,
      type: 'oxygen',
      deficiency: numberOr(raw, 'deficiency', DEFAULTS.deficiency),
      enrichment: numberOr(raw, 'enrichment', DEFAULTS.enrichment),
      level: raw.level === 2 ? 2 : 1,
      deadband: numberOr(raw, 'deadband', DEFAULTS.deadband),
      onDelayMs: numberOr(raw, 'onDelayMs', DEFAULTS.onDelayMs),
      offDelayMs: numberOr(raw, 'offDelayMs', DEFAULTS.offDelayMs),
    };
  },

  check(rule): RuleCheck {
    const issues: CheckedIssue[] = [];
    const air = NORMAL_AIR_OXYGEN_VOL;
    // Deficiency is the low limit and enrichment the high one: normal air must lie
    // between them, with room for the deadband. Contradictions: never waivable.
    if (rule.deficiency >= air) {
      issues.push(
        ruleError(
          ['deficiency'],
          `deficiency ${fmt(rule.deficiency)} %VOL must be below normal air (${air} %VOL), or it alarms constantly`,
        ),
      );
    }
    if (rule.enrichment <= air) {
      issues.push(
        ruleError(
          ['enrichment'],
          `enrichment ${fmt(rule.enrichment)} %VOL must be above normal air (${air} %VOL), or it alarms constantly`,
        ),
      );
    }
    const room = Math.min(air - rule.deficiency, rule.enrichment - air);
    if (room > 0 && rule.deadband >= room) {
      issues.push(
        ruleError(
          ['deadband'],
          `deadband ${fmt(rule.deadband)} %VOL must be smaller than ${fmt(room)} %VOL, or an alarm could never clear in normal air (${air} %VOL)`,
        ),
      );
    }
    if (rule.deficiency < OXYGEN_DEFICIENCY_VOL) {
      issues.push(
        deviation(
          ['deficiency'],
          `deficiency ${fmt(rule.deficiency)} %VOL is looser than the ${OXYGEN_DEFICIENCY_VOL} %VOL of ${CLAUSE}`,
          CLAUSE,
        ),
      );
    }
    if (rule.enrichment > OXYGEN_ENRICHMENT_VOL) {
      issues.push(
        deviation(
          ['enrichment'],
          `enrichment ${fmt(rule.enrichment)} %VOL is looser than the ${OXYGEN_ENRICHMENT_VOL} %VOL of ${CLAUSE}`,
          CLAUSE,
        ),
      );
    }
    return { issues };
  },

  checkSensor(_rule, sensor: SensorInfo) {
    const issues: RuleIssue[] = [];
    if (unitKey(sensor.unit) !== 'vol') {
      issues.push({
        path: ['type'],
        message: `an oxygen rule needs a sensor reporting %VOL, but sensor '${sensor.sensorId}' reports '${sensor.unit}'`,
      });
    }
    if (sensor.gas !== undefined && !['oxygen', 'o2'].includes(sensor.gas.toLowerCase())) {
      issues.push({
        path: ['type'],
        message: `an oxygen rule needs an oxygen sensor, but sensor '${sensor.sensorId}' measures '${sensor.gas}'`,
      });
    }
    return issues;
  },

  limits(rule): LimitSpec[] {
    const common = {
      level: rule.level,
      deadband: rule.deadband,
      onDelayMs: rule.onDelayMs,
      offDelayMs: rule.offDelayMs,
    } as const;
    return [
      {
        ...common,
        name: 'deficiency',
        direction: 'low',
        setpoint: rule.deficiency,
        setpointPath: ['deficiency'],
      },
      {
        ...common,
        name: 'enrichment',
        direction: 'high',
        setpoint: rule.enrichment,
        setpointPath: ['enrichment'],
      },
    ];
  },

  gasOf() {
    return 'oxygen';
  },
};
