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
  type CompiledLimit,
  type CompiledRuleSet,
  type EdgeAlarmTransition,
  type ShelveOptions,
  type SignalKind,
  SUPPRESS_WHEN,
} from './types.js';
