/**
 * `type: vote` — k-out-of-n voting across detectors (say 2oo3): raises when at
 * least `k` of `sensors` are beyond `setpoint`, each with its own deadband. Used
 * where one detector alone must not trip an action (IEC 61511 voting), e.g. an
 * ESD valve closing on 2oo3 gas detectors.
 *
 * A detector with bad quality votes by default (`onFault: vote`, fail-safe: a
 * 2oo3 with one faulty head degrades to 1oo2); `onFault: ignore` keeps its last
 * vote instead.
 */
import type { SensorInfo } from '../../protocol/index.js';
import type { LimitSpec, RuleBase, RuleIssue } from '../rule-types.js';
import { deadbandSchema, delaySchema, fmt, levelSchema, numberOr } from './shared.js';
import { type ConditionType, type RuleCheck, ruleError } from './types.js';

export interface VoteRule extends RuleBase {
  readonly type: 'vote';
  readonly sensors: readonly string[];
  readonly k: number;
  readonly direction: 'high' | 'low';
  readonly setpoint: number;
  readonly deadband: number;
  readonly onFault: 'vote' | 'ignore';
  readonly level: 1 | 2;
  readonly onDelayMs: number;
  readonly offDelayMs: number;
}

export const voteCondition: ConditionType<VoteRule> = {
  type: 'vote',
  summary: 'k-out-of-n voting across detectors (2oo3): k of the sensors beyond a setpoint.',
  multiSensor: true,
  properties: {
    sensors: {
      type: 'array',
      minItems: 2,
      maxItems: 16,
      uniqueItems: true,
      items: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' },
      description: 'The voting sensors (same unit).',
    },
    k: { type: 'integer', minimum: 1, maximum: 16, description: 'Votes needed to raise.' },
    direction: { enum: ['high', 'low'], default: 'high', description: 'high or low vote.' },
    setpoint: { type: 'number', description: 'Setpoint each sensor votes against (sensor unit).' },
    deadband: { ...deadbandSchema, default: 0 },
    onFault: {
      enum: ['vote', 'ignore'],
      default: 'vote',
      description: 'A bad-quality sensor votes (fail-safe) or keeps its last vote.',
    },
    level: { ...levelSchema, default: 2 },
    onDelayMs: delaySchema('Vote must hold this long before raising'),
    offDelayMs: delaySchema('Return must hold this long before clearing'),
  },
  required: ['sensors', 'k', 'setpoint'],

  normalize(raw, base) {
    const sensors = Array.isArray(raw.sensors) ? raw.sensors.map(String) : [];
    return {
      ...base,
      sensor: sensors[0] ?? base.sensor,
      type: 'vote',
      sensors,
      k: numberOr(raw, 'k', 1),
      direction: raw.direction === 'low' ? 'low' : 'high',
      setpoint: numberOr(raw, 'setpoint', 0),
      deadband: numberOr(raw, 'deadband', 0),
      onFault: raw.onFault === 'ignore' ? 'ignore' : 'vote',
      level: raw.level === 1 ? 1 : 2,
      onDelayMs: numberOr(raw, 'onDelayMs', 0),
      offDelayMs: numberOr(raw, 'offDelayMs', 0),
    };
  },

  check(rule): RuleCheck {
    if (rule.k <= rule.sensors.length) return { issues: [] };
    const message = `k ${rule.k} is more than the ${rule.sensors.length} sensors: the vote could never trip`;
    return { issues: [ruleError(['k'], message)] };
  },

  checkSensor: () => [],

  checkCatalogue(rule, sensors: ReadonlyMap<string, SensorInfo>) {
    const issues: RuleIssue[] = [];
    const units = new Set<string>();
    rule.sensors.forEach((id, i) => {
      const sensor = sensors.get(id);
      if (!sensor) {
        issues.push({
          path: ['sensors', i],
          message: `sensor '${id}' is not in the gateway's sensor catalogue`,
        });
      } else units.add(sensor.unit);
    });
    if (units.size > 1) {
      issues.push({
        path: ['sensors'],
        message: `voting sensors report different units (${[...units].join(', ')}); the setpoint ${fmt(rule.setpoint)} cannot apply to all`,
      });
    }
    return issues;
  },

  limits(rule): LimitSpec[] {
    return [
      {
        name: 'vote',
        level: rule.level,
        direction: 'high',
        setpoint: rule.k,
        deadband: 0,
        onDelayMs: rule.onDelayMs,
        offDelayMs: rule.offDelayMs,
        setpointPath: ['k'],
        signal: {
          kind: 'vote',
          sensors: rule.sensors,
          direction: rule.direction,
          setpoint: rule.setpoint,
          deadband: rule.deadband,
          faultVotes: rule.onFault === 'vote',
        },
        signalUnit: 'votes',
      },
    ];
  },

  gasOf: () => undefined,
};
