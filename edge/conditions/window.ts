/**
 * `type: window` — windowed aggregate alarm: the average, maximum or minimum of
 * the values of the last `windowMs`, compared with `setpoint` (say, "average
 * pressure over 60 s above 1.1 MPa"). Samples live in a fixed ring of
 * `maxSamples` (allocated once at compile time): the oldest drop out first.
 */
import type { LimitSpec, RuleBase } from '../rule-types.js';
import { deadbandSchema, delaySchema, fmt, levelSchema, numberOr } from './shared.js';
import { type ConditionType, type RuleCheck, ruleError } from './types.js';

export type WindowFunction = 'average' | 'max' | 'min';

export interface WindowRule extends RuleBase {
  readonly type: 'window';
  readonly function: WindowFunction;
  readonly windowMs: number;
  readonly maxSamples: number;
  readonly direction: 'high' | 'low';
  readonly setpoint: number;
  readonly deadband: number;
  readonly level: 1 | 2;
  readonly onDelayMs: number;
  readonly offDelayMs: number;
}

const DEFAULTS = { maxSamples: 600, direction: 'high', level: 1 } as const;

export const windowCondition: ConditionType<WindowRule> = {
  type: 'window',
  summary: 'Average, maximum or minimum over the last windowMs, against a setpoint.',
  properties: {
    function: { enum: ['average', 'max', 'min'], description: 'Aggregate over the window.' },
    windowMs: {
      type: 'integer',
      minimum: 1000,
      maximum: 3_600_000,
      description: 'Window length, ms.',
    },
    maxSamples: {
      type: 'integer',
      minimum: 2,
      maximum: 100_000,
      default: DEFAULTS.maxSamples,
      description: 'Ring size: at most this many samples are kept (oldest dropped first).',
    },
    direction: {
      enum: ['high', 'low'],
      default: DEFAULTS.direction,
      description: 'high or low limit.',
    },
    setpoint: { type: 'number', description: 'Setpoint in the sensor unit.' },
    deadband: deadbandSchema,
    level: { ...levelSchema, default: DEFAULTS.level },
    onDelayMs: delaySchema('Condition must hold this long before raising'),
    offDelayMs: delaySchema('Return must hold this long before clearing'),
  },
  required: ['function', 'windowMs', 'setpoint', 'deadband'],

  normalize(raw, base) {
    return {
      ...base,
      type: 'window',
      function: raw.function as WindowFunction,
      windowMs: numberOr(raw, 'windowMs', 0),
      maxSamples: numberOr(raw, 'maxSamples', DEFAULTS.maxSamples),
      direction: raw.direction === 'low' ? 'low' : 'high',
      setpoint: numberOr(raw, 'setpoint', 0),
      deadband: numberOr(raw, 'deadband', 0),
      level: raw.level === 2 ? 2 : 1,
      onDelayMs: numberOr(raw, 'onDelayMs', 0),
      offDelayMs: numberOr(raw, 'offDelayMs', 0),
    };
  },

  check(rule): RuleCheck {
    if (rule.function !== 'average' || rule.maxSamples >= 2) return { issues: [] };
    return { issues: [ruleError(['maxSamples'], `maxSamples ${fmt(rule.maxSamples)} too small`)] };
  },
  checkSensor: () => [],

  limits(rule): LimitSpec[] {
    return [
      {
        name: rule.function,
        level: rule.level,
        direction: rule.direction,
        setpoint: rule.setpoint,
        deadband: rule.deadband,
        onDelayMs: rule.onDelayMs,
        offDelayMs: rule.offDelayMs,
        setpointPath: ['setpoint'],
        signal: {
          kind: 'window',
          fn: rule.function,
          windowMs: rule.windowMs,
          maxSamples: rule.maxSamples,
        },
      },
    ];
  },

  gasOf: () => undefined,
};
