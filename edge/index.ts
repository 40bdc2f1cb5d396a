/** Public API of the edge: rule loading, compilation, alarm evaluation, lifecycle and linkage. */
export * from './conditions/index.js';
export {
  type ActiveAlarm,
  ALARM_MANAGEMENT,
  AlarmEngine,
  type AlarmEngineOptions,
  type AlarmKpis,
  type AlarmPointStatus,
  CLOCK_FAULT_REASON,
  type ClockStep,
  type CompiledLimit,
  type CompiledRuleSet,
  compileRuleSet,
  type EdgeAlarmTransition,
  ENGINE_TIME_DEFAULTS,
  type EngineCounters,
  NON_FINITE_REASON,
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
export {
  checkOutputDevices,
  type GatewayOutputDevices,
} from './linkage/output-devices.js';
export type {
  OutputDeviceWriter,
  OutputDeviceWriters,
  OutputWriteOptions,
  OutputWriteResult,
} from './linkage/output-writer.js';
export {
  formatProblem,
  loadRuleFiles,
  loadRuleSources,
  RULE_SET_LIMITS,
  RuleFileError,
  type RuleLoadOptions,
  type RuleProblem,
  type RuleSetLimits,
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
  type FileAlarmStateStoreOptions,
  MemoryAlarmStateStore,
  type PersistedAlarmState,
  type PersistedPoint,
  type StateLoadProblem,
} from './state-store.js';
