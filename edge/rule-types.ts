/**
 * Data types of loaded rules. Rules are data: a rule file is parsed, validated
 * and normalised into these frozen objects, and nothing else about a rule lives
 * in code. The condition type registered under `rule.type` (edge/conditions/)
 * gives them meaning.
 */
import type { Rule } from './conditions/index.js';

/** A key path inside a rule file, e.g. `['rules', 2, 'limits', 0, 'setpoint']`. */
export type KeyPath = readonly (string | number)[];

/** One problem found in a rule, with a path relative to the rule (`['level1']`). */
export interface RuleIssue {
  readonly path: KeyPath;
  readonly message: string;
}

/** Line and column, both 1-based. */
export interface Position {
  readonly line: number;
  readonly col: number;
}

/** Where a rule came from, so later checks (against the sensor catalogue) can point at a line. */
export interface RuleSource {
  readonly file: string;
  /** Index of the rule in the file's `rules` list. */
  readonly index: number;
  /** Position of the rule itself. */
  readonly line: number;
  readonly col: number;
  /** Position of every key of the rule, by formatted key path relative to the rule (`limits[0].setpoint`). */
  readonly keys: Readonly<Record<string, Position>>;
}

/** Keys every rule has, whatever its condition type. */
export interface RuleBase {
  /** Unique across every loaded file; appears in alarm ids and on the wire (ID_PATTERN). */
  readonly id: string;
  /** sensorId the rule reads. */
  readonly sensor: string;
  /** Condition type, registered in edge/conditions/index.ts. */
  readonly type: string;
  readonly description?: string;
  /** Why this rule deviates from a compliance check; required for any deviation. */
  readonly justification?: string;
  /** Compliance checks this rule fails, accepted because it has a justification (for audit). */
  readonly waived: readonly string[];
  readonly source: RuleSource;
}

export type LimitDirection = 'high' | 'low';

/**
 * One alarm limit as the engine evaluates it. A high limit raises at value >= setpoint
 * and clears at value < setpoint - deadband; a low limit raises at value <= setpoint
 * and clears at value > setpoint + deadband.
 */
export interface LimitSpec {
  /** Unique within its rule; part of the alarm id. */
  readonly name: string;
  readonly level: 1 | 2;
  readonly direction: LimitDirection;
  /** In the sensor's unit. */
  readonly setpoint: number;
  /** In the sensor's unit, >= 0. */
  readonly deadband: number;
  /** The condition must hold this long before the alarm raises, ms. */
  readonly onDelayMs: number;
  /** The return must hold this long before the alarm clears, ms. */
  readonly offDelayMs: number;
  /** Where the setpoint is written, relative to the rule (`['level1']`), for error messages. */
  readonly setpointPath: KeyPath;
}

/** Every rule of every loaded file; frozen. */
export interface RuleSet {
  readonly files: readonly string[];
  readonly rules: readonly Rule[];
}

/** Formats a key path the way error lines show it: `rules[2].limits[0].setpoint`. */
export function formatKeyPath(path: KeyPath): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? key : `.${key}`;
  }
  return out;
}
