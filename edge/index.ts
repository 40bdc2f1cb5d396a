/** Public API of the edge: rule loading, compilation, alarm evaluation, lifecycle and linkage. */
export * from './conditions/index.js';
export {
  type ActiveAlarm,
  ALARM_MANAGEMENT,
  AlarmEngine,
  type AlarmEngineOptions,
  type AlarmKpis,
  type AlarmPointStatus,
  type CompiledLimit,
  type CompiledRuleSet,
  compileRuleSet,
  type EdgeAlarmTransition,
  type ShelveOptions,
  type SignalKind,
} from './engine/index.js';
export * from './gas-table.js';
export {
  LINKAGE_DEFAULTS,
  type LinkageResult,
  LinkageRunner,
  type LinkageRunnerOptions,
} from './linkage/linkage-runner.js';
export { MODBUS_OUTPUT_DEFAULTS, ModbusOutputWriter } from './linkage/modbus-output-writer.js';
export type { OutputWriter } from './linkage/output-writer.js';
export {
  formatProblem,
  loadRuleFiles,
  loadRuleSources,
  RuleFileError,
  type RuleProblem,
  type RuleSourceText,
} from './rule-loader.js';
export {
  type DetectorSpec,
  generateRulePack,
  RULE_PACK_DEFAULTS,
  type RulePack,
  type RulePackOptions,
  readDetectors,
} from './rule-pack.js';
export { type ReloadResult, RuleRuntime, type RuleRuntimeOptions } from './rule-runtime.js';
export { RULE_FILE_VERSION, ruleFileSchema } from './rule-schema.js';
export * from './rule-types.js';
export {
  type AlarmStateStore,
  FileAlarmStateStore,
  MemoryAlarmStateStore,
  type PersistedAlarmState,
  type PersistedPoint,
} from './state-store.js';
