/**
 * Alarm evaluation at the edge. `compileRuleSet` turns a loaded RuleSet and the
 * gateway's sensor catalogue into limits, once: per sensor the limits it feeds,
 * each with its signal kind (value, rate of rise, window aggregate, stale, fault,
 * stuck, vote, combination). `AlarmEngine` feeds readings through them and returns
 * alarm transitions.
 *
 * Per limit the engine keeps (ISA-18.2 / IEC 62682):
 * - the condition state machine (normal ⇄ active) with deadband, on-delay and off-delay;
 * - the alarm state: unacknowledged, acknowledged, returned-to-normal unacknowledged,
 *   latched (rule `latch: true`), normal;
 * - operator / design overrides: shelved (timed or one-shot), suppressed by design,
 *   out of service. Overridden alarms keep being evaluated and their transitions
 *   are still emitted and recorded, carrying `state` so nothing annunciates them.
 * - flood detection (more than 10 raises in 10 min), first-out marking, chattering
 *   (3 raises in 60 s), and KPIs (kpis()).
 *
 * Readings that cannot be evaluated — quality 'bad', value null or not a finite
 * number — neither raise nor clear value-based limits: they keep their state, and
 * pending on/off delays neither fire on tick() nor restart until a usable reading
 * arrives. Fault limits (type: fault) and stale limits do see them. Booleans read
 * as 1 and 0. 'uncertain' readings are evaluated like good ones.
 *
 * Time: delays are measured with reading timestamps in evaluate() and with
 * clock.now() in tick(), so readings should carry acquisition (edge) time. A
 * reading older than the start of a pending delay restarts that delay (a clock
 * stepped back never shortens a delay).
 */
import type { Clock } from '../common/clock.js';
import { createLogger } from '../common/logger.js';
import type {
  AlarmEvent,
  AlarmLifecycleState,
  AlarmTransition,
  Reading,
  SensorInfo,
} from '../protocol/index.js';
import { conditionType, NE43_REASON_PREFIX, type Rule } from './conditions/index.js';
import { fmt } from './conditions/shared.js';
import { RuleFileError, type RuleProblem } from './rule-loader.js';
import {
  type CombinationTerm,
  formatKeyPath,
  type KeyPath,
  type LimitDirection,
  type LimitSpec,
  type OutputDevice,
  type RuleSet,
  type SignalSpec,
} from './rule-types.js';
import type { AlarmStateStore, PersistedAlarmState, PersistedPoint } from './state-store.js';

const log = createLogger('edge.engine');

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

/**
 * Compiles rules against the sensor catalogue. Throws RuleFileError (file, line,
 * key path) for a rule whose sensor is not in the catalogue, whose unit or gas does
 * not match its sensor, whose setpoint lies outside the sensor's range, or whose
 * combination names an unknown alarm.
 */
export function compileRuleSet(
  ruleSet: RuleSet,
  sensors: ReadonlyMap<string, SensorInfo>,
): CompiledRuleSet {
  const problems: RuleProblem[] = [];
  const bySensor = new Map<string, CompiledLimit[]>();
  const all: CompiledLimit[] = [];
  const ruleById = new Map(ruleSet.rules.map((r) => [r.id, r]));
  for (const rule of ruleSet.rules) {
    const report = (path: KeyPath, message: string) => {
      const source = rule.source;
      const at = source.keys[formatKeyPath(path)] ?? source;
      problems.push({
        file: source.file,
        line: at.line,
        col: at.col,
        path: formatKeyPath(['rules', source.index, ...path]),
        message,
      });
    };
    const condition = conditionType(rule.type);
    if (!condition) {
      report(['type'], `unknown condition type '${rule.type}'`);
      continue;
    }
    const sensor = sensors.get(rule.sensor);
    if (!sensor) {
      report(
        condition.multiSensor ? ['sensors', 0] : ['sensor'],
        `sensor '${rule.sensor}' is not in the gateway's sensor catalogue`,
      );
      continue;
    }
    const issues = [
      ...condition.checkSensor(rule, sensor),
      ...(condition.checkCatalogue?.(rule, sensors) ?? []),
    ];
    for (const issue of issues) report(issue.path, issue.message);
    const limits = condition.limits(rule);
    for (const limit of limits) {
      if (limit.signal !== undefined && limit.signal.kind !== 'value') {
        if (limit.signal.kind === 'all') {
          checkAlarmTerms(limit.signal.terms, 'all', ruleById, report, issues);
        }
        continue; // range checks apply to setpoints in the sensor's unit only
      }
      const unit = sensor.unit;
      if (
        limit.direction === 'high' &&
        sensor.rangeMax !== undefined &&
        limit.setpoint > sensor.rangeMax
      ) {
        report(
          limit.setpointPath,
          `setpoint ${fmt(limit.setpoint)} ${unit} is above the range of sensor '${sensor.sensorId}' (max ${fmt(sensor.rangeMax)} ${unit}): the alarm could never raise`,
        );
      }
      if (
        limit.direction === 'low' &&
        sensor.rangeMin !== undefined &&
        limit.setpoint < sensor.rangeMin
      ) {
        report(
          limit.setpointPath,
          `setpoint ${fmt(limit.setpoint)} ${unit} is below the range of sensor '${sensor.sensorId}' (min ${fmt(sensor.rangeMin)} ${unit}): the alarm could never raise`,
        );
      }
    }
    const suppressWhen = rule.suppressWhen;
    const toCompile: { limit: LimitSpec; suppresses?: string[] }[] = limits.map((limit) => ({
      limit,
    }));
    if (suppressWhen && suppressWhen.length > 0) {
      checkAlarmTerms(suppressWhen, 'suppressWhen', ruleById, report, issues);
      suppressWhen.forEach((term, i) => {
        if ('sensor' in term && !sensors.has(term.sensor)) {
          report(
            ['suppressWhen', i, 'sensor'],
            `sensor '${term.sensor}' is not in the gateway's sensor catalogue`,
          );
          issues.push({ path: [], message: '' });
        }
      });
      toCompile.push({
        limit: {
          name: SUPPRESS_WHEN,
          level: 1,
          direction: 'high',
          setpoint: 1,
          deadband: 0,
          onDelayMs: 0,
          offDelayMs: 0,
          setpointPath: ['suppressWhen'],
          signal: { kind: 'all', terms: suppressWhen },
          signalUnit: '',
        },
        suppresses: limits.map((l) => `${rule.id}.${l.name}`),
      });
    }
    if (issues.length > 0) continue;
    for (const { limit, suppresses } of toCompile) {
      const compiled = compileLimit(
        rule,
        condition.gasOf(rule) ?? sensor.gas,
        sensor,
        limit,
        suppresses,
      );
      all.push(compiled);
      for (const input of new Set(compiled.inputs)) {
        let list = bySensor.get(input);
        if (!list) {
          list = [];
          bySensor.set(input, list);
        }
        list.push(compiled);
      }
    }
  }
  if (problems.length > 0) throw new RuleFileError(problems);
  for (const list of bySensor.values()) {
    // Stable sort: level 1 before level 2, so a jump past both raises level 1 first.
    list.sort((a, b) => a.level - b.level);
    Object.freeze(list);
  }
  log.info(
    { rules: ruleSet.rules.length, limits: all.length, sensors: bySensor.size },
    'rules compiled',
  );
  return Object.freeze({
    ruleSet,
    limitsBySensor: bySensor,
    limits: Object.freeze(all),
    limitCount: all.filter((l) => !l.hidden).length,
    outputs: ruleSet.outputs ?? [],
  });
}

type Report = (path: KeyPath, message: string) => void;

/** `alarm` terms must name a limit of a rule that is not itself a combination (no chains). */
function checkAlarmTerms(
  terms: readonly CombinationTerm[],
  key: string,
  ruleById: ReadonlyMap<string, Rule>,
  report: Report,
  issues: unknown[],
): void {
  terms.forEach((term, i) => {
    if (!('alarm' in term)) return;
    const cut = term.alarm.lastIndexOf('.');
    const target = ruleById.get(term.alarm.slice(0, cut));
    const name = term.alarm.slice(cut + 1);
    const targetType = target && conditionType(target.type);
    if (!target || !targetType?.limits(target).some((l) => l.name === name)) {
      report([key, i, 'alarm'], `no alarm '${term.alarm}' (write <ruleId>.<limit>)`);
      issues.push(term);
    } else if (target.type === 'combination') {
      report([key, i, 'alarm'], `'${term.alarm}' is itself a combination; chains are not allowed`);
      issues.push(term);
    }
  });
}

function compileLimit(
  rule: Rule,
  gas: string | undefined,
  sensor: SensorInfo,
  limit: LimitSpec,
  suppresses?: readonly string[],
): CompiledLimit {
  const sign = limit.direction === 'high' ? 1 : -1;
  const signal: SignalSpec = limit.signal ?? { kind: 'value' };
  let inputs: string[] = [sensor.sensorId];
  let inputTerms: number[] = [];
  if (signal.kind === 'vote') inputs = [...signal.sensors];
  if (signal.kind === 'all') {
    inputs = [];
    signal.terms.forEach((term, i) => {
      if ('sensor' in term) {
        inputs.push(term.sensor);
        inputTerms.push(i);
      }
    });
  } else inputTerms = inputs.map((_, i) => i);
  let unit = sensor.unit;
  if (limit.signalUnit !== undefined) {
    unit = limit.signalUnit.startsWith('/')
      ? `${sensor.unit}${limit.signalUnit}`
      : limit.signalUnit;
  }
  return Object.freeze({
    key: `${rule.id}.${limit.name}`,
    ruleId: rule.id,
    limitName: limit.name,
    level: limit.level,
    direction: limit.direction,
    setpoint: limit.setpoint,
    deadband: limit.deadband,
    onDelayMs: limit.onDelayMs,
    offDelayMs: limit.offDelayMs,
    sensorId: sensor.sensorId,
    sensorName: sensor.name,
    installationId: sensor.installationId,
    location: sensor.location,
    gas,
    unit,
    sign,
    raiseAt: sign * limit.setpoint,
    clearBelow: sign * limit.setpoint - limit.deadband,
    signal,
    inputs: Object.freeze(inputs),
    inputTerms: Object.freeze(inputTerms),
    drill: rule.drill === true,
    latch: rule.latch === true,
    hidden: suppresses !== undefined,
    suppresses: Object.freeze([...(suppresses ?? [])]),
  });
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
}

export type ShelveOptions = { readonly durationMs: number } | { readonly oneShot: true };

const K_VALUE = 0;
const K_RATE = 1;
const K_WINDOW = 2;
const K_STALE = 3;
const K_FAULT = 4;
const K_STUCK = 5;
const K_VOTE = 6;
const K_ALL = 7;
const KIND_CODE: Record<SignalKind, number> = {
  value: K_VALUE,
  rate: K_RATE,
  window: K_WINDOW,
  stale: K_STALE,
  fault: K_FAULT,
  stuck: K_STUCK,
  vote: K_VOTE,
  all: K_ALL,
};

/** `by` of design suppression (rule suppressWhen). */
const DESIGN = 'design';

const SHELVE_NONE = 0;
const SHELVE_TIMED = 1;
const SHELVE_ONE_SHOT = 2;

/** Mutable per-sensor state; one per sensor with rules. */
class SensorState {
  /** Latest usable value. */
  lastValue = Number.NaN;
  /** False while the latest reading is unusable (bad quality, null). */
  usable = false;
  /** Timestamp of the latest reading of any quality (engine start before the first). */
  lastTs = 0;
  quality: Reading['quality'] = 'good';
  reason = '';
  readonly limits: LimitState[] = [];
  /** Position of this sensor among each limit's inputs, parallel to `limits`. */
  readonly inputIndex: number[] = [];
  constructor(readonly sensorId: string) {}
}

/** Fixed-capacity ring of (ts, value) samples; allocated once. */
class SampleRing {
  readonly ts: Float64Array;
  readonly values: Float64Array;
  head = 0;
  size = 0;
  sum = 0;
  constructor(readonly capacity: number) {
    this.ts = new Float64Array(capacity);
    this.values = new Float64Array(capacity);
  }
  push(ts: number, value: number, windowMs: number): void {
    if (this.size === this.capacity) this.dropOldest();
    let at = this.head + this.size;
    if (at >= this.capacity) at -= this.capacity;
    this.ts[at] = ts;
    this.values[at] = value;
    this.size++;
    this.sum += value;
    const from = ts - windowMs;
    while (this.size > 1 && this.ts[this.head]! < from) this.dropOldest();
  }
  private dropOldest(): void {
    this.sum -= this.values[this.head]!;
    if (++this.head === this.capacity) this.head = 0;
    this.size--;
  }
  oldestTs(): number {
    return this.ts[this.head]!;
  }
  oldestValue(): number {
    return this.values[this.head]!;
  }
  max(): number {
    let m = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < this.size; i++) {
      const v = this.values[(this.head + i) % this.capacity]!;
      if (v > m) m = v;
    }
    return m;
  }
  min(): number {
    let m = Number.POSITIVE_INFINITY;
    for (let i = 0; i < this.size; i++) {
      const v = this.values[(this.head + i) % this.capacity]!;
      if (v < m) m = v;
    }
    return m;
  }
}

/** Mutable per-limit state; fixed shape so the evaluation loop stays monomorphic. */
class LimitState {
  // copies of spec fields the hot loop reads (one load instead of two), declared first so the
  // fields evaluate() touches share the object's first cache line
  // (initialised to numbers so the fields hold unboxed-ready number representations in the object,
  // not pointers into the spec)
  readonly kind: number = 0;
  readonly sign: number = 1;
  readonly raiseAt: number = Number.NaN;
  readonly clearBelow: number = Number.NaN;
  // condition
  active = false;
  /** True while an on-delay (inactive) or off-delay (active) runs. */
  pending = false;
  pendingSince = 0;
  /** False while the signal is unusable (delays wait). */
  usable = false;
  /** Latest signal value (what transitions report). */
  x = Number.NaN;
  // occurrence
  alarmId = '';
  raisedAt = 0;
  raisedValue = 0;
  lastIdTs = Number.NEGATIVE_INFINITY;
  /** An occurrence is open: raised and not yet closed (acknowledged after return, or reset). */
  open = false;
  acked = false;
  ackedBy = '';
  /** Latched alarm whose condition returned, waiting for reset (acknowledge). */
  latchedWaiting = false;
  // overrides
  shelve = SHELVE_NONE;
  shelvedUntil = 0;
  shelvedBy = '';
  suppressed = false;
  outOfService = false;
  overrideBy = '';
  // chattering: the last three raise times
  r1 = Number.NEGATIVE_INFINITY;
  r2 = Number.NEGATIVE_INFINITY;
  r3 = Number.NEGATIVE_INFINITY;
  // signal state
  ring: SampleRing | null = null;
  /** stuck: reference value and when it was last moved from. */
  ref = Number.NaN;
  changedAt = 0;
  /** vote / combination: per-input (term) flags and how many are set. */
  flags: Uint8Array | null = null;
  flagCount = 0;
  /** Combination limits with an `alarm` term on this limit, and that term's index. */
  readonly dependents: LimitState[] = [];
  readonly dependentTerms: number[] = [];
  // signal parameters copied out of the spec as numbers (no string compares per reading)
  /** rate / window: window length (ms). */
  readonly windowMs: number = 0;
  /** rate: per-unit scale; window: 0 average, 1 max, 2 min. */
  readonly param: number = 0;
  /** vote: +1 high, -1 low; the signed setpoint and the signed setpoint less the deadband. */
  readonly voteSign: number = 1;
  readonly voteRaise: number = 0;
  readonly voteHold: number = 0;
  /** vote: a bad-quality detector votes; fault: the NE 43 flag. */
  readonly flag: boolean = false;
  /** combination: per term, the value must lie strictly between these (±Infinity when open). */
  readonly termAbove: Float64Array | null = null;
  readonly termBelow: Float64Array | null = null;
  constructor(
    readonly spec: CompiledLimit,
    readonly sensor: SensorState,
  ) {
    this.kind = KIND_CODE[spec.signal.kind];
    this.sign = spec.sign;
    this.raiseAt = spec.raiseAt;
    this.clearBelow = spec.clearBelow;
    const signal = spec.signal;
    if (signal.kind === 'window') {
      this.ring = new SampleRing(signal.maxSamples);
      this.windowMs = signal.windowMs;
      this.param = signal.fn === 'average' ? 0 : signal.fn === 'max' ? 1 : 2;
    }
    if (signal.kind === 'rate') {
      this.ring = new SampleRing(600);
      this.windowMs = signal.windowMs;
      this.param = signal.perMs;
    }
    if (signal.kind === 'fault') this.flag = signal.ne43;
    if (signal.kind === 'vote') {
      this.flags = new Uint8Array(signal.sensors.length);
      this.voteSign = signal.direction === 'high' ? 1 : -1;
      this.voteRaise = signal.direction === 'high' ? signal.setpoint : -signal.setpoint;
      this.voteHold = this.voteRaise - signal.deadband;
      this.flag = signal.faultVotes;
    }
    if (signal.kind === 'all') {
      const n = signal.terms.length;
      this.flags = new Uint8Array(n);
      const above = new Float64Array(n).fill(Number.NEGATIVE_INFINITY);
      const below = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
      for (let i = 0; i < n; i++) {
        const term = signal.terms[i] as { above?: number; below?: number };
        if (term.above !== undefined) above[i] = term.above;
        if (term.below !== undefined) below[i] = term.below;
      }
      this.termAbove = above;
      this.termBelow = below;
    }
  }
}

/** Transitions that always belong to an occurrence (others use the point key when none is open). */
const OCCURRENCE_EVENTS: ReadonlySet<AlarmTransition> = new Set<AlarmTransition>([
  'raised',
  'cleared',
  'returned',
  'acknowledged',
]);

const NO_TRANSITIONS: readonly EdgeAlarmTransition[] = Object.freeze([]);

/** Longest message the wire contract allows (alarmEventSchema.message). */
const MAX_MESSAGE = 500;

/**
 * Evaluates readings against compiled rules. Each alarm occurrence has one
 * alarmId (`${ruleId}.${limitName}.${raisedTs}`), deterministic and unique per
 * occurrence, reported 'raised' once and 'cleared' once; lifecycle events
 * ('acknowledged', 'returned', 'shelved', ...) carry the same id, or the point key
 * `${ruleId}.${limitName}` when no occurrence is open.
 *
 * Lifecycle: no I/O except the optional state store (loaded in the constructor,
 * saved after changes) and no timers. Call evaluate() with every batch of readings
 * and tick() periodically (say every 100–250 ms): tick() fires on/off delays,
 * stale and stuck limits, and timed-shelve expiry between readings, so their
 * precision is the tick period. Commands (acknowledge, shelve, ...) return the
 * transitions they cause. Not reentrant.
 *
 * Cost: one Map lookup per reading plus a few comparisons per limit of that
 * sensor; nothing is allocated unless a transition occurs. When nothing
 * transitions, evaluate() and tick() return one shared, frozen empty array.
 */
export class AlarmEngine {
  private readonly clock: Clock;
  private readonly drill: boolean;
  private readonly store: AlarmStateStore | undefined;
  private bySensor = new Map<string, SensorState>();
  private byKey = new Map<string, LimitState>();
  private allLimits: LimitState[] = [];
  /** stale and stuck limits: evaluated on every tick(). */
  private timedLimits: LimitState[] = [];
  private pendingCount = 0;
  private timedShelves = 0;
  private out: EdgeAlarmTransition[] | null = null;
  /** clock.now() at the start of the current evaluate() call. */
  private batchNow = 0;
  private dirty = false;
  private storeFailing = false;
  private current: CompiledRuleSet;
  // flood, first-out, KPIs
  private readonly startedAt: number;
  private readonly recentTs = new Float64Array(ALARM_MANAGEMENT.floodOnsetCount);
  private readonly recentIds: string[] = new Array(ALARM_MANAGEMENT.floodOnsetCount).fill('');
  private recentHead = 0;
  private recentSize = 0;
  private flood = false;
  private floodStartedAt = 0;
  private floodTotalMs = 0;
  private floods = 0;
  private firstOut = '';
  private totalRaised = 0;
  private readonly buckets = new Int32Array(
    ALARM_MANAGEMENT.floodWindowMs / ALARM_MANAGEMENT.kpiBucketMs,
  );
  private bucketEpoch = 0;

  constructor(compiled: CompiledRuleSet, options: AlarmEngineOptions) {
    this.clock = options.clock;
    this.drill = options.drill ?? false;
    this.store = options.store;
    this.current = compiled;
    this.startedAt = this.clock.now();
    this.build(compiled, new Map());
    const saved = this.store?.load();
    if (saved) this.restore(saved);
  }

  /** The rule set in force. */
  get compiled(): CompiledRuleSet {
    return this.current;
  }

  /** Feeds readings in order; returns the transitions they caused, in order. */
  evaluate(readings: readonly Reading[]): readonly EdgeAlarmTransition[] {
    this.batchNow = this.clock.now(); // stale limits: one clock read per batch
    for (let i = 0; i < readings.length; i++) {
      const reading = readings[i]!;
      const sensor = this.bySensor.get(reading.sensorId);
      if (sensor === undefined) continue;
      let value = reading.value;
      if (typeof value === 'boolean') value = value ? 1 : 0;
      const ts = reading.ts;
      // value - value === 0 is false for NaN and ±Infinity.
      const usable = reading.quality !== 'bad' && typeof value === 'number' && value - value === 0;
      sensor.lastTs = ts;
      sensor.quality = reading.quality;
      if (reading.quality === 'bad') sensor.reason = reading.reason ?? '';
      sensor.usable = usable;
      const v = usable ? (value as number) : Number.NaN;
      if (usable) sensor.lastValue = v;
      const limits = sensor.limits;
      for (let j = 0; j < limits.length; j++) {
        const limit = limits[j]!;
        const x =
          limit.kind === K_VALUE ? v : this.signalOf(limit, sensor, sensor.inputIndex[j]!, v, ts);
        if (Number.isNaN(x)) {
          limit.usable = false; // NaN: keep state, delays wait
          continue;
        }
        limit.usable = true;
        limit.x = x;
        // Fast path (most readings): the condition stays as it is and no delay runs.
        const sx = limit.sign * x;
        if (limit.active ? sx >= limit.clearBelow : sx < limit.raiseAt) {
          if (limit.pending) this.stopDelay(limit);
          continue;
        }
        this.step(limit, x, ts);
      }
    }
    return this.flush();
  }

  /**
   * Fires on/off delays, stale and stuck limits and timed-shelve expiry at
   * clock.now(), without a new reading.
   */
  tick(): readonly EdgeAlarmTransition[] {
    const now = this.clock.now();
    const timed = this.timedLimits;
    for (let i = 0; i < timed.length; i++) {
      const limit = timed[i]!;
      let x: number;
      if (limit.kind === K_STALE) x = now - limit.sensor.lastTs;
      else if (!Number.isNaN(limit.ref)) x = now - limit.changedAt;
      else continue; // stuck without a usable value yet
      if (x < 0) x = 0;
      limit.x = x;
      limit.usable = true;
      this.step(limit, x, now);
    }
    if (this.pendingCount > 0) {
      const limits = this.allLimits;
      for (let i = 0; i < limits.length; i++) {
        const limit = limits[i]!;
        if (!limit.pending || !limit.usable) continue; // no delay running, or no usable value
        const delay = limit.active ? limit.spec.offDelayMs : limit.spec.onDelayMs;
        if (now - limit.pendingSince < delay) continue;
        if (limit.active) this.clear(limit, limit.x, now);
        else this.raise(limit, limit.x, now);
      }
    }
    if (this.timedShelves > 0) {
      for (const limit of this.allLimits) {
        if (limit.shelve === SHELVE_TIMED && now >= limit.shelvedUntil) {
          this.endShelve(limit, 'shelve time expired', now);
        }
      }
    }
    this.checkFloodEnd(now);
    return this.flush();
  }

  /** Alarms whose condition is active, in sensor and level order. */
  active(): ActiveAlarm[] {
    const out: ActiveAlarm[] = [];
    for (const limit of this.allLimits) {
      if (!limit.active || limit.spec.hidden) continue;
      const spec = limit.spec;
      out.push({
        alarmId: limit.alarmId,
        ruleId: spec.ruleId,
        limitName: spec.limitName,
        sensorId: spec.sensorId,
        level: spec.level,
        direction: spec.direction,
        setpoint: spec.setpoint,
        unit: spec.unit,
        gas: spec.gas,
        raisedAt: limit.raisedAt,
        raisedValue: limit.raisedValue,
        lastValue: limit.x,
        drill: this.drill || spec.drill,
        state: stateOf(limit),
      });
    }
    return out;
  }

  /** Every alarm point not in state normal, with its ISA-18.2 state. */
  alarms(): AlarmPointStatus[] {
    const out: AlarmPointStatus[] = [];
    for (const limit of this.allLimits) {
      const state = stateOf(limit);
      if (state === 'normal' || limit.spec.hidden) continue;
      out.push({
        key: limit.spec.key,
        alarmId: limit.open ? limit.alarmId : limit.spec.key,
        state,
        active: limit.active,
        level: limit.spec.level,
        ...(limit.acked && limit.ackedBy !== '' ? { acknowledgedBy: limit.ackedBy } : {}),
        ...(limit.shelve === SHELVE_TIMED ? { shelvedUntil: limit.shelvedUntil } : {}),
      });
    }
    return out;
  }

  /** The ISA-18.2 state of an alarm point (key) or occurrence (alarmId); undefined if unknown. */
  stateOf(alarm: string): AlarmLifecycleState | undefined {
    const limit = this.find(alarm);
    return limit ? stateOf(limit) : undefined;
  }

  /**
   * Operator acknowledgement (from the local HMI, or from the server via the
   * uplink). `alarm` is the occurrence's alarmId or the point key. An active alarm
   * becomes acknowledged; a returned-unacknowledged one becomes normal; a latched
   * one is reset ('cleared'). Acknowledging an old occurrence, or one already
   * acknowledged, changes nothing (idempotent: an ack may arrive twice).
   */
  acknowledge(alarm: string, by: string): readonly EdgeAlarmTransition[] {
    const limit = this.find(alarm, true);
    if (!limit) return this.flush();
    const now = this.clock.now();
    const spec = limit.spec;
    if (limit.latchedWaiting) {
      limit.acked = true;
      limit.ackedBy = by;
      limit.latchedWaiting = false;
      const message = `${label(spec)}: latched ${spec.limitName} (level ${spec.level}) reset by ${by}`;
      this.emit(limit, 'cleared', limit.x, now, message, { acknowledgedBy: by });
      limit.open = false;
    } else if (limit.open && !limit.acked) {
      limit.acked = true;
      limit.ackedBy = by;
      const message = `${label(spec)}: ${spec.limitName} (level ${spec.level}) acknowledged by ${by}`;
      if (!limit.active) limit.open = false; // returned-unacknowledged → normal
      this.emit(limit, 'acknowledged', limit.x, now, message, { acknowledgedBy: by });
    }
    return this.flush();
  }

  /**
   * Shelves an alarm point (ISA-18.2 §11.5): for `durationMs` (at most 24 h) or
   * one-shot (until the condition next returns to normal). A shelved alarm is
   * still evaluated and its transitions still emitted with state 'shelved'.
   */
  shelve(alarm: string, by: string, options: ShelveOptions): readonly EdgeAlarmTransition[] {
    const limit = this.find(alarm);
    if (!limit) return this.flush();
    const now = this.clock.now();
    if (limit.shelve === SHELVE_TIMED) this.timedShelves--;
    if ('oneShot' in options) {
      limit.shelve = SHELVE_ONE_SHOT;
      limit.shelvedUntil = 0;
    } else {
      const duration = Math.min(Math.max(0, options.durationMs), ALARM_MANAGEMENT.maxShelveMs);
      limit.shelve = SHELVE_TIMED;
      limit.shelvedUntil = now + duration;
      this.timedShelves++;
    }
    limit.shelvedBy = by;
    this.dirty = true;
    const how =
      limit.shelve === SHELVE_TIMED
        ? `until ${new Date(limit.shelvedUntil).toISOString()}`
        : 'until it returns to normal';
    this.emit(limit, 'shelved', limit.x, now, `${limit.spec.key} shelved by ${by} ${how}`, {
      by,
      ...(limit.shelve === SHELVE_TIMED ? { shelvedUntil: limit.shelvedUntil } : {}),
    });
    return this.flush();
  }

  unshelve(alarm: string, by: string): readonly EdgeAlarmTransition[] {
    const limit = this.find(alarm);
    if (limit && limit.shelve !== SHELVE_NONE) {
      this.endShelve(limit, `unshelved by ${by}`, this.clock.now(), by);
    }
    return this.flush();
  }

  /** Suppressed by design (say, the unit is shut down): evaluated and recorded, not annunciated. */
  suppress(alarm: string, by: string, reason = ''): readonly EdgeAlarmTransition[] {
    return this.override(alarm, by, 'suppressed', true, reason);
  }

  unsuppress(alarm: string, by: string): readonly EdgeAlarmTransition[] {
    return this.override(alarm, by, 'suppressed', false, '');
  }

  /** Out of service (say, a detector under maintenance): evaluated and recorded, not annunciated. */
  removeFromService(alarm: string, by: string, reason = ''): readonly EdgeAlarmTransition[] {
    return this.override(alarm, by, 'out-of-service', true, reason);
  }

  returnToService(alarm: string, by: string): readonly EdgeAlarmTransition[] {
    return this.override(alarm, by, 'out-of-service', false, '');
  }

  /** Alarm-system KPIs at clock.now(). */
  kpis(): AlarmKpis {
    const now = this.clock.now();
    this.checkFloodEnd(now);
    this.rollBuckets(now);
    let last10 = 0;
    for (let i = 0; i < this.buckets.length; i++) last10 += this.buckets[i]!;
    let chattering = 0;
    let stale = 0;
    let active = 0;
    let unack = 0;
    let shelved = 0;
    let suppressed = 0;
    let oos = 0;
    for (const limit of this.allLimits) {
      if (limit.spec.hidden) continue;
      if (
        limit.r3 - limit.r1 <= ALARM_MANAGEMENT.chatterWindowMs &&
        now - limit.r3 <= ALARM_MANAGEMENT.floodWindowMs
      ) {
        chattering++;
      }
      if (limit.active) {
        active++;
        if (now - limit.raisedAt > ALARM_MANAGEMENT.staleAlarmMs) stale++;
      }
      if (limit.open && !limit.acked) unack++;
      if (limit.shelve !== SHELVE_NONE) shelved++;
      if (limit.suppressed) suppressed++;
      if (limit.outOfService) oos++;
    }
    const elapsed = Math.max(1, now - this.startedAt);
    const inFlood = this.floodTotalMs + (this.flood ? now - this.floodStartedAt : 0);
    return {
      alarmsLast10Min: last10,
      alarmsPer10MinAverage:
        Math.round(
          (this.totalRaised / Math.max(1, elapsed / ALARM_MANAGEMENT.floodWindowMs)) * 100,
        ) / 100,
      totalRaised: this.totalRaised,
      floodActive: this.flood,
      floods: this.floods,
      timeInFloodMs: inFlood,
      timeInFloodRatio: Math.min(1, inFlood / elapsed),
      firstOut: this.firstOut === '' ? undefined : this.firstOut,
      chatteringAlarms: chattering,
      staleAlarms: stale,
      activeAlarms: active,
      unacknowledged: unack,
      shelved,
      suppressed,
      outOfService: oos,
    };
  }

  /**
   * Replaces the rules (hot reload) without losing alarm state: every alarm point
   * whose key (`ruleId.limitName`) survives keeps its condition, occurrence,
   * acknowledgement and overrides; sensor values carry over. A point that no
   * longer exists and still has an open occurrence is closed with 'cleared'.
   */
  reload(compiled: CompiledRuleSet): readonly EdgeAlarmTransition[] {
    const snapshot = this.snapshot(true);
    const oldLimits = this.allLimits;
    const sensors = this.bySensor;
    this.current = compiled;
    this.build(compiled, sensors);
    this.restore(snapshot);
    // Signal history carries over where the signal is unchanged (same kind and parameters).
    const old = new Map(oldLimits.map((limit) => [limit.spec.key, limit]));
    for (const limit of this.allLimits) {
      const before = old.get(limit.spec.key);
      if (!before || JSON.stringify(before.spec.signal) !== JSON.stringify(limit.spec.signal))
        continue;
      if (before.ring) limit.ring = before.ring;
      limit.ref = before.ref;
      limit.changedAt = before.changedAt;
    }
    const now = this.clock.now();
    for (const limit of oldLimits) {
      if (this.byKey.has(limit.spec.key) || limit.spec.hidden) continue;
      if (!(limit.active || limit.latchedWaiting)) continue; // an unacked return was already cleared
      this.emit(limit, 'cleared', limit.x, now, `${limit.spec.key}: rule removed by a reload`);
    }
    this.dirty = true;
    return this.flush();
  }

  /** The persisted form of the alarm state (what the store saves). */
  snapshot(includeSignals = false): PersistedAlarmState {
    const points: Record<string, PersistedPoint> = {};
    for (const limit of this.allLimits) {
      if (limit.spec.hidden) continue;
      if (
        !includeSignals &&
        !limit.active &&
        !limit.open &&
        !limit.latchedWaiting &&
        limit.shelve === SHELVE_NONE &&
        !limit.suppressed &&
        !limit.outOfService
      ) {
        continue;
      }
      points[limit.spec.key] = {
        active: limit.active,
        alarmId: limit.alarmId,
        raisedAt: limit.raisedAt,
        raisedValue: limit.raisedValue,
        lastIdTs: Number.isFinite(limit.lastIdTs) ? limit.lastIdTs : 0,
        open: limit.open,
        acked: limit.acked,
        ackedBy: limit.ackedBy,
        latchedWaiting: limit.latchedWaiting,
        shelve:
          limit.shelve === SHELVE_TIMED
            ? 'timed'
            : limit.shelve === SHELVE_ONE_SHOT
              ? 'one-shot'
              : 'none',
        shelvedUntil: limit.shelvedUntil,
        shelvedBy: limit.shelvedBy,
        suppressed: limit.suppressed,
        outOfService: limit.outOfService,
        overrideBy: limit.overrideBy,
        ...(includeSignals ? { x: limit.x, usable: limit.usable } : {}),
        ...(limit.flags && (includeSignals || limit.active) ? { flags: [...limit.flags] } : {}),
      };
    }
    return { version: 1, savedAt: this.clock.now(), points };
  }

  // --- internals ---------------------------------------------------------------------------

  private build(compiled: CompiledRuleSet, previous: ReadonlyMap<string, SensorState>): void {
    this.bySensor = new Map();
    this.byKey = new Map();
    this.allLimits = [];
    this.timedLimits = [];
    this.pendingCount = 0;
    this.timedShelves = 0;
    const now = this.clock.now();
    const sensorOf = (id: string) => {
      let sensor = this.bySensor.get(id);
      if (!sensor) {
        sensor = new SensorState(id);
        const old = previous.get(id);
        if (old) {
          sensor.lastValue = old.lastValue;
          sensor.usable = old.usable;
          sensor.lastTs = old.lastTs;
          sensor.quality = old.quality;
          sensor.reason = old.reason;
        } else sensor.lastTs = now;
        this.bySensor.set(id, sensor);
      }
      return sensor;
    };
    for (const spec of compiled.limits) {
      const limit = new LimitState(spec, sensorOf(spec.sensorId));
      this.allLimits.push(limit);
      this.byKey.set(spec.key, limit);
      if (limit.kind === K_STALE || limit.kind === K_STUCK) this.timedLimits.push(limit);
    }
    // Per-sensor lists in the compiled order (level 1 before level 2).
    for (const [sensorId, specs] of compiled.limitsBySensor) {
      const sensor = sensorOf(sensorId);
      for (const spec of specs) {
        const limit = this.byKey.get(spec.key)!;
        sensor.limits.push(limit);
        sensor.inputIndex.push(spec.inputTerms[spec.inputs.indexOf(sensorId)] ?? 0);
      }
    }
    for (const limit of this.allLimits) {
      const signal = limit.spec.signal;
      if (signal.kind !== 'all') continue;
      signal.terms.forEach((term, i) => {
        if (!('alarm' in term)) return;
        const target = this.byKey.get(term.alarm);
        if (!target) return;
        target.dependents.push(limit);
        target.dependentTerms.push(i);
      });
    }
  }

  private restore(saved: PersistedAlarmState): void {
    let restored = 0;
    for (const [key, point] of Object.entries(saved.points)) {
      const limit = this.byKey.get(key);
      if (!limit) continue;
      limit.active = point.active;
      limit.alarmId = point.alarmId;
      limit.raisedAt = point.raisedAt;
      limit.raisedValue = point.raisedValue;
      limit.lastIdTs = point.lastIdTs;
      limit.open = point.open;
      limit.acked = point.acked;
      limit.ackedBy = point.ackedBy;
      limit.latchedWaiting = point.latchedWaiting;
      limit.shelve =
        point.shelve === 'timed'
          ? SHELVE_TIMED
          : point.shelve === 'one-shot'
            ? SHELVE_ONE_SHOT
            : SHELVE_NONE;
      if (limit.shelve === SHELVE_TIMED) this.timedShelves++;
      limit.shelvedUntil = point.shelvedUntil;
      limit.shelvedBy = point.shelvedBy;
      limit.suppressed = point.suppressed;
      limit.outOfService = point.outOfService;
      limit.overrideBy = point.overrideBy;
      if (point.x !== undefined) limit.x = point.x;
      else if (point.active) limit.x = point.raisedValue;
      if (point.usable !== undefined) limit.usable = point.usable;
      // Votes and combination terms: restore which inputs held, so the first reading after a
      // restart or reload does not clear a vote the other detectors still hold.
      if (limit.flags && point.flags && point.flags.length === limit.flags.length) {
        limit.flagCount = 0;
        point.flags.forEach((flag, i) => {
          limit.flags![i] = flag === 1 ? 1 : 0;
          limit.flagCount += flag === 1 ? 1 : 0;
        });
      }
      if (limit.active) {
        restored++;
        for (let i = 0; i < limit.dependents.length; i++) {
          const dep = limit.dependents[i]!;
          const term = limit.dependentTerms[i]!;
          if (dep.flags![term] === 0) {
            dep.flags![term] = 1;
            dep.flagCount++;
          }
        }
      }
    }
    // A design suppression in force: its suppressWhen limit is active, so it lifts when the terms stop holding.
    for (const limit of this.allLimits) {
      if (!limit.spec.hidden) continue;
      limit.active = limit.spec.suppresses.some((key) => {
        const target = this.byKey.get(key);
        return target?.suppressed === true && target.overrideBy === DESIGN;
      });
    }
    if (restored > 0) log.info({ active: restored }, 'alarm state restored');
  }

  /** Computes a non-value signal for `limit` after a reading on `sensor`; NaN keeps state. */
  private signalOf(
    limit: LimitState,
    sensor: SensorState,
    input: number,
    v: number,
    ts: number,
  ): number {
    switch (limit.kind) {
      case K_RATE: {
        if (Number.isNaN(v)) return Number.NaN;
        const ring = limit.ring!;
        const windowMs = limit.windowMs;
        ring.push(ts, v, windowMs);
        const span = ts - ring.oldestTs();
        if (span < windowMs / 2) return Number.NaN; // not enough history yet
        return ((v - ring.oldestValue()) / span) * limit.param;
      }
      case K_WINDOW: {
        if (Number.isNaN(v)) return Number.NaN;
        const ring = limit.ring!;
        ring.push(ts, v, limit.windowMs);
        const fn = limit.param;
        if (fn === 0) return ring.sum / ring.size;
        return fn === 1 ? ring.max() : ring.min();
      }
      case K_STALE: {
        const age = this.batchNow - ts;
        return Math.max(age, 0);
      }
      case K_FAULT: {
        if (sensor.quality !== 'bad') return 0;
        const ne43 = sensor.reason.startsWith(NE43_REASON_PREFIX);
        return ne43 === limit.flag ? 1 : 0;
      }
      case K_STUCK: {
        if (Number.isNaN(v)) return Number.NaN;
        const tolerance = (limit.spec.signal as { tolerance: number }).tolerance;
        if (Number.isNaN(limit.ref) || Math.abs(v - limit.ref) > tolerance) {
          limit.ref = v;
          limit.changedAt = ts;
        }
        return ts - limit.changedAt;
      }
      case K_VOTE: {
        const flags = limit.flags!;
        const held = flags[input]!;
        let vote: number;
        if (Number.isNaN(v)) vote = limit.flag ? 1 : held;
        else {
          const x = limit.voteSign * v;
          vote = held === 1 ? (x >= limit.voteHold ? 1 : 0) : x >= limit.voteRaise ? 1 : 0;
        }
        if (vote !== held) {
          flags[input] = vote;
          limit.flagCount += vote === 1 ? 1 : -1;
        }
        return limit.flagCount;
      }
      case K_ALL: {
        if (Number.isNaN(v)) return !Number.isNaN(limit.x) ? limit.x : 0;
        const holds = v > limit.termAbove![input]! && v < limit.termBelow![input]! ? 1 : 0;
        this.setFlag(limit, input, holds);
        return limit.flagCount === limit.flags!.length ? 1 : 0;
      }
      default:
        return v;
    }
  }

  private setFlag(limit: LimitState, index: number, value: number): void {
    const flags = limit.flags!;
    if (flags[index] === value) return;
    flags[index] = value;
    limit.flagCount += value === 1 ? 1 : -1;
  }

  private step(limit: LimitState, x: number, ts: number): void {
    const spec = limit.spec;
    const sx = spec.sign * x;
    const returning = limit.active ? sx < spec.clearBelow : sx >= spec.raiseAt;
    if (!returning) {
      this.stopDelay(limit); // the condition broke: a delay starts over next time
      return;
    }
    const delay = limit.active ? spec.offDelayMs : spec.onDelayMs;
    if (delay > 0) {
      if (!limit.pending) {
        limit.pending = true;
        limit.pendingSince = ts;
        this.pendingCount++;
        return;
      }
      const since = limit.pendingSince;
      if (ts < since) {
        limit.pendingSince = ts; // clock stepped back: restart rather than shorten
        return;
      }
      if (ts - since < delay) return;
    }
    if (limit.active) this.clear(limit, x, ts);
    else this.raise(limit, x, ts);
  }

  private stopDelay(limit: LimitState): void {
    if (limit.pending) {
      limit.pending = false;
      this.pendingCount--;
    }
  }

  private raise(limit: LimitState, x: number, ts: number): void {
    this.stopDelay(limit);
    const spec = limit.spec;
    if (spec.hidden) {
      limit.active = true;
      this.designSuppress(spec, true, ts);
      return;
    }
    // A new occurrence supersedes a latched or returned-unacknowledged one.
    if (limit.latchedWaiting) {
      limit.latchedWaiting = false;
      limit.open = false;
      this.emit(limit, 'cleared', x, ts, `${spec.key}: latched occurrence superseded by a new one`);
    }
    limit.open = false;
    const idTs = ts > limit.lastIdTs ? ts : limit.lastIdTs + 1;
    limit.lastIdTs = idTs;
    limit.alarmId = `${spec.key}.${idTs}`;
    limit.active = true;
    limit.open = true;
    limit.acked = false;
    limit.ackedBy = '';
    limit.raisedAt = ts;
    limit.raisedValue = x;
    // chattering and flood bookkeeping
    limit.r1 = limit.r2;
    limit.r2 = limit.r3;
    limit.r3 = ts;
    const chattering = limit.r3 - limit.r1 <= ALARM_MANAGEMENT.chatterWindowMs;
    this.noteRaise(limit.alarmId, ts);
    const extra: Partial<EdgeAlarmTransition> = {};
    if (this.flood) {
      extra.flood = true;
      extra.firstOut = this.firstOut;
    }
    if (chattering) extra.chattering = true;
    this.emit(limit, 'raised', x, ts, raiseMessage(spec, x), extra);
    this.notifyDependents(limit, 1, ts);
  }

  private clear(limit: LimitState, x: number, ts: number): void {
    this.stopDelay(limit);
    const spec = limit.spec;
    if (spec.hidden) {
      limit.active = false;
      this.designSuppress(spec, false, ts);
      return;
    }
    limit.active = false;
    // Never clear before the raise, even if a device timestamp lags the clock used by tick().
    const at = Math.max(ts, limit.raisedAt);
    if (spec.latch) {
      limit.latchedWaiting = true;
      this.emit(limit, 'returned', x, at, `${clearMessage(spec, x)}; latched until acknowledged`);
    } else {
      if (limit.acked) limit.open = false;
      this.emit(limit, 'cleared', x, at, clearMessage(spec, x));
    }
    if (limit.shelve === SHELVE_ONE_SHOT) this.endShelve(limit, 'one-shot shelve ended', at);
    this.notifyDependents(limit, 0, ts);
  }

  /** Re-evaluates combinations with an `alarm` term on `limit`. */
  private notifyDependents(limit: LimitState, holds: number, ts: number): void {
    const deps = limit.dependents;
    for (let i = 0; i < deps.length; i++) {
      const dep = deps[i]!;
      this.setFlag(dep, limit.dependentTerms[i]!, holds);
      const x = dep.flagCount === dep.flags!.length ? 1 : 0;
      dep.x = x;
      dep.usable = true;
      this.step(dep, x, ts);
    }
  }

  /** Suppressed by design: a rule's suppressWhen started or stopped holding. */
  private designSuppress(spec: CompiledLimit, on: boolean, ts: number): void {
    for (const key of spec.suppresses) {
      const target = this.byKey.get(key);
      if (!target || target.suppressed === on) continue;
      target.suppressed = on;
      target.overrideBy = on ? DESIGN : '';
      const message = `${key} ${on ? 'suppressed' : 'unsuppressed'} by design (${spec.ruleId} suppressWhen)`;
      this.emit(target, on ? 'suppressed' : 'unsuppressed', target.x, ts, message, { by: DESIGN });
    }
  }

  private endShelve(limit: LimitState, why: string, ts: number, by?: string): void {
    if (limit.shelve === SHELVE_TIMED) this.timedShelves--;
    limit.shelve = SHELVE_NONE;
    limit.shelvedUntil = 0;
    this.dirty = true;
    this.emit(limit, 'unshelved', limit.x, ts, `${limit.spec.key}: ${why}`, by ? { by } : {});
  }

  private override(
    alarm: string,
    by: string,
    what: 'suppressed' | 'out-of-service',
    on: boolean,
    reason: string,
  ): readonly EdgeAlarmTransition[] {
    const limit = this.find(alarm);
    if (!limit) return this.flush();
    const current = what === 'suppressed' ? limit.suppressed : limit.outOfService;
    if (current === on) return this.flush();
    if (what === 'suppressed') limit.suppressed = on;
    else limit.outOfService = on;
    limit.overrideBy = on ? by : '';
    this.dirty = true;
    const transition: AlarmTransition = on
      ? what
      : what === 'suppressed'
        ? 'unsuppressed'
        : 'in-service';
    const message = `${limit.spec.key} ${transition} by ${by}${reason ? `: ${reason}` : ''}`;
    this.emit(limit, transition, limit.x, this.clock.now(), message, { by });
    return this.flush();
  }

  private find(alarm: string, occurrenceOnly = false): LimitState | undefined {
    const byKey = this.byKey.get(alarm);
    if (byKey) return byKey;
    const cut = alarm.lastIndexOf('.');
    const limit = cut > 0 ? this.byKey.get(alarm.slice(0, cut)) : undefined;
    if (!limit) {
      log.warn({ alarm }, 'command for an unknown alarm ignored');
      return undefined;
    }
    if (occurrenceOnly && limit.alarmId !== alarm) return undefined; // an older occurrence
    return limit;
  }

  private noteRaise(alarmId: string, ts: number): void {
    const m = ALARM_MANAGEMENT;
    this.totalRaised++;
    this.rollBuckets(ts);
    const bucket = Math.floor(ts / m.kpiBucketMs) % this.buckets.length;
    this.buckets[bucket]!++;
    const n = m.floodOnsetCount;
    const at = (this.recentHead + this.recentSize) % n;
    if (this.recentSize === n) this.recentHead = (this.recentHead + 1) % n;
    else this.recentSize++;
    this.recentTs[at] = ts;
    this.recentIds[at] = alarmId;
    this.checkFloodEnd(ts);
    if (
      !this.flood &&
      this.recentSize === n &&
      ts - this.recentTs[this.recentHead]! <= m.floodWindowMs
    ) {
      this.flood = true;
      this.floods++;
      this.floodStartedAt = this.recentTs[this.recentHead]!;
      this.firstOut = this.recentIds[this.recentHead]!;
      log.warn({ firstOut: this.firstOut }, 'alarm flood: more than 10 alarms in 10 minutes');
    }
  }

  private checkFloodEnd(now: number): void {
    if (!this.flood) return;
    const m = ALARM_MANAGEMENT;
    // Fewer than floodEndCount raises in the window: the floodEndCount-th newest is older.
    const n = m.floodOnsetCount;
    const idx = (this.recentHead + this.recentSize - m.floodEndCount + n) % n;
    if (this.recentSize >= m.floodEndCount && now - this.recentTs[idx]! <= m.floodWindowMs) return;
    this.flood = false;
    const endedAt = this.recentTs[idx]! + m.floodWindowMs;
    this.floodTotalMs += Math.max(0, Math.min(now, endedAt) - this.floodStartedAt);
    log.info({ firstOut: this.firstOut }, 'alarm flood ended');
  }

  private rollBuckets(ts: number): void {
    const size = ALARM_MANAGEMENT.kpiBucketMs;
    const epoch = Math.floor(ts / size);
    if (epoch <= this.bucketEpoch) return;
    const n = this.buckets.length;
    const steps = Math.min(n, epoch - this.bucketEpoch);
    for (let i = 1; i <= steps; i++) this.buckets[(this.bucketEpoch + i) % n] = 0;
    this.bucketEpoch = epoch;
  }

  private emit(
    limit: LimitState,
    transition: AlarmTransition,
    x: number,
    ts: number,
    message: string,
    extra: Partial<EdgeAlarmTransition> = {},
  ): void {
    const spec = limit.spec;
    const value = limit.kind === K_FAULT || Number.isNaN(x) ? null : x;
    const event: EdgeAlarmTransition = {
      alarmId:
        limit.alarmId !== '' && (limit.open || OCCURRENCE_EVENTS.has(transition))
          ? limit.alarmId
          : spec.key,
      ruleId: spec.ruleId,
      sensorId: spec.sensorId,
      level: spec.level,
      transition,
      value,
      unit: spec.unit,
      setpoint: spec.setpoint,
      ts,
      drill: this.drill || spec.drill,
      message: message.length > MAX_MESSAGE ? message.slice(0, MAX_MESSAGE) : message,
      state: stateOf(limit),
      ...extra,
    };
    if (spec.sensorName !== undefined) event.sensorName = spec.sensorName;
    if (spec.installationId !== undefined) event.installationId = spec.installationId;
    if (spec.location !== undefined) event.location = spec.location;
    if (spec.gas !== undefined) event.gas = spec.gas;
    if (this.out === null) this.out = [];
    this.out.push(event);
    this.dirty = true;
  }

  /**
   * Saves the state. A failing disk must never stop alarms: the error is logged (once
   * until a save works again) and the transitions are still returned.
   */
  private persist(store: AlarmStateStore): void {
    try {
      store.save(this.snapshot());
      if (this.storeFailing) {
        this.storeFailing = false;
        log.info('alarm state saved again');
      }
    } catch (err) {
      if (!this.storeFailing) {
        this.storeFailing = true;
        log.error(
          { err },
          'cannot save alarm state; alarms continue, state will not survive a restart',
        );
      }
    }
  }

  private flush(): readonly EdgeAlarmTransition[] {
    const out = this.out;
    this.out = null;
    if (this.dirty) {
      this.dirty = false;
      if (this.store) this.persist(this.store);
    }
    return out ?? NO_TRANSITIONS;
  }
}

function stateOf(limit: LimitState): AlarmLifecycleState {
  if (limit.outOfService) return 'out-of-service';
  if (limit.suppressed) return 'suppressed';
  if (limit.shelve !== SHELVE_NONE) return 'shelved';
  if (limit.active) return limit.acked ? 'acknowledged' : 'unacknowledged';
  if (limit.latchedWaiting) return 'latched';
  if (limit.open && !limit.acked) return 'returned-unacknowledged';
  return 'normal';
}

/** `GT-101 methane` / `TT-201`: what an operator reads first. */
function label(spec: CompiledLimit): string {
  return spec.gas === undefined ? spec.sensorId : `${spec.sensorId} ${spec.gas}`;
}

function what(spec: CompiledLimit): string {
  const signal = spec.signal;
  switch (signal.kind) {
    case 'rate':
      return ' rate of change';
    case 'window':
      return ` ${signal.fn} over ${fmt(signal.windowMs / 1000)} s`;
    default:
      return '';
  }
}

function raiseMessage(spec: CompiledLimit, x: number): string {
  const signal = spec.signal;
  const lvl = `(level ${spec.level})`;
  switch (signal.kind) {
    case 'stale':
      return `${spec.sensorId}: no data for ${fmt(x / 1000)} s (timeout ${fmt(spec.setpoint / 1000)} s) ${lvl}`;
    case 'stuck':
      return `${spec.sensorId}: value stuck for ${fmt(x / 1000)} s ${lvl}`;
    case 'fault':
      return signal.ne43
        ? `${spec.sensorId}: sensor fault (NAMUR NE 43 loop current out of range) ${lvl}`
        : `${spec.sensorId}: bad quality ${lvl}`;
    case 'vote':
      return `${spec.ruleId}: ${fmt(x)} of ${signal.sensors.length} detectors beyond ${fmt(signal.setpoint)} (${fmt(spec.setpoint)}oo${signal.sensors.length} vote) ${lvl}`;
    case 'all':
      return `${spec.ruleId}: all ${signal.terms.length} conditions hold ${lvl}`;
    default: {
      const relation = spec.direction === 'high' ? 'at or above' : 'at or below';
      return `${label(spec)}${what(spec)} ${fmt(x)} ${spec.unit}, ${relation} ${spec.limitName} setpoint ${fmt(spec.setpoint)} ${spec.unit} ${lvl}`;
    }
  }
}

function clearMessage(spec: CompiledLimit, x: number): string {
  const signal = spec.signal;
  const tail = `${spec.limitName} (level ${spec.level}) cleared`;
  switch (signal.kind) {
    case 'stale':
      return `${spec.sensorId}: data again: ${tail}`;
    case 'stuck':
      return `${spec.sensorId}: value moving again: ${tail}`;
    case 'fault':
      return `${spec.sensorId}: quality good again: ${tail}`;
    case 'vote':
    case 'all':
      return `${spec.ruleId}: ${tail}`;
    default: {
      const returnAt =
        spec.direction === 'high' ? spec.setpoint - spec.deadband : spec.setpoint + spec.deadband;
      const relation = spec.direction === 'high' ? 'below' : 'above';
      return `${label(spec)}${what(spec)} ${fmt(x)} ${spec.unit}, back ${relation} ${fmt(returnAt)} ${spec.unit}: ${tail}`;
    }
  }
}
