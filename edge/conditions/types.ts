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

/** Result of a condition's semantic checks. */
export interface RuleCheck {
  /** Always refuse the rule. */
  readonly errors: RuleIssue[];
  /**
   * Deviations from a standard (the message cites the clause). They refuse the rule
   * unless it has a justification, which turns them into `waived` entries.
   */
  readonly compliance: RuleIssue[];
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
