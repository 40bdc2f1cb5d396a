/**
 * `type: fault` — sensor fault alarms from reading quality:
 *   sensor-fault  NAMUR NE 43 fault: quality bad with a reason starting 'ne43 fault'
 *                 (loop current below 3.6 mA or above 21 mA, NAMUR NE 43)
 *   bad-quality   any other bad quality (timeout, Modbus exception, comm lost)
 * A controller fault must reach the fire-control room (GB/T 50493-2019, as summarised in ../shared/BRIEF.md; clause to be checked against the text); both
 * limits are on by default.
 */
import type { LimitSpec, RuleBase } from '../rule-types.js';
import { delaySchema, levelSchema, numberOr } from './shared.js';
import { type ConditionType, ruleError } from './types.js';

/** Reason prefix acquisition writes for NAMUR NE 43 faults (protocol Reading.reason). */
export const NE43_REASON_PREFIX = 'ne43 fault';

export interface FaultRule extends RuleBase {
  readonly type: 'fault';
  readonly ne43: boolean;
  readonly badQuality: boolean;
  readonly level: 1 | 2;
  readonly onDelayMs: number;
  readonly offDelayMs: number;
}

export const faultCondition: ConditionType<FaultRule> = {
  type: 'fault',
  summary: 'Sensor fault: NAMUR NE 43 fault and other bad quality.',
  properties: {
    ne43: { type: 'boolean', default: true, description: 'Alarm on NAMUR NE 43 faults.' },
    badQuality: { type: 'boolean', default: true, description: 'Alarm on other bad quality.' },
    level: { ...levelSchema, default: 1 },
    onDelayMs: delaySchema('Fault must persist this long before raising'),
    offDelayMs: delaySchema('Good quality must persist this long before clearing'),
  },
  required: [],

  normalize(raw, base) {
    return {
      ...base,
      type: 'fault',
      ne43: raw.ne43 !== false,
      badQuality: raw.badQuality !== false,
      level: raw.level === 2 ? 2 : 1,
      onDelayMs: numberOr(raw, 'onDelayMs', 0),
      offDelayMs: numberOr(raw, 'offDelayMs', 0),
    };
  },

  check(rule) {
    if (rule.ne43 || rule.badQuality) return { issues: [] };
    return {
      issues: [ruleError(['ne43'], 'ne43 and badQuality are both false: the rule does nothing')],
    };
  },
  checkSensor: () => [],

  limits(rule): LimitSpec[] {
    const common = {
      level: rule.level,
      direction: 'high',
      setpoint: 1,
      deadband: 0,
      onDelayMs: rule.onDelayMs,
      offDelayMs: rule.offDelayMs,
      signalUnit: '',
    } as const;
    const out: LimitSpec[] = [];
    if (rule.ne43) {
      out.push({
        ...common,
        name: 'sensor-fault',
        setpointPath: ['ne43'],
        signal: { kind: 'fault', ne43: true },
      });
    }
    if (rule.badQuality) {
      out.push({
        ...common,
        name: 'bad-quality',
        setpointPath: ['badQuality'],
        signal: { kind: 'fault', ne43: false },
      });
    }
    return out;
  },

  gasOf: () => undefined,
};
