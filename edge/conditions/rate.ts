/**
 * `type: rate` — rate of rise (or fall) alarm: the change of the value over the
 * last `windowMs`, scaled to `per` (s, min or h), compared with `rise`. A fast
 * rise warns before a level alarm would (say, a tank heating 10 °C/min).
 *
 * The rate needs at least half the window of history; until then (and while the
 * sensor's quality is bad) the limit keeps its state.
 */
import type { LimitSpec, RuleBase } from '../rule-types.js';
import { deadbandSchema, delaySchema, fmt, levelSchema, numberOr } from './shared.js';
import { type ConditionType, type RuleCheck, ruleError } from './types.js';

export type RatePer = 's' | 'min' | 'h';
const PER_MS: Record<RatePer, number> = { s: 1000, min: 60_000, h: 3_600_000 };

export interface RateRule extends RuleBase {
  readonly type: 'rate';
  /** Setpoint, sensor units per `per`; a positive number. */
  readonly rise: number;
  readonly per: RatePer;
  /** rise: alarm on increase; fall: on decrease. */
  readonly direction: 'rise' | 'fall';
  readonly windowMs: number;
  readonly level: 1 | 2;
  readonly deadband: number;
  readonly onDelayMs: number;
  readonly offDelayMs: number;
}

const DEFAULTS = {
  per: 'min' as RatePer,
  windowMs: 60_000, // 1 min: averages out transmitter noise
  level: 1,
  deadband: 0, // sensor units per `per`
};

export const rateCondition: ConditionType<RateRule> = {
  type: 'rate',
  summary: 'Rate of rise (or fall) of a value over a window, in sensor units per s, min or h.',
  properties: {
    rise: { type: 'number', exclusiveMinimum: 0, description: 'Setpoint: sensor units per `per`.' },
    per: { enum: ['s', 'min', 'h'], default: DEFAULTS.per, description: 'Time unit of `rise`.' },
    direction: { enum: ['rise', 'fall'], default: 'rise', description: 'Alarm on rise or fall.' },
    windowMs: {
      type: 'integer',
      minimum: 1000,
      maximum: 3_600_000,
      default: DEFAULTS.windowMs,
      description: 'Window the rate is measured over, ms.',
    },
    level: { ...levelSchema, default: DEFAULTS.level },
    deadband: { ...deadbandSchema, default: DEFAULTS.deadband },
    onDelayMs: delaySchema('Condition must hold this long before raising'),
    offDelayMs: delaySchema('Return must hold this long before clearing'),
  },
  required: ['rise'],

  normalize(raw, base) {
    return {
      ...base,
      type: 'rate',
      rise: numberOr(raw, 'rise', 0),
      per: (raw.per as RatePer | undefined) ?? DEFAULTS.per,
      direction: raw.direction === 'fall' ? 'fall' : 'rise',
      windowMs: numberOr(raw, 'windowMs', DEFAULTS.windowMs),
      level: raw.level === 2 ? 2 : 1,
      deadband: numberOr(raw, 'deadband', DEFAULTS.deadband),
      onDelayMs: numberOr(raw, 'onDelayMs', 0),
      offDelayMs: numberOr(raw, 'offDelayMs', 0),
    };
  },

  check(rule): RuleCheck {
    if (rule.deadband < rule.rise) return { issues: [] };
    const message = `deadband ${fmt(rule.deadband)} must be smaller than rise ${fmt(rule.rise)}`;
    return { issues: [ruleError(['deadband'], message)] };
  },

  checkSensor: () => [],

  limits(rule): LimitSpec[] {
    return [
      {
        name: 'rate',
        level: rule.level,
        direction: rule.direction === 'rise' ? 'high' : 'low',
        setpoint: rule.direction === 'rise' ? rule.rise : -rule.rise,
        deadband: rule.deadband,
        onDelayMs: rule.onDelayMs,
        offDelayMs: rule.offDelayMs,
        setpointPath: ['rise'],
        signal: { kind: 'rate', windowMs: rule.windowMs, perMs: PER_MS[rule.per] },
        signalUnit: `/${rule.per}`,
      },
    ];
  },

  gasOf: () => undefined,
};
