/**
 * The evaluation core of the alarm engine: feeds readings through the limits of
 * their sensor, runs the condition state machine (deadband, on/off-delay) and
 * opens and closes occurrences. Commands live in ./lifecycle.ts, KPIs in
 * ./kpis.ts; AlarmEngine (./engine.ts) is the public face. Internal: not
 * exported from edge/index.ts.
 */
import type { Clock } from '../../common/clock.js';
import { createLogger } from '../../common/logger.js';
import type { AlarmTransition, Reading } from '../../protocol/index.js';
import type { AlarmStateStore, PersistedAlarmState } from '../state-store.js';
import { KpiTracker } from './kpis.js';
import { designSuppress, endShelve } from './lifecycle.js';
import { clearMessage, clip, raiseMessage } from './messages.js';
import { snapshotOf } from './persistence.js';
import { signalBehaviour, VALUE_CODE } from './signals/index.js';
import {
  LimitState,
  SensorState,
  SHELVE_ONE_SHOT,
  SHELVE_TIMED,
  setFlag,
  stateOf,
} from './state.js';
import { ALARM_MANAGEMENT, type CompiledRuleSet, type EdgeAlarmTransition } from './types.js';

const log = createLogger('edge.engine');

/** Transitions that always belong to an occurrence (others use the point key when none is open). */
const OCCURRENCE_EVENTS: ReadonlySet<AlarmTransition> = new Set<AlarmTransition>([
  'raised',
  'cleared',
  'returned',
  'acknowledged',
]);

const NO_TRANSITIONS: readonly EdgeAlarmTransition[] = Object.freeze([]);

export class EngineCore {
  bySensor = new Map<string, SensorState>();
  byKey = new Map<string, LimitState>();
  allLimits: LimitState[] = [];
  /** Timed limits (stale, stuck): evaluated on every tick(). */
  timedLimits: LimitState[] = [];
  pendingCount = 0;
  timedShelves = 0;
  out: EdgeAlarmTransition[] | null = null;
  /** clock.now() at the start of the current evaluate() call. */
  batchNow = 0;
  dirty = false;
  storeFailing = false;
  current: CompiledRuleSet;
  readonly kpi: KpiTracker;

  constructor(
    compiled: CompiledRuleSet,
    readonly clock: Clock,
    readonly drill: boolean,
    readonly store: AlarmStateStore | undefined,
  ) {
    this.current = compiled;
    this.kpi = new KpiTracker(clock.now());
  }

  /** Feeds readings in order; returns the transitions they caused, in order. */
  evaluate(readings: readonly Reading[]): readonly EdgeAlarmTransition[] {
    this.batchNow = this.clock.now(); // stale limits: one clock read per batch
    const now = this.batchNow;
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
          limit.kind === VALUE_CODE
            ? v
            : limit.behaviour.onReading(limit, sensor, sensor.inputIndex[j]!, v, ts, now);
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

  /** Fires on/off delays, stale and stuck limits and timed-shelve expiry at clock.now(). */
  tick(): readonly EdgeAlarmTransition[] {
    const now = this.clock.now();
    const timed = this.timedLimits;
    for (let i = 0; i < timed.length; i++) {
      const limit = timed[i]!;
      const x = limit.behaviour.onTick(limit, now);
      if (Number.isNaN(x)) continue;
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
          endShelve(this, limit, 'shelve time expired', now);
        }
      }
    }
    this.kpi.checkFloodEnd(now);
    return this.flush();
  }

  /** Builds the evaluation state for `compiled`, carrying sensor values over from `previous`. */
  build(compiled: CompiledRuleSet, previous: ReadonlyMap<string, SensorState>): void {
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
      const behaviour = signalBehaviour(spec.signal.kind);
      const limit = new LimitState(spec, sensorOf(spec.sensorId), behaviour);
      this.allLimits.push(limit);
      this.byKey.set(spec.key, limit);
      if (behaviour.timed) this.timedLimits.push(limit);
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

  step(limit: LimitState, x: number, ts: number): void {
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

  stopDelay(limit: LimitState): void {
    if (limit.pending) {
      limit.pending = false;
      this.pendingCount--;
    }
  }

  raise(limit: LimitState, x: number, ts: number): void {
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
    this.kpi.noteRaise(limit.alarmId, ts);
    const extra: Partial<EdgeAlarmTransition> = {};
    if (this.kpi.flood) {
      extra.flood = true;
      extra.firstOut = this.kpi.firstOut;
    }
    if (chattering) extra.chattering = true;
    this.emit(limit, 'raised', x, ts, raiseMessage(limit, x), extra);
    this.notifyDependents(limit, 1, ts);
  }

  clear(limit: LimitState, x: number, ts: number): void {
    this.stopDelay(limit);
    const spec = limit.spec;
    if (spec.hidden) {
      limit.active = false;
      designSuppress(this, spec, false, ts);
      return;
    }
    limit.active = false;
    // Never clear before the raise, even if a device timestamp lags the clock used by tick().
    const at = Math.max(ts, limit.raisedAt);
    if (spec.latch) {
      limit.latchedWaiting = true;
      this.emit(limit, 'returned', x, at, `${clearMessage(limit, x)}; latched until acknowledged`);
    } else {
      if (limit.acked) limit.open = false;
      this.emit(limit, 'cleared', x, at, clearMessage(limit, x));
    }
    if (limit.shelve === SHELVE_ONE_SHOT) endShelve(this, limit, 'one-shot shelve ended', at);
    this.notifyDependents(limit, 0, ts);
  }

  /** Re-evaluates combinations with an `alarm` term on `limit`. */
  notifyDependents(limit: LimitState, holds: number, ts: number): void {
    const deps = limit.dependents;
    for (let i = 0; i < deps.length; i++) {
      const dep = deps[i]!;
      setFlag(dep, limit.dependentTerms[i]!, holds);
      const x = dep.flagCount === dep.flags!.length ? 1 : 0;
      dep.x = x;
      dep.usable = true;
      this.step(dep, x, ts);
    }
  }

  /** The limit of an alarm point key or occurrence id (`occurrenceOnly`: the current one only). */
  find(alarm: string, occurrenceOnly = false): LimitState | undefined {
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

  emit(
    limit: LimitState,
    transition: AlarmTransition,
    x: number,
    ts: number,
    message: string,
    extra: Partial<EdgeAlarmTransition> = {},
  ): void {
    const spec = limit.spec;
    const value = limit.spec.signal.kind === 'fault' || Number.isNaN(x) ? null : x;
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
  snapshot(includeSignals = false): PersistedAlarmState {
    return snapshotOf(this.allLimits, this.clock.now(), includeSignals);
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
