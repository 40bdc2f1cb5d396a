/**
 * The evaluation core of the alarm engine: feeds readings through the limits of
 * their sensor, runs the condition state machine (deadband, on/off-delay) and
 * opens and closes occurrences. Commands live in ./lifecycle.ts, KPIs in
 * ./kpis.ts, rule swaps in ./reload.ts; AlarmEngine (./engine.ts) is the public
 * face. Internal: not exported from edge/index.ts.
 *
 * Time (issue 12): every duration (on/off-delay, stale, stuck, windows, rate,
 * shelving, flood and chatter windows) is measured on the clock's monotonic time,
 * called engine time `t` here. A reading's engine time is the engine time now
 * less the reading's age by the wall clock (never later than now, never earlier
 * than the previous reading of its sensor). A reading without a usable value (bad
 * quality, null) is evaluated at engine time now and leaves its sensor's newest
 * sample time alone (its stamp may come from another clock). Event times (`ts`) stay the readings'
 * source times; transitions made by tick() or commands carry the wall time.
 */
import { randomBytes } from 'node:crypto';
import { type Clock, monotonicOf } from '../../common/clock.js';
import { createLogger } from '../../common/logger.js';
import type { AlarmTransition, Reading } from '../../protocol/index.js';
import type { AlarmStateStore, PersistedAlarmState } from '../state-store.js';
import { KpiTracker } from './kpis.js';
import { designSuppress, endShelve } from './lifecycle.js';
import { clearMessage, clip, raiseMessage } from './messages.js';
import { snapshotOf } from './persistence.js';
import { VALUE_CODE } from './signals/index.js';
import {
  type LimitState,
  type SensorState,
  SHELVE_ONE_SHOT,
  SHELVE_TIMED,
  setFlag,
  stateOf,
} from './state.js';
import {
  ALARM_MANAGEMENT,
  type AlarmEngineOptions,
  CLOCK_FAULT_REASON,
  type CompiledRuleSet,
  type EdgeAlarmTransition,
  ENGINE_TIME_DEFAULTS,
  NON_FINITE_REASON,
} from './types.js';

const log = createLogger('edge.engine');

/** Transitions that always belong to an occurrence (others use the point key when none is open). */
const OCCURRENCE_EVENTS = new Set<AlarmTransition>([
  'raised',
  'cleared',
  'returned',
  'acknowledged',
]);

const NO_TRANSITIONS: readonly EdgeAlarmTransition[] = Object.freeze([]);

/** Longest alarm id the wire allows (alarmEventSchema.alarmId: maxLength 200). */
const MAX_ALARM_ID = 200;

export class EngineCore {
  bySensor = new Map<string, SensorState>();
  byKey = new Map<string, LimitState>();
  allLimits: LimitState[] = [];
  /** Timed limits (stale, stuck): evaluated on every tick(). */
  timedLimits: LimitState[] = [];
  pendingCount = 0;
  timedShelves = 0;
  out: EdgeAlarmTransition[] | null = null;
  /** Wall and engine (monotonic) time at the latest look at the clock. */
  wallNow: number;
  monoNow: number;
  dirty = false;
  storeFailing = false;
  current: CompiledRuleSet;
  readonly kpi: KpiTracker;
  readonly drill: boolean;
  readonly store: AlarmStateStore | undefined;
  readonly clock: Clock;
  readonly monotonic: () => number;
  // counters (EngineCounters)
  outOfOrder = 0;
  clockFault = 0;
  nonFinite = 0;
  clockSteps = 0;
  /** Next occurrence number; persisted, so ids stay unique across restarts. */
  nextOccurrence = 1;
  /** `<gateway>-<random>-`: the per-boot prefix of occurrence numbers. */
  private readonly idPrefix: string;
  private readonly stepThreshold: number;
  private readonly futureTolerance: number;
  private readonly maxAge: number;
  private readonly minTs: number;
  private readonly deviceStamped: ReadonlySet<string> | undefined;

  constructor(
    compiled: CompiledRuleSet,
    private readonly options: AlarmEngineOptions,
  ) {
    this.current = compiled;
    this.clock = options.clock;
    this.drill = options.drill ?? false;
    this.store = options.store;
    this.monotonic = monotonicOf(options.clock);
    if (!options.clock.monotonic) {
      log.warn('clock has no monotonic time: durations follow the wall clock and its steps');
    }
    this.wallNow = this.clock.now();
    this.monoNow = this.monotonic();
    this.kpi = new KpiTracker(this.monoNow);
    const d = ENGINE_TIME_DEFAULTS;
    this.stepThreshold = options.clockStepThresholdMs ?? d.clockStepThresholdMs;
    this.futureTolerance = options.futureToleranceMs ?? d.futureToleranceMs;
    this.maxAge = options.maxReadingAgeMs ?? d.maxReadingAgeMs;
    this.minTs = options.minPlausibleTs ?? d.minPlausibleTs;
    this.deviceStamped = options.deviceStampedSensors;
    // Ids are unique by construction: gateway id + a random part drawn at start + a
    // persisted counter. Never derived from a (sensor-supplied) time.
    const gateway = (options.gatewayId ?? 'edge').replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 32);
    this.idPrefix = `${gateway}-${randomBytes(4).toString('hex')}-`;
  }

  /**
   * Reads both clocks. A disagreement beyond the threshold between two looks is a
   * wall-clock step: logged, counted, reported, and the sensors' newest source
   * times are moved with it so readings stamped on the new time stay in order.
   */
  look(): void {
    const wall = this.clock.now();
    const mono = this.monotonic();
    const stepMs = wall - this.wallNow - (mono - this.monoNow);
    this.wallNow = wall;
    this.monoNow = mono;
    if (Math.abs(stepMs) <= this.stepThreshold) return;
    this.clockSteps++;
    log.warn({ stepMs, at: new Date(wall).toISOString() }, 'wall clock stepped');
    // Only gateway-stamped sensors' times moved with the gateway clock (Modbus: the gateway
    // stamps). A device-stamped sensor (OPC UA source timestamps) keeps its newest time: the
    // device clock did not step, and shifting it by a +240 s step dropped 240 s of its readings
    // (a 60 %LEL gas alarm missed) as out of order. Never shifting at all is not as safe: after
    // a step back of an hour every gateway-stamped reading would be dropped for an hour.
    const deviceStamped = this.deviceStamped;
    for (const sensor of this.bySensor.values()) {
      if (deviceStamped === undefined || !deviceStamped.has(sensor.sensorId)) {
        sensor.lastTs += stepMs;
      }
    }
    try {
      this.options.onClockStep?.({ stepMs, at: wall });
    } catch (err) {
      log.error({ err }, 'onClockStep handler failed');
    }
  }

  /** Feeds readings in order; returns the transitions they caused, in order. */
  evaluate(readings: readonly Reading[]): readonly EdgeAlarmTransition[] {
    this.look();
    const wallNow = this.wallNow;
    const monoNow = this.monoNow;
    const latest = wallNow + this.futureTolerance;
    const earliest = Math.max(wallNow - this.maxAge, this.minTs);
    for (let i = 0; i < readings.length; i++) {
      const reading = readings[i]!;
      const sensor = this.bySensor.get(reading.sensorId);
      if (sensor === undefined) continue;
      let value = reading.value;
      if (typeof value === 'boolean') value = value ? 1 : 0;
      let ts = reading.ts;
      let quality = reading.quality;
      let reason = reading.reason;
      let t: number;
      let isData = true; // counts as data for stale limits
      if (ts <= latest && ts >= earliest && (quality === 'bad' || value === null)) {
        // No usable value (comm lost, refused, bad quality): the gateway stamps these with its
        // own clock, while an OPC UA sensor's samples carry the device's time. Ordering both on
        // one lastTs dropped the catch-up (and, with a lagging device clock, every new sample)
        // after a comm loss, and the false fault stayed up. So it is neither ordered against nor
        // advances the newest sample time: it is evaluated now, on the monotonic clock.
        t = Math.max(monoNow, sensor.lastEvalT);
      } else if (ts <= latest && ts >= earliest) {
        if (ts <= sensor.lastTs) {
          this.outOfOrder++; // never changes alarm state (issue 12 property 1)
          continue;
        }
        sensor.lastTs = ts;
        const age = wallNow - ts;
        t = age > 0 ? monoNow - age : monoNow;
        if (t < sensor.lastEvalT) t = sensor.lastEvalT;
      } else {
        // Implausible time (ahead of the gateway clock, absurdly old, or not a number):
        // a clock fault. Its time cannot order, age or stamp anything: the gateway time stands in.
        this.clockFault++;
        this.boundaryFault(sensor, CLOCK_FAULT_REASON, ts);
        quality = 'bad';
        reason = CLOCK_FAULT_REASON;
        ts = wallNow;
        t = Math.max(monoNow, sensor.lastEvalT);
        isData = false;
      }
      sensor.lastEvalT = t;
      const isNumber = typeof value === 'number';
      // value - value === 0 is false for NaN and ±Infinity.
      const finite = isNumber && (value as number) - (value as number) === 0;
      if (isNumber && !finite) {
        // Non-finite values are faults whatever the quality says (issue 12 property 4).
        this.nonFinite++;
        this.boundaryFault(sensor, NON_FINITE_REASON, value);
        quality = 'bad';
        reason = NON_FINITE_REASON;
        isData = false;
      }
      if (isData) sensor.lastT = t;
      const usable = quality !== 'bad' && finite;
      sensor.quality = quality;
      if (quality === 'bad') sensor.reason = reason ?? '';
      sensor.usable = usable;
      const v = usable ? (value as number) : Number.NaN;
      if (usable) {
        sensor.lastValue = v;
        if (sensor.attention) this.recovered(sensor);
      }
      const limits = sensor.limits;
      for (let j = 0; j < limits.length; j++) {
        const limit = limits[j]!;
        const x =
          limit.kind === VALUE_CODE
            ? v
            : limit.behaviour.onReading(limit, sensor, sensor.inputIndex[j]!, v, t, monoNow);
        if (Number.isNaN(x)) {
          limit.usable = false; // NaN: keep state, delays wait
          if (!usable && limit.active) {
            limit.unreliable = true;
            sensor.attention = true;
          }
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
        this.step(limit, x, t, ts);
      }
    }
    return this.flush();
  }

  /** A usable reading after faults: the recovery is logged once, and its values are reliable again. */
  private recovered(sensor: SensorState): void {
    sensor.attention = false;
    if (sensor.faultLogged !== '') {
      log.info({ sensorId: sensor.sensorId }, 'readings usable again');
      sensor.faultLogged = '';
    }
    for (const limit of sensor.limits) limit.unreliable = false;
  }

  /** Logs a boundary fault of a sensor once, until its readings are usable again. */
  private boundaryFault(sensor: SensorState, reason: string, got: unknown): void {
    sensor.attention = true;
    if (sensor.faultLogged === reason) return;
    sensor.faultLogged = reason;
    log.warn(
      { sensorId: sensor.sensorId, got: String(got) },
      `reading taken as a sensor fault: ${reason}`,
    );
  }

  /** Fires on/off delays, stale and stuck limits and timed-shelve expiry now. */
  tick(): readonly EdgeAlarmTransition[] {
    this.look();
    const now = this.monoNow;
    const wall = this.wallNow;
    const timed = this.timedLimits;
    for (let i = 0; i < timed.length; i++) {
      const limit = timed[i]!;
      const x = limit.behaviour.onTick(limit, now);
      if (Number.isNaN(x)) continue;
      limit.x = x;
      limit.usable = true;
      this.step(limit, x, now, wall);
    }
    if (this.pendingCount > 0) {
      const limits = this.allLimits;
      for (let i = 0; i < limits.length; i++) {
        const limit = limits[i]!;
        if (!limit.pending || !limit.usable) continue; // no delay running, or no usable value
        const delay = limit.active ? limit.spec.offDelayMs : limit.spec.onDelayMs;
        if (now - limit.pendingSince < delay) continue;
        if (limit.active) this.clear(limit, limit.x, now, wall);
        else this.raise(limit, limit.x, now, wall);
      }
    }
    if (this.timedShelves > 0) {
      for (const limit of this.allLimits) {
        if (limit.shelve !== SHELVE_TIMED) continue;
        // The 24 h cap (ISA-18.2 §11.5) holds at expiry too, whatever the end says.
        if (now >= limit.shelveEndsT || now - limit.shelvedT >= ALARM_MANAGEMENT.maxShelveMs) {
          endShelve(this, limit, 'shelve time expired', wall);
        }
      }
    }
    this.kpi.checkFloodEnd(now);
    return this.flush();
  }

  /** Condition state machine of one limit at engine time `t`, event time `ts`. */
  step(limit: LimitState, x: number, t: number, ts: number): void {
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
        limit.pendingSince = t;
        this.pendingCount++;
        return;
      }
      const since = limit.pendingSince;
      if (t < since) {
        limit.pendingSince = t; // an input of another sensor lagged: restart rather than shorten
        return;
      }
      if (t - since < delay) return;
    }
    if (limit.active) this.clear(limit, x, t, ts);
    else this.raise(limit, x, t, ts);
  }

  stopDelay(limit: LimitState): void {
    if (limit.pending) {
      limit.pending = false;
      this.pendingCount--;
    }
  }

  /** A fresh occurrence id: `<ruleId>.<limit>.<gateway>-<random>-<counter>`. */
  newAlarmId(key: string): string {
    const id = `${key}.${this.idPrefix}${(this.nextOccurrence++).toString(36)}`;
    // Rule ids (64) and limit names (32) are bounded, the gateway part is cut to 32.
    return id.length <= MAX_ALARM_ID ? id : id.slice(0, MAX_ALARM_ID);
  }

  raise(limit: LimitState, x: number, t: number, ts: number): void {
    this.stopDelay(limit);
    const spec = limit.spec;
    if (spec.hidden) {
      limit.active = true;
      designSuppress(this, spec, true, ts);
      return;
    }
    // A new occurrence supersedes a latched or returned-unacknowledged one.
    if (limit.latchedWaiting) {
      limit.latchedWaiting = false;
      limit.open = false;
      this.closeSuperseded(limit, x, ts);
      this.emit(limit, 'cleared', x, ts, `${spec.key}: latched occurrence superseded by a new one`);
    }
    limit.active = true;
    limit.unreliable = false;
    // chattering bookkeeping
    limit.r1 = limit.r2;
    limit.r2 = limit.r3;
    limit.r3 = t;
    const chattering = limit.r3 - limit.r1 <= ALARM_MANAGEMENT.chatterWindowMs;
    this.openOccurrence(limit, x, t, ts, raiseMessage(limit, x), chattering);
    this.notifyDependents(limit, 1, t, ts);
  }

  /** Opens a new occurrence of an active limit and announces it ('raised'). */
  openOccurrence(
    limit: LimitState,
    x: number,
    t: number,
    ts: number,
    message: string,
    chattering: boolean,
    reannounces?: string,
  ): void {
    limit.alarmId = this.newAlarmId(limit.spec.key);
    limit.open = true;
    limit.acked = false;
    limit.ackedBy = '';
    limit.raisedAt = ts;
    limit.raisedT = t;
    limit.raisedValue = x;
    this.kpi.noteRaise(limit.alarmId, t);
    const extra: Partial<EdgeAlarmTransition> = {};
    if (this.kpi.flood) {
      extra.flood = true;
      extra.firstOut = this.kpi.firstOut;
    }
    if (chattering) extra.chattering = true;
    // The server pages an emergency centre once per event: it needs to know this raise
    // re-announces an occurrence it may already have paged for.
    if (reannounces !== undefined) extra.reannounces = reannounces;
    this.emit(limit, 'raised', x, ts, message, extra);
  }

  clear(limit: LimitState, x: number, t: number, ts: number): void {
    this.stopDelay(limit);
    const spec = limit.spec;
    if (spec.hidden) {
      limit.active = false;
      designSuppress(this, spec, false, ts);
      return;
    }
    limit.active = false;
    limit.unreliable = false;
    // Never clear before the raise, even if a device timestamp lags the clock used by tick().
    const at = Math.max(ts, limit.raisedAt);
    if (spec.latch) {
      limit.latchedWaiting = true;
      this.emit(limit, 'returned', x, at, `${clearMessage(limit, x)}; latched until acknowledged`);
    } else {
      if (limit.acked) limit.open = false;
      this.closeSuperseded(limit, x, at);
      this.emit(limit, 'cleared', x, at, clearMessage(limit, x));
    }
    if (limit.shelve === SHELVE_ONE_SHOT) endShelve(this, limit, 'one-shot shelve ended', at);
    this.notifyDependents(limit, 0, t, ts);
  }

  /** Closes the occurrences a re-announcement superseded, as their successor closes. */
  closeSuperseded(limit: LimitState, x: number, ts: number): void {
    const superseded = limit.superseded;
    if (superseded === null) return;
    limit.superseded = null;
    for (const alarmId of superseded) {
      const message = `${limit.spec.key}: closed with ${limit.alarmId}, its re-announcement`;
      this.emit(limit, 'cleared', x, ts, message, { alarmId });
    }
  }

  /** Re-evaluates combinations with an `alarm` term on `limit`. */
  notifyDependents(limit: LimitState, holds: number, t: number, ts: number): void {
    const deps = limit.dependents;
    for (let i = 0; i < deps.length; i++) {
      const dep = deps[i]!;
      setFlag(dep, limit.dependentTerms[i]!, holds);
      const x = dep.flagCount === dep.flags!.length ? 1 : 0;
      dep.x = x;
      dep.usable = true;
      this.step(dep, x, t, ts);
    }
  }

  emit(
    limit: LimitState,
    transition: AlarmTransition,
    x: number,
    ts: number,
    message: string,
    extra: Partial<EdgeAlarmTransition> = {},
  ): void {
    const spec = limit.spec;
    const value = spec.signal.kind === 'fault' || Number.isNaN(x) ? null : x;
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
      message: clip(message),
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

  /** The persisted form of the alarm state (what the store saves). */
  snapshot(): PersistedAlarmState {
    return snapshotOf(this, this.clock.now());
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

  flush(): readonly EdgeAlarmTransition[] {
    const out = this.out;
    this.out = null;
    if (this.dirty) {
      this.dirty = false;
      if (this.store) this.persist(this.store);
    }
    return out ?? NO_TRANSITIONS;
  }
}
