/**
 * The one registry of condition types. To add a type: write edge/conditions/<type>.ts
 * implementing ConditionType, add it to CONDITION_TYPES and its rule to `Rule`
 * below, and document it in rules/README.md. The rule-file schema, the loader and
 * the engine pick it up from here.
 */
import { type GasRule, gasCondition } from './gas.js';
import { type OxygenRule, oxygenCondition } from './oxygen.js';
import { type ThresholdRule, thresholdCondition } from './threshold.js';
import type { ConditionType } from './types.js';

export type { GasMeasure, GasRule, ToxicBasis } from './gas.js';
export type { OxygenRule } from './oxygen.js';
export type { ThresholdLimit, ThresholdRule } from './threshold.js';
export type { ConditionType, JsonSchema, RuleCheck } from './types.js';

/** Every loaded rule is one of these. */
export type Rule = GasRule | OxygenRule | ThresholdRule;

export const CONDITION_TYPES: readonly ConditionType<Rule>[] = [
  gasCondition,
  oxygenCondition,
  thresholdCondition,
] as readonly ConditionType<Rule>[];

const byType = new Map<string, ConditionType<Rule>>(CONDITION_TYPES.map((c) => [c.type, c]));

/** The condition type registered under `type`, or undefined. */
export function conditionType(type: string): ConditionType<Rule> | undefined {
  return byType.get(type);
}

/** Registered type names, in registry order. */
export const CONDITION_TYPE_NAMES: readonly string[] = CONDITION_TYPES.map((c) => c.type);
