/**
 * `type: combination` — an alarm when every term holds, across sensors and
 * alarms: "gas level 1 AND ventilation fan not running" is
 *
 *   all: [{ alarm: GT-101-gas.level1 }, { sensor: FAN-301, below: 0.5 }]
 *
 * An `alarm` term holds while that limit's condition is active (whatever its
 * acknowledgement or shelving); it must name a limit of a rule that is not itself
 * a combination (no chains, so no cycles). A `sensor` term holds while the latest
 * usable value is above `above` and/or below `below` (booleans read as 1 and 0).
 */
import type { SensorInfo } from '../../protocol/index.js';
import type { CombinationTerm, LimitSpec, RuleBase, RuleIssue } from '../rule-types.js';
import { delaySchema, levelSchema, numberOr } from './shared.js';
import { type ConditionType, type JsonSchema, type RuleCheck, ruleError } from './types.js';

/** Schema of one term (also used by every rule's `suppressWhen`). */
export const COMBINATION_TERM_SCHEMA: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    alarm: {
      type: 'string',
      pattern: '^[A-Za-z0-9_.-]{1,64}\\.[A-Za-z0-9_-]{1,32}$',
      description: '<ruleId>.<limit>: holds while that limit is active.',
    },
    sensor: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$', description: 'sensorId.' },
    above: { type: 'number', description: 'Holds while the value is above this.' },
    below: { type: 'number', description: 'Holds while the value is below this.' },
  },
};

/** Normalizes raw terms from a schema-valid rule. */
export function toTerms(raw: unknown): CombinationTerm[] {
  const terms = Array.isArray(raw) ? (raw as Record<string, unknown>[]) : [];
  return terms.map(
    (t): CombinationTerm =>
      typeof t.alarm === 'string'
        ? { alarm: t.alarm }
        : {
            sensor: String(t.sensor),
            ...(typeof t.above === 'number' ? { above: t.above } : {}),
            ...(typeof t.below === 'number' ? { below: t.below } : {}),
          },
  );
}

/** Semantic checks of terms written under `key` (`all`, `suppressWhen`). */
export function checkTerms(terms: readonly CombinationTerm[], key: string): RuleIssue[] {
  const errors: RuleIssue[] = [];
  terms.forEach((term, i) => {
    if ('alarm' in term) {
      if ((term as Record<string, unknown>).sensor !== undefined) {
        errors.push({ path: [key, i], message: 'a term has either alarm or sensor, not both' });
      }
    } else if (term.above === undefined && term.below === undefined) {
      errors.push({ path: [key, i], message: 'a sensor term needs above or below' });
    } else if (term.above !== undefined && term.below !== undefined && term.above >= term.below) {
      errors.push({
        path: [key, i],
        message: `above ${term.above} must be less than below ${term.below}, or the term never holds`,
      });
    }
  });
  return errors;
}

export interface CombinationRule extends RuleBase {
  readonly type: 'combination';
  readonly all: readonly CombinationTerm[];
  readonly level: 1 | 2;
  readonly onDelayMs: number;
  readonly offDelayMs: number;
}

export const combinationCondition: ConditionType<CombinationRule> = {
  type: 'combination',
  summary: 'All terms hold: alarms active and sensors beyond values (gas level 1 and fan stopped).',
  properties: {
    all: {
      type: 'array',
      minItems: 2,
      maxItems: 8,
      description: 'Terms that must all hold.',
      items: COMBINATION_TERM_SCHEMA,
    },
    level: { ...levelSchema, default: 2 },
    onDelayMs: delaySchema('Combination must hold this long before raising'),
    offDelayMs: delaySchema('Return must hold this long before clearing'),
  },
  required: ['all'],

  normalize(raw, base) {
    return {
      ...base,
      type: 'combination',
      all: toTerms(raw.all),
      level: raw.level === 1 ? 1 : 2,
      onDelayMs: numberOr(raw, 'onDelayMs', 0),
      offDelayMs: numberOr(raw, 'offDelayMs', 0),
    };
  },

  check(rule): RuleCheck {
    return {
      issues: checkTerms(rule.all, 'all').map((issue) => ruleError(issue.path, issue.message)),
    };
  },

  checkSensor: () => [],

  checkCatalogue(rule, sensors: ReadonlyMap<string, SensorInfo>) {
    const issues: RuleIssue[] = [];
    rule.all.forEach((term, i) => {
      if ('sensor' in term && !sensors.has(term.sensor)) {
        issues.push({
          path: ['all', i, 'sensor'],
          message: `sensor '${term.sensor}' is not in the gateway's sensor catalogue`,
        });
      }
    });
    return issues;
  },

  limits(rule): LimitSpec[] {
    return [
      {
        name: 'all',
        level: rule.level,
        direction: 'high',
        setpoint: 1,
        deadband: 0,
        onDelayMs: rule.onDelayMs,
        offDelayMs: rule.offDelayMs,
        setpointPath: ['all'],
        signal: { kind: 'all', terms: rule.all },
        signalUnit: '',
      },
    ];
  },

  gasOf: () => undefined,
};
