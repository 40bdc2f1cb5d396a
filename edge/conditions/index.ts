/**
 * The one registry of condition types. To add a type: write edge/conditions/<type>.ts
 * implementing ConditionType, add it to CONDITION_TYPES and its rule to `Rule`
 * below, and document it in rules/README.md. The rule-file schema, the loader and
 * the engine pick it up from here.
 */
import { type CombinationRule, combinationCondition } from './combination.js';
import { type FaultRule, faultCondition } from './fault.js';
import { type GasRule, gasCondition } from './gas.js';
import { type OxygenRule, oxygenCondition } from './oxygen.js';
import { type RateRule, rateCondition } from './rate.js';
import { type StaleRule, staleCondition } from './stale.js';
import { type StuckRule, stuckCondition } from './stuck.js';
import { type ThresholdRule, thresholdCondition } from './threshold.js';
import type { ConditionType } from './types.js';
import { type VoteRule, voteCondition } from './vote.js';
import { type WindowRule, windowCondition } from './window.js';

export type { CombinationRule } from './combination.js';
export { type FaultRule, NE43_REASON_PREFIX } from './fault.js';
export type { GasMeasure, GasRule, ToxicBasis } from './gas.js';
export type { OxygenRule } from './oxygen.js';
export type { RatePer, RateRule } from './rate.js';
export type { StaleRule } from './stale.js';
export type { StuckRule } from './stuck.js';
export type { ThresholdLimit, ThresholdRule } from './threshold.js';
export type { ConditionType, JsonSchema, RuleCheck } from './types.js';
export type { VoteRule } from './vote.js';
export type { WindowFunction, WindowRule } from './window.js';

/** Every loaded rule is one of these. */
export type Rule =
  | GasRule
  | OxygenRule
  | ThresholdRule
  | RateRule
  | StaleRule
  | FaultRule
  | StuckRule
  | VoteRule
  | CombinationRule
  | WindowRule;

export const CONDITION_TYPES: readonly ConditionType<Rule>[] = [
  gasCondition,
  oxygenCondition,
  thresholdCondition,
  rateCondition,
  staleCondition,
  faultCondition,
  stuckCondition,
  voteCondition,
  combinationCondition,
  windowCondition,
] as readonly ConditionType<Rule>[];

const byType = new Map<string, ConditionType<Rule>>(CONDITION_TYPES.map((c) => [c.type, c]));

/** The condition type registered under `type`, or undefined. */
export function conditionType(type: string): ConditionType<Rule> | undefined {
  return byType.get(type);
}

/** Registered type names, in registry order. */
export const CONDITION_TYPE_NAMES: readonly string[] = CONDITION_TYPES.map((c) => c.type);
