/** Public API of the edge: rule loading, compilation and alarm evaluation. */
export * from './conditions/index.js';
export {
  type ActiveAlarm,
  AlarmEngine,
  type AlarmEngineOptions,
  type CompiledLimit,
  type CompiledRuleSet,
  compileRuleSet,
  type EdgeAlarmTransition,
} from './engine.js';
export * from './gas-table.js';
export {
  formatProblem,
  loadRuleFiles,
  loadRuleSources,
  RuleFileError,
  type RuleProblem,
  type RuleSourceText,
} from './rule-loader.js';
export { RULE_FILE_VERSION, ruleFileSchema } from './rule-schema.js';
export * from './rule-types.js';
