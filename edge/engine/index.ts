/** The alarm engine (edge/engine/): compile rules, evaluate readings, run the ISA-18.2 lifecycle. */
export { compileRuleSet } from './compile.js';
export { AlarmEngine } from './engine.js';
export { SIGNAL_KINDS, type SignalBehaviour, signalBehaviour } from './signals/index.js';
export {
  type ActiveAlarm,
  ALARM_MANAGEMENT,
  type AlarmEngineOptions,
  type AlarmKpis,
  type AlarmPointStatus,
  CLOCK_FAULT_REASON,
  type ClockStep,
  type CompiledLimit,
  type CompiledRuleSet,
  type EdgeAlarmTransition,
  ENGINE_TIME_DEFAULTS,
  type EngineCounters,
  NON_FINITE_REASON,
  type ShelveOptions,
  type SignalKind,
  SUPPRESS_WHEN,
} from './types.js';
