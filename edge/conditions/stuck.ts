/**
 * `type: stuck` — stuck value: raises when the value has not moved by more than
 * `tolerance` for `durationMs` (a frozen transmitter or a PLC register that stopped
 * updating still reads quality good). Measured between readings with tick().
 */
import type { LimitSpec, RuleBase } from '../rule-types.js';
import { levelSchema, numberOr } from './shared.js';
import type { ConditionType } from './types.js';

export interface StuckRule extends RuleBase {
  readonly type: 'stuck';
  readonly durationMs: number;
  readonly tolerance: number;
  readonly level: 1 | 2;
}

export const stuckCondition: ConditionType<StuckRule> = {
  type: 'stuck',
  summary: 'Stuck value: no change beyond tolerance for durationMs.',
  properties: {
    durationMs: {
      type: 'integer',
      minimum: 1000,
      maximum: 604_800_000,
      description: 'Raise when the value has not moved for this long, ms.',
    },
    tolerance: {
      type: 'number',
      minimum: 0,
      default: 0,
      description: 'Changes up to this much (sensor unit) count as not moving.',
    },
    level: { ...levelSchema, default: 1 },
  },
  required: ['durationMs'],

  normalize(raw, base) {
    return {
      ...base,
      type: 'stuck',
      durationMs: numberOr(raw, 'durationMs', 0),
      tolerance: numberOr(raw, 'tolerance', 0),
      level: raw.level === 2 ? 2 : 1,
    };
  },

  check: () => ({ issues: [] }),
  checkSensor: () => [],

  limits(rule): LimitSpec[] {
    return [
      {
        name: 'stuck',
        level: rule.level,
        direction: 'high',
        setpoint: rule.durationMs,
        deadband: 0,
        onDelayMs: 0,
        offDelayMs: 0,
        setpointPath: ['durationMs'],
        signal: { kind: 'stuck', tolerance: rule.tolerance },
        signalUnit: 'ms',
      },
    ];
  },

  gasOf: () => undefined,
};
