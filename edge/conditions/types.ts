/**
 * The contract every condition type implements. A condition type is one file in
 * this folder, registered in ./index.ts; it owns the keys its rules may have (a
 * JSON Schema fragment merged into the one rule-file schema), its semantic and
 * compliance checks, and the limits the engine evaluates.
 *
 * Lifecycle: pure functions, called once per rule at load time (normalize, check)
 * and at compile time (checkSensor, limits); never on the evaluation path.
 */
import type { SensorInfo } from '../../protocol/index.js';
import type { LimitSpec, RuleBase, RuleIssue } from '../rule-types.js';

export type JsonSchema = Readonly<Record<string, unknown>>;

/**
 * How the loader treats an issue found by a condition's check():
 * - 'error': a contradiction or an impossible rule (level 2 not beyond level 1, a
 *   deadband reaching across the gap to the next limit, an unknown gas). Refuses the
 *   rule whatever its `justification` says: no reason makes a contradiction safe.
 * - 'compliance': a deviation from a standard's setpoint (GB/T 50493-2019 §5.5.3).
 *   Refuses the rule unless it has a justification, which turns it into a `waived`
 *   entry kept with the rule for audit. It must name the clause it deviates from.
 */
export type RuleIssueSeverity = 'error' | 'compliance';

/** One issue of a rule's semantic checks, with what the loader must do about it. */
export type CheckedIssue =
  | (RuleIssue & { readonly severity: 'error' })
  | (RuleIssue & {
      readonly severity: 'compliance';
      /** The clause deviated from (`GB/T 50493-2019 §5.5.3 item 1`); the message cites it too. */
      readonly clause: string;
    });

/** Result of a condition's semantic checks: every issue found, in rule-key order. */
export interface RuleCheck {
  readonly issues: readonly CheckedIssue[];
}

/** A hard error (see RuleIssueSeverity). */
export function ruleError(path: RuleIssue['path'], message: string): CheckedIssue {
  return { severity: 'error', path, message };
}

/** A waivable deviation from `clause` (see RuleIssueSeverity). */
export function deviation(path: RuleIssue['path'], message: string, clause: string): CheckedIssue {
  return { severity: 'compliance', path, message, clause };
}

export interface ConditionType<R extends RuleBase = RuleBase> {
  /** Value of `type:` in rule files. */
  readonly type: R['type'];
  /** One line for the schema and the README. */
  readonly summary: string;
  /** Schema of the keys specific to this type (id, sensor, type, description, justification are common). */
  readonly properties: Readonly<Record<string, JsonSchema>>;
  /** True when the rule names its sensors in its own key (say `sensors:`) instead of `sensor:`. */
  readonly multiSensor?: boolean;
  /** Keys of `properties` a rule must give. */
  readonly required: readonly string[];
  /** Builds the typed rule from a schema-valid raw rule: defaults applied, names resolved. */
  normalize(raw: Readonly<Record<string, unknown>>, base: RuleBase): R;
  /** Semantic checks that need no sensor catalogue (gas table, GB/T 50493 setpoint limits). */
  check(rule: R): RuleCheck;
  /** Checks against the sensor the rule reads (unit, gas); errors only. */
  checkSensor(rule: R, sensor: SensorInfo): RuleIssue[];
  /**
   * Checks needing the whole catalogue (multi-sensor rules): every sensor the rule
   * reads besides `sensor`. Optional; the engine checks each one exists.
   */
  checkCatalogue?(rule: R, sensors: ReadonlyMap<string, SensorInfo>): RuleIssue[];
  /** Limits the engine evaluates for this rule. */
  limits(rule: R): readonly LimitSpec[];
  /** Gas named on this rule's alarms; undefined to fall back to the sensor's. */
  gasOf(rule: R): string | undefined;
}
