/**
 * `type: stale` — no data or stale data: raises when the sensor has sent no
 * reading (of any quality) for `timeoutMs`, or its readings carry timestamps that
 * old. Measured with the gateway clock between readings (the engine's tick()), so
 * a sensor that never reports raises `timeoutMs` after the engine starts.
 */
import type { LimitSpec, RuleBase } from '../rule-types.js';
import { levelSchema, numberOr } from './shared.js';
import type { ConditionType } from './types.js';

export interface StaleRule extends RuleBase {
  readonly type: 'stale';
  readonly timeoutMs: number;
  readonly level: 1 | 2;
}

export const staleCondition: ConditionType<StaleRule> = {
  type: 'stale',
  summary: 'No data or stale data: no reading for timeoutMs.',
  properties: {
    timeoutMs: {
      type: 'integer',
      minimum: 1000,
      maximum: 86_400_000,
      description: 'Raise when the newest reading is this old, ms (say 3 poll periods).',
    },
    level: { ...levelSchema, default: 1 },
  },
  required: ['timeoutMs'],

  normalize(raw, base) {
    return {
      ...base,
      type: 'stale',
      timeoutMs: numberOr(raw, 'timeoutMs', 0),
      level: raw.level === 2 ? 2 : 1,
    };
  },

  check: () => ({ issues: [] }),
  checkSensor: () => [],

  limits(rule): LimitSpec[] {
    return [
      {
        name: 'stale',
        level: rule.level,
        direction: 'high',
        setpoint: rule.timeoutMs,
        deadband: 0,
        onDelayMs: 0,
        offDelayMs: 0,
        setpointPath: ['timeoutMs'],
        signal: { kind: 'stale' },
        signalUnit: 'ms',
      },
    ];
  },

  gasOf: () => undefined,
};
