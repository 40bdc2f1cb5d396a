/**
 * Types and numbers shared by the parts of the alarm engine (edge/engine/): the
 * compiled form of a rule set, what the engine reports, and its options.
 */
import type { Clock } from '../../common/clock.js';
import type { AlarmEvent, AlarmLifecycleState } from '../../protocol/index.js';
import type { LimitDirection, OutputDevice, RuleSet, SignalSpec } from '../rule-types.js';
import type { AlarmStateStore } from '../state-store.js';

/** ISA-18.2 / EEMUA 191 numbers. */
export const ALARM_MANAGEMENT = {
  floodWindowMs: 600_000, // 10 min: a flood is more than 10 alarms in 10 min (ISA-18.2 §16.5)
  floodOnsetCount: 11, // > 10 alarms in the window starts a flood
  floodEndCount: 5, // fewer than 5 in 10 min ends it (EEMUA 191 flood end)
  chatterWindowMs: 60_000, // 60 s: 3 or more raises in 1 min is chattering (ISA-18.2 TR5 / EEMUA 191)
  chatterCount: 3,
  staleAlarmMs: 86_400_000, // 24 h: an alarm standing longer is stale (ISA-18.2 §16.9)
  maxShelveMs: 86_400_000, // 24 h: shelving is always time-limited (ISA-18.2 §11.5)
  kpiBucketMs: 10_000, // 10 s buckets for the alarms-per-10-min count
} as const;

/**
 * Defaults of the engine's time handling (AlarmEngineOptions). Not safety numbers
 * from a standard: engineering choices, each overridable.
 */
export const ENGINE_TIME_DEFAULTS = {
  /** Wall and monotonic clocks disagreeing by more than this between two looks is a step. */
  clockStepThresholdMs: 2_000, // 2 s: above NTP slewing and event-loop jitter
  /** A reading stamped further ahead of the gateway clock is a clock fault (issue 12). */
  futureToleranceMs: 300_000, // 5 min
  /** A reading older than this on arrival is a clock fault. */
  maxReadingAgeMs: 86_400_000, // 24 h
  /** A reading stamped before this is a clock fault (a device clock never set). */
  minPlausibleTs: Date.UTC(2000, 0, 1),
} as const;

/** Reason given to readings whose timestamp cannot be believed. */
export const CLOCK_FAULT_REASON = 'clock fault';
/** Reason given to readings whose value is NaN or ±Infinity. */
export const NON_FINITE_REASON = 'non-finite value';

/** A wall-clock step the engine saw (the gateway publishes it as a clock event). */
export interface ClockStep {
  /** Size of the step, ms: positive when the wall clock jumped ahead, negative when back. */
  readonly stepMs: number;
  /** Wall time after the step, epoch ms. */
  readonly at: number;
}

/** Readings the engine refused to let decide anything, and clock steps, since it started. */
export interface EngineCounters {
  /** Readings older than or equal to the newest evaluated one of their sensor (ignored). */
  readonly outOfOrder: number;
  /** Readings stamped too far ahead of the gateway clock or absurdly old (clock fault). */
  readonly clockFault: number;
  /** Readings with NaN or ±Infinity (a sensor fault, whatever their quality said). */
  readonly nonFinite: number;
  /** Wall-clock steps seen. */
  readonly clockSteps: number;
}

/** An alarm transition as the edge produces it: an AlarmEvent without the uplink envelope. */
export type EdgeAlarmTransition = Omit<
  AlarmEvent,
  'v' | 'gatewayId' | 'enterpriseId' | 'seq' | 'sentAt'
>;

export type SignalKind = SignalSpec['kind'];

/** One limit of one rule, with everything a transition needs. Immutable. */
export interface CompiledLimit {
  /** `${ruleId}.${limitName}`: the alarm point, stable across reloads and restarts. */
  readonly key: string;
  readonly ruleId: string;
  readonly limitName: string;
  readonly level: 1 | 2;
  readonly direction: LimitDirection;
  readonly setpoint: number;
  readonly deadband: number;
  readonly onDelayMs: number;
  readonly offDelayMs: number;
  readonly sensorId: string;
  readonly sensorName: string | undefined;
  readonly installationId: string | undefined;
  readonly location: string | undefined;
  readonly gas: string | undefined;
  /** Unit of the compared signal (the sensor's unit for value limits). */
  readonly unit: string;
  /** +1 for high limits, -1 for low: comparisons run on sign × signal. */
  readonly sign: 1 | -1;
  /** Raise when sign × signal >= raiseAt. */
  readonly raiseAt: number;
  /** Clear when sign × signal < clearBelow (the deadband applied). */
  readonly clearBelow: number;
  readonly signal: SignalSpec;
  /** Sensors whose readings feed this limit, in signal order (vote inputs, combination terms). */
  readonly inputs: readonly string[];
  /** For combination limits: term index per input in `inputs`. */
  readonly inputTerms: readonly number[];
  /** Rule-level drill and latch flags. */
  readonly drill: boolean;
  readonly latch: boolean;
  /** Internal limit (a rule's suppressWhen): never reported; toggles design suppression. */
  readonly hidden: boolean;
  /** For a hidden suppressWhen limit: keys of the limits it suppresses. */
  readonly suppresses: readonly string[];
}

/** Limit name of a rule's internal suppressWhen limit. */
export const SUPPRESS_WHEN = 'suppress-when';

/** Rules compiled against a sensor catalogue; immutable, shareable between engines. */
export interface CompiledRuleSet {
  readonly ruleSet: RuleSet;
  /** Limits per input sensorId, ordered by level, then rule order, then limit order. */
  readonly limitsBySensor: ReadonlyMap<string, readonly CompiledLimit[]>;
  /** Every limit once, in rule order. */
  readonly limits: readonly CompiledLimit[];
  readonly limitCount: number;
  readonly outputs: readonly OutputDevice[];
}

/** An alarm whose condition is active (raised and not yet returned). */
export interface ActiveAlarm {
  readonly alarmId: string;
  readonly ruleId: string;
  readonly limitName: string;
  readonly sensorId: string;
  readonly level: 1 | 2;
  readonly direction: LimitDirection;
  readonly setpoint: number;
  readonly unit: string;
  readonly gas: string | undefined;
  /** ts of the raise, epoch ms. */
  readonly raisedAt: number;
  readonly raisedValue: number;
  /** Latest value of the compared signal. */
  readonly lastValue: number;
  readonly drill: boolean;
  readonly state: AlarmLifecycleState;
  /** The latest reading could not be used (non-finite, bad quality, clock fault): value unreliable. */
  readonly valueUnreliable: boolean;
}

/** One alarm point that is not in state normal (for operator displays and acks). */
export interface AlarmPointStatus {
  readonly key: string;
  /** The current occurrence's id, or the key when no occurrence is open. */
  readonly alarmId: string;
  readonly state: AlarmLifecycleState;
  readonly active: boolean;
  readonly level: 1 | 2;
  readonly acknowledgedBy?: string;
  readonly shelvedUntil?: number;
  /** Active, and the latest reading could not be used: the value is unreliable. */
  readonly valueUnreliable?: true;
}

/** Alarm-system KPIs of this gateway (ISA-18.2 §16 / EEMUA 191). */
export interface AlarmKpis {
  /** Raises in the last 10 minutes. */
  readonly alarmsLast10Min: number;
  /** Raises per 10 minutes, averaged since the engine started. */
  readonly alarmsPer10MinAverage: number;
  readonly totalRaised: number;
  readonly floodActive: boolean;
  /** Floods started since the engine started. */
  readonly floods: number;
  /** Time spent in flood, ms (including a flood still running). */
  readonly timeInFloodMs: number;
  /** Share of the time since start spent in flood, 0..1. */
  readonly timeInFloodRatio: number;
  readonly firstOut: string | undefined;
  /** Alarm points that chattered (3 raises in 60 s) within the last 10 minutes. */
  readonly chatteringAlarms: number;
  /** Alarms standing (condition active) for more than 24 h. */
  readonly staleAlarms: number;
  readonly activeAlarms: number;
  readonly unacknowledged: number;
  readonly shelved: number;
  readonly suppressed: number;
  readonly outOfService: number;
  /** Readings ignored because they were not newer than their sensor's newest. */
  readonly outOfOrderReadings: number;
  readonly clockFaultReadings: number;
  readonly nonFiniteReadings: number;
  readonly clockSteps: number;
}

export interface AlarmEngineOptions {
  /** Time source for tick() and commands; tests pass a ManualClock. */
  readonly clock: Clock;
  /** Tag every transition as a drill (never pages an emergency centre). */
  readonly drill?: boolean;
  /**
   * Keeps alarm state across gateway restarts: loaded once in the constructor,
   * saved (synchronously, atomically) after every call that changed state.
   */
  readonly store?: AlarmStateStore;
  /**
   * Part of every alarm id, so ids of two gateways never collide (dots become '_';
   * at most 32 characters kept). Default 'edge'.
   */
  readonly gatewayId?: string;
  /** Called (synchronously) when the wall clock stepped; the gateway publishes it. */
  readonly onClockStep?: (step: ClockStep) => void;
  /**
   * Sensors whose readings carry the device's own time (OPC UA source timestamps), not the
   * gateway's. A wall-clock step of the gateway moves the newest reading time of every other
   * sensor with it, but not of these: their device clock did not step. Default: none.
   */
  readonly deviceStampedSensors?: ReadonlySet<string>;
  readonly clockStepThresholdMs?: number;
  readonly futureToleranceMs?: number;
  readonly maxReadingAgeMs?: number;
  readonly minPlausibleTs?: number;
}

export type ShelveOptions = { readonly durationMs: number } | { readonly oneShot: true };
