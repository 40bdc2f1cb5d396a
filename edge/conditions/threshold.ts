/**
 * `type: threshold` — generic limit alarms for process values (temperature,
 * pressure, level, flow): up to four named limits (say L, H, HH, LL), each with
 * its own level, direction, setpoint, deadband and delays. No standard maxima
 * apply; the checks only refuse limits that contradict each other.
 */
import type { LimitDirection, LimitSpec, RuleBase } from '../rule-types.js';
import { deadbandSchema, delaySchema, fmt, levelSchema, numberOr } from './shared.js';
import { type CheckedIssue, type ConditionType, type RuleCheck, ruleError } from './types.js';

export interface ThresholdLimit extends LimitSpec {}

export interface ThresholdRule extends RuleBase {
  readonly type: 'threshold';
  /** Unit the setpoints are written in; when given, the sensor must report exactly this unit. */
  readonly unit?: string;
  readonly limits: readonly ThresholdLimit[];
}

/** At most four limits per rule (L, LL, H, HH): more is a sign of a rule that should be split. */
export const MAX_LIMITS = 4;

/** Limit names become part of alarm ids (`ruleId.limit.ts`), so no dots. */
export const LIMIT_NAME_PATTERN = '^[A-Za-z0-9_-]{1,16}$';

export const thresholdCondition: ConditionType<ThresholdRule> = {
  type: 'threshold',
  summary: 'Up to four high/low limits on a process value (temperature, pressure, level, ...).',
  properties: {
    unit: {
      type: 'string',
      minLength: 1,
      maxLength: 32,
      description:
        'Unit of the setpoints (e.g. MPa); the sensor must report exactly this unit. Catches kPa/MPa mix-ups.',
    },
    limits: {
      type: 'array',
      minItems: 1,
      maxItems: MAX_LIMITS,
      description: 'The limits, each its own alarm.',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'level', 'direction', 'setpoint', 'deadband'],
        properties: {
          name: {
            type: 'string',
            pattern: LIMIT_NAME_PATTERN,
            description: 'Limit name, unique in the rule (H, HH, L, LL).',
          },
          level: levelSchema,
          direction: {
            enum: ['high', 'low'],
            description: 'high: alarm at value >= setpoint; low: alarm at value <= setpoint.',
          },
          setpoint: { type: 'number', description: 'Setpoint in the sensor unit.' },
          deadband: deadbandSchema,
          onDelayMs: delaySchema('Condition must hold this long before raising'),
          offDelayMs: delaySchema('Return must hold this long before clearing'),
        },
      },
    },
  },
  required: ['limits'],

  normalize(raw, base) {
    const rawLimits = Array.isArray(raw.limits) ? (raw.limits as Record<string, unknown>[]) : [];
    return {
      ...base,
      type: 'threshold',
      ...(typeof raw.unit === 'string' ? { unit: raw.unit.trim() } : {}),
      limits: rawLimits.map((limit, index) => ({
        name: String(limit.name),
        level: limit.level === 2 ? 2 : 1,
        direction: limit.direction === 'low' ? 'low' : 'high',
        setpoint: numberOr(limit, 'setpoint', 0),
        deadband: numberOr(limit, 'deadband', 0),
        onDelayMs: numberOr(limit, 'onDelayMs', 0),
        offDelayMs: numberOr(limit, 'offDelayMs', 0),
        setpointPath: ['limits', index, 'setpoint'],
      })),
    };
  },

  check(rule): RuleCheck {
    // Every issue here is a contradiction between limits: hard errors, never waivable.
    const issues: CheckedIssue[] = [];
    const seenNames = new Map<string, number>();
    const seenSlots = new Map<string, number>();
    rule.limits.forEach((limit, index) => {
      const firstName = seenNames.get(limit.name);
      if (firstName !== undefined) {
        issues.push(
          ruleError(
            ['limits', index, 'name'],
            `duplicate limit name '${limit.name}' (also limits[${firstName}])`,
          ),
        );
      } else {
        seenNames.set(limit.name, index);
      }
      const slot = `${limit.direction} level ${limit.level}`;
      const firstSlot = seenSlots.get(slot);
      if (firstSlot !== undefined) {
        issues.push(
          ruleError(
            ['limits', index, 'level'],
            `a second ${slot} limit (also limits[${firstSlot}]); use level 1 and level 2`,
          ),
        );
      } else {
        seenSlots.set(slot, index);
      }
    });
    const find = (direction: LimitDirection, level: 1 | 2) =>
      rule.limits.findIndex((limit) => limit.direction === direction && limit.level === level);
    for (const direction of ['high', 'low'] as const) {
      const i1 = find(direction, 1);
      const i2 = find(direction, 2);
      const l1 = rule.limits[i1];
      const l2 = rule.limits[i2];
      if (!l1 || !l2) continue;
      // HH above H; LL below L (an oxygen deficiency LL is the lower one too).
      const gap = direction === 'high' ? l2.setpoint - l1.setpoint : l1.setpoint - l2.setpoint;
      if (gap <= 0) {
        issues.push(
          ruleError(
            ['limits', i2, 'setpoint'],
            `${l2.name} setpoint ${fmt(l2.setpoint)} must be ${direction === 'high' ? 'above' : 'below'} ${l1.name} setpoint ${fmt(l1.setpoint)}: level 2 is the more severe ${direction} limit`,
          ),
        );
      } else if (l2.deadband >= gap) {
        issues.push(
          ruleError(
            ['limits', i2, 'deadband'],
            `${l2.name} deadband ${fmt(l2.deadband)} must be smaller than the gap of ${fmt(gap)} to ${l1.name}, or ${l2.name} would stay active beyond the ${l1.name} setpoint`,
          ),
        );
      }
    }
    rule.limits.forEach((high, index) => {
      if (high.direction !== 'high') return;
      for (const low of rule.limits) {
        if (low.direction !== 'low') continue;
        if (high.setpoint <= low.setpoint) {
          issues.push(
            ruleError(
              ['limits', index, 'setpoint'],
              `high limit ${high.name} (${fmt(high.setpoint)}) must be above low limit ${low.name} (${fmt(low.setpoint)}), or one of them is always in alarm`,
            ),
          );
        } else if (high.setpoint - high.deadband <= low.setpoint + low.deadband) {
          // The hysteresis bands overlap: a value could hold the high alarm and raise
          // the low one (or the reverse) at the same time.
          issues.push(
            ruleError(
              ['limits', index, 'deadband'],
              `deadbands of high limit ${high.name} (${fmt(high.setpoint)} − ${fmt(high.deadband)}) and low limit ${low.name} (${fmt(low.setpoint)} + ${fmt(low.deadband)}) overlap: both could be active at once`,
            ),
          );
        }
      }
    });
    return { issues };
  },

  checkSensor(rule, sensor) {
    if (rule.unit === undefined || rule.unit === sensor.unit.trim()) return [];
    // Exact comparison: case matters in SI prefixes (MPa is not mPa).
    return [
      {
        path: ['unit'],
        message: `setpoints are in '${rule.unit}', but sensor '${sensor.sensorId}' reports '${sensor.unit}'`,
      },
    ];
  },

  limits(rule) {
    return rule.limits;
  },

  gasOf() {
    return undefined;
  },
};
