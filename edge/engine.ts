/**
 * Alarm evaluation at the edge. `compileRuleSet` turns a loaded RuleSet and the
 * gateway's sensor catalogue into per-sensor arrays of limits, once; `AlarmEngine`
 * feeds readings through them and returns alarm transitions.
 *
 * Per limit the engine keeps one small state machine (normal ⇄ active) with
 * deadband, on-delay and off-delay (ISA-18.2 / IEC 62682). Later layers (ISA-18.2
 * acknowledgement states, shelving, flood suppression, fault alarms) consume the
 * transitions; they do not change this evaluation.
 *
 * Readings that cannot be evaluated — quality 'bad', value null or not a finite
 * number — neither raise nor clear: every limit of that sensor keeps its state,
 * and pending on/off delays neither fire on tick() nor restart until a usable
 * reading arrives (then a delay that has run its course fires at once). Fault
 * alarms for bad quality belong to a later layer. 'uncertain' readings are
 * evaluated like good ones.
 *
 * Time: delays are measured with reading timestamps in evaluate() and with
 * clock.now() in tick(), so readings should carry acquisition (edge) time. A
 * reading older than the start of a pending delay restarts that delay (a clock
 * stepped back never shortens a delay).
 */
import type { Clock } from '../common/clock.js';
import { createLogger } from '../common/logger.js';
import type { AlarmEvent, Reading, SensorInfo } from '../protocol/index.js';
import { conditionType, type Rule } from './conditions/index.js';
import { fmt } from './conditions/shared.js';
import { RuleFileError, type RuleProblem } from './rule-loader.js';
import {
  formatKeyPath,
  type KeyPath,
  type LimitDirection,
  type LimitSpec,
  type RuleSet,
} from './rule-types.js';

const log = createLogger('edge.engine');

/** An alarm transition as the edge produces it: an AlarmEvent without the uplink envelope. */
export type EdgeAlarmTransition = Omit<
  AlarmEvent,
  'v' | 'gatewayId' | 'enterpriseId' | 'seq' | 'sentAt'
>;

/** One limit of one rule on one sensor, with everything a transition needs. Immutable. */
export interface CompiledLimit {
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
  readonly unit: string;
  /** +1 for high limits, -1 for low: comparisons run on sign × value. */
  readonly sign: 1 | -1;
  /** Raise when sign × value >= raiseAt. */
  readonly raiseAt: number;
  /** Clear when sign × value < clearBelow (the deadband applied). */
  readonly clearBelow: number;
}

/** Rules compiled against a sensor catalogue; immutable, shareable between engines. */
export interface CompiledRuleSet {
  readonly ruleSet: RuleSet;
  /** Limits per sensorId, ordered by level, then rule order, then limit order. */
  readonly limitsBySensor: ReadonlyMap<string, readonly CompiledLimit[]>;
  readonly limitCount: number;
}

/**
 * Compiles rules against the sensor catalogue. Throws RuleFileError (file, line,
 * key path) for a rule whose sensor is not in the catalogue, whose unit or gas does
 * not match its sensor, or whose setpoint lies outside the sensor's range.
 */
export function compileRuleSet(
  ruleSet: RuleSet,
  sensors: ReadonlyMap<string, SensorInfo>,
): CompiledRuleSet {
  const problems: RuleProblem[] = [];
  const bySensor = new Map<string, CompiledLimit[]>();
  let limitCount = 0;
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
      report(['sensor'], `sensor '${rule.sensor}' is not in the gateway's sensor catalogue`);
      continue;
    }
    const issues = condition.checkSensor(rule, sensor);
    for (const issue of issues) report(issue.path, issue.message);
    const limits = condition.limits(rule);
    for (const limit of limits) {
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
    if (issues.length > 0) continue;
    let list = bySensor.get(sensor.sensorId);
    if (!list) {
      list = [];
      bySensor.set(sensor.sensorId, list);
    }
    for (const limit of limits) {
      list.push(compileLimit(rule, condition.gasOf(rule) ?? sensor.gas, sensor, limit));
      limitCount++;
    }
  }
  if (problems.length > 0) throw new RuleFileError(problems);
  for (const list of bySensor.values()) {
    // Stable sort: level 1 before level 2, so a jump past both raises level 1 first.
    list.sort((a, b) => a.level - b.level);
    Object.freeze(list);
  }
  log.info(
    { rules: ruleSet.rules.length, limits: limitCount, sensors: bySensor.size },
    'rules compiled',
  );
  return Object.freeze({ ruleSet, limitsBySensor: bySensor, limitCount });
}

function compileLimit(
  rule: Rule,
  gas: string | undefined,
  sensor: SensorInfo,
  limit: LimitSpec,
): CompiledLimit {
  const sign = limit.direction === 'high' ? 1 : -1;
  return Object.freeze({
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
    unit: sensor.unit,
    sign,
    raiseAt: sign * limit.setpoint,
    clearBelow: sign * limit.setpoint - limit.deadband,
  });
}

/** An alarm that is raised and not yet cleared. */
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
  /** Latest usable value of the sensor. */
  readonly lastValue: number;
  readonly drill: boolean;
}

export interface AlarmEngineOptions {
  /** Time source for tick(); tests pass a ManualClock. */
  readonly clock: Clock;
  /** Tag every transition as a drill (never pages an emergency centre). */
  readonly drill?: boolean;
}

/** Mutable per-sensor state; one per sensor with rules. */
class SensorState {
  /** Latest usable value. */
  lastValue = Number.NaN;
  /** False while the latest reading is unusable (bad quality, null): delays wait. */
  usable = false;
  readonly limits: LimitState[] = [];
}

/** Mutable per-limit state; fixed shape so the evaluation loop stays monomorphic. */
class LimitState {
  active = false;
  /** True while an on-delay (inactive) or off-delay (active) runs. */
  pending = false;
  /** Start of the running delay, epoch ms; meaningful only while pending. */
  pendingSince = 0;
  alarmId = '';
  raisedAt = 0;
  raisedValue = 0;
  /** Last timestamp used in an alarm id, so ids stay unique even for equal timestamps. */
  lastIdTs = Number.NEGATIVE_INFINITY;
  constructor(
    readonly spec: CompiledLimit,
    readonly sensor: SensorState,
  ) {}
}

const NO_TRANSITIONS: readonly EdgeAlarmTransition[] = Object.freeze([]);

/** Longest message the wire contract allows (alarmEventSchema.message). */
const MAX_MESSAGE = 500;

/**
 * Evaluates readings against compiled rules and reports each alarm occurrence
 * exactly twice: once raised, once cleared, with one alarmId
 * (`${ruleId}.${limitName}.${raisedTs}`), deterministic and unique per occurrence.
 *
 * Lifecycle: no I/O and no timers. Call evaluate() with every batch of readings
 * and tick() periodically (say every 100–250 ms): tick() fires on/off delays that
 * expire between readings, so delay precision is the tick period. Not reentrant.
 *
 * Cost: one Map lookup per reading plus a few comparisons per limit of that
 * sensor; nothing is allocated unless a transition occurs. When nothing
 * transitions, evaluate() and tick() return one shared, frozen empty array.
 */
export class AlarmEngine {
  private readonly clock: Clock;
  private readonly drill: boolean;
  private readonly bySensor = new Map<string, SensorState>();
  private readonly allLimits: LimitState[] = [];
  /** Number of limits with a running delay; tick() is free while it is 0. */
  private pendingCount = 0;

  constructor(
    readonly compiled: CompiledRuleSet,
    options: AlarmEngineOptions,
  ) {
    this.clock = options.clock;
    this.drill = options.drill ?? false;
    for (const [sensorId, limits] of compiled.limitsBySensor) {
      const sensor = new SensorState();
      for (const spec of limits) {
        const limit = new LimitState(spec, sensor);
        sensor.limits.push(limit);
        this.allLimits.push(limit);
      }
      this.bySensor.set(sensorId, sensor);
    }
  }

  /** Feeds readings in order; returns the transitions they caused, in order. */
  evaluate(readings: readonly Reading[]): readonly EdgeAlarmTransition[] {
    let out: EdgeAlarmTransition[] | null = null;
    for (let i = 0; i < readings.length; i++) {
      const reading = readings[i]!;
      const sensor = this.bySensor.get(reading.sensorId);
      if (sensor === undefined) continue;
      const value = reading.value;
      // value - value === 0 is false for NaN and ±Infinity.
      if (reading.quality === 'bad' || typeof value !== 'number' || value - value !== 0) {
        sensor.usable = false;
        continue;
      }
      sensor.usable = true;
      sensor.lastValue = value;
      const ts = reading.ts;
      const limits = sensor.limits;
      for (let j = 0; j < limits.length; j++) {
        const transition = this.step(limits[j]!, value, ts);
        if (transition !== null) {
          if (out === null) out = [];
          out.push(transition);
        }
      }
    }
    return out ?? NO_TRANSITIONS;
  }

  /** Fires on/off delays that have expired at clock.now(), without a new reading. */
  tick(): readonly EdgeAlarmTransition[] {
    if (this.pendingCount === 0) return NO_TRANSITIONS;
    const now = this.clock.now();
    let out: EdgeAlarmTransition[] | null = null;
    const limits = this.allLimits;
    for (let i = 0; i < limits.length; i++) {
      const limit = limits[i]!;
      if (!limit.pending || !limit.sensor.usable) continue; // no delay running, or no usable value
      const delay = limit.active ? limit.spec.offDelayMs : limit.spec.onDelayMs;
      if (now - limit.pendingSince < delay) continue;
      const value = limit.sensor.lastValue;
      const transition = limit.active
        ? this.clear(limit, value, now)
        : this.raise(limit, value, now);
      if (out === null) out = [];
      out.push(transition);
    }
    return out ?? NO_TRANSITIONS;
  }

  /** Alarms currently raised, in sensor and level order. */
  active(): ActiveAlarm[] {
    const out: ActiveAlarm[] = [];
    for (const limit of this.allLimits) {
      if (!limit.active) continue;
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
        lastValue: limit.sensor.lastValue,
        drill: this.drill,
      });
    }
    return out;
  }

  private step(limit: LimitState, value: number, ts: number): EdgeAlarmTransition | null {
    const spec = limit.spec;
    const x = spec.sign * value;
    const returning = limit.active ? x < spec.clearBelow : x >= spec.raiseAt;
    if (!returning) {
      this.stopDelay(limit); // the condition broke: a delay starts over next time
      return null;
    }
    const delay = limit.active ? spec.offDelayMs : spec.onDelayMs;
    if (delay > 0) {
      if (!limit.pending) {
        limit.pending = true;
        limit.pendingSince = ts;
        this.pendingCount++;
        return null;
      }
      const since = limit.pendingSince;
      if (ts < since) {
        limit.pendingSince = ts; // clock stepped back: restart rather than shorten
        return null;
      }
      if (ts - since < delay) return null;
    }
    return limit.active ? this.clear(limit, value, ts) : this.raise(limit, value, ts);
  }

  private stopDelay(limit: LimitState): void {
    if (limit.pending) {
      limit.pending = false;
      this.pendingCount--;
    }
  }

  private raise(limit: LimitState, value: number, ts: number): EdgeAlarmTransition {
    this.stopDelay(limit);
    const spec = limit.spec;
    const idTs = ts > limit.lastIdTs ? ts : limit.lastIdTs + 1;
    limit.lastIdTs = idTs;
    limit.alarmId = `${spec.ruleId}.${spec.limitName}.${idTs}`;
    limit.active = true;
    limit.raisedAt = ts;
    limit.raisedValue = value;
    const relation = spec.direction === 'high' ? 'at or above' : 'at or below';
    const message = `${label(spec)} ${fmt(value)} ${spec.unit}, ${relation} ${spec.limitName} setpoint ${fmt(spec.setpoint)} ${spec.unit} (level ${spec.level})`;
    return this.transition(limit, 'raised', value, ts, message);
  }

  private clear(limit: LimitState, value: number, ts: number): EdgeAlarmTransition {
    this.stopDelay(limit);
    const spec = limit.spec;
    limit.active = false;
    const returnAt =
      spec.direction === 'high' ? spec.setpoint - spec.deadband : spec.setpoint + spec.deadband;
    const relation = spec.direction === 'high' ? 'below' : 'above';
    const message = `${label(spec)} ${fmt(value)} ${spec.unit}, back ${relation} ${fmt(returnAt)} ${spec.unit}: ${spec.limitName} (level ${spec.level}) cleared`;
    // Never clear before the raise, even if a device timestamp lags the clock used by tick().
    return this.transition(limit, 'cleared', value, Math.max(ts, limit.raisedAt), message);
  }

  private transition(
    limit: LimitState,
    transition: 'raised' | 'cleared',
    value: number,
    ts: number,
    message: string,
  ): EdgeAlarmTransition {
    const spec = limit.spec;
    const event: EdgeAlarmTransition = {
      alarmId: limit.alarmId,
      ruleId: spec.ruleId,
      sensorId: spec.sensorId,
      level: spec.level,
      transition,
      value,
      unit: spec.unit,
      setpoint: spec.setpoint,
      ts,
      drill: this.drill,
      message: message.length > MAX_MESSAGE ? message.slice(0, MAX_MESSAGE) : message,
    };
    if (spec.sensorName !== undefined) event.sensorName = spec.sensorName;
    if (spec.installationId !== undefined) event.installationId = spec.installationId;
    if (spec.location !== undefined) event.location = spec.location;
    if (spec.gas !== undefined) event.gas = spec.gas;
    return event;
  }
}

/** `GT-101 methane` / `TT-201`: what an operator reads first. */
function label(spec: CompiledLimit): string {
  return spec.gas === undefined ? spec.sensorId : `${spec.sensorId} ${spec.gas}`;
}
