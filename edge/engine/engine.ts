/**
 * AlarmEngine: the public face of edge/engine/. Feeds readings through compiled
 * rules and returns alarm transitions (ISA-18.2 / IEC 62682).
 *
 * Per limit the engine keeps:
 * - the condition state machine (normal ⇄ active) with deadband, on-delay and off-delay;
 * - the alarm state: unacknowledged, acknowledged, returned-to-normal unacknowledged,
 *   latched (rule `latch: true`), normal;
 * - operator / design overrides: shelved (timed or one-shot), suppressed by design,
 *   out of service. Overridden alarms keep being evaluated and their transitions
 *   are still emitted and recorded, carrying `state` so nothing annunciates them.
 * - flood detection (more than 10 raises in 10 min), first-out marking, chattering
 *   (3 raises in 60 s), and KPIs (kpis()).
 *
 * At the boundary (issue 12), per reading:
 * - order: a reading not newer than the newest evaluated one of its sensor changes
 *   nothing (counted as out of order); event times stay the readings' source times;
 * - time: a reading stamped more than futureToleranceMs (5 min) ahead of the gateway
 *   clock, older than maxReadingAgeMs (24 h) or before 2000 is a clock fault (quality
 *   bad, reason 'clock fault', counted, the gateway time stands in for its own);
 * - value: NaN and ±Infinity are faults whatever the quality says (reason
 *   'non-finite value', counted). Clock faults and non-finite readings do not count
 *   as data for stale limits.
 * Readings that cannot be evaluated — quality 'bad', value null, or one of the faults
 * above — neither raise nor clear value-based limits: they keep their state (an
 * active alarm is marked value unreliable), and pending on/off delays neither fire
 * on tick() nor restart until a usable reading arrives. Fault limits (type: fault)
 * and stale limits do see them. Booleans read as 1 and 0. 'uncertain' readings are
 * evaluated like good ones.
 *
 * Durations (delays, stale, stuck, windows, rate, shelving, flood and chatter) run on
 * the clock's monotonic time; a wall-clock step is logged, counted and reported
 * through onClockStep. Occurrence ids are `<ruleId>.<limit>.<gateway>-<random>-<n>`
 * with a persisted n: unique by construction, never derived from a sensor time.
 * An alarm that is active when it comes back from shelving, suppression or out of
 * service is announced again as a new occurrence (./lifecycle.ts says why).
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

import { createLogger } from '../../common/logger.js';
import type { AlarmLifecycleState, Reading } from '../../protocol/index.js';
import type { PersistedAlarmState } from '../state-store.js';
import { EngineCore } from './core.js';
import { acknowledge, findLimit, override, shelve, unshelve } from './lifecycle.js';
import { restoreInto } from './persistence.js';
import { prepareInTurns, prepareNow, swapIn } from './reload.js';
import { SHELVE_TIMED, stateOf } from './state.js';
import type {
  ActiveAlarm,
  AlarmEngineOptions,
  AlarmKpis,
  AlarmPointStatus,
  CompiledRuleSet,
  EdgeAlarmTransition,
  EngineCounters,
  ShelveOptions,
} from './types.js';

const log = createLogger('edge.engine');

export class AlarmEngine {
  private readonly core: EngineCore;
  /** The reload in progress: reloads run one at a time. */
  private reloading: Promise<unknown> = Promise.resolve();

  constructor(compiled: CompiledRuleSet, options: AlarmEngineOptions) {
    const core = new EngineCore(compiled, options);
    this.core = core;
    swapIn(core, prepareNow(core, compiled));
    core.out = null;
    core.dirty = false;
    let saved: PersistedAlarmState | undefined;
    try {
      saved = options.store?.load();
    } catch (err) {
      // An unreadable state must not keep alarms from running: start fresh, say so loudly.
      log.error({ err }, 'alarm state could not be loaded; starting with no saved alarm state');
    }
    if (saved) restoreInto(core, saved);
  }

  /** The rule set in force. */
  get compiled(): CompiledRuleSet {
    return this.core.current;
  }

  /** Feeds readings in order; returns the transitions they caused, in order. */
  evaluate(readings: readonly Reading[]): readonly EdgeAlarmTransition[] {
    return this.core.evaluate(readings);
  }

  /**
   * Fires on/off delays, stale and stuck limits and timed-shelve expiry at
   * clock.now(), without a new reading.
   */
  tick(): readonly EdgeAlarmTransition[] {
    return this.core.tick();
  }

  /** Alarms whose condition is active, in sensor and level order. */
  active(): ActiveAlarm[] {
    const out: ActiveAlarm[] = [];
    for (const limit of this.core.allLimits) {
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
        drill: this.core.drill || spec.drill,
        state: stateOf(limit),
        valueUnreliable: limit.unreliable,
      });
    }
    return out;
  }

  /** Every alarm point not in state normal, with its ISA-18.2 state. */
  alarms(): AlarmPointStatus[] {
    const out: AlarmPointStatus[] = [];
    for (const limit of this.core.allLimits) {
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
        ...(limit.unreliable && limit.active ? { valueUnreliable: true as const } : {}),
      });
    }
    return out;
  }

  /** The ISA-18.2 state of an alarm point (key) or occurrence (alarmId); undefined if unknown. */
  stateOf(alarm: string): AlarmLifecycleState | undefined {
    this.core.look();
    const limit = findLimit(this.core, alarm);
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
    this.core.look();
    acknowledge(this.core, alarm, by);
    return this.core.flush();
  }

  /**
   * Shelves an alarm point (ISA-18.2 §11.5): for `durationMs` (at most 24 h) or
   * one-shot (until the condition next returns to normal). A shelved alarm is
   * still evaluated and its transitions still emitted with state 'shelved'.
   */
  shelve(alarm: string, by: string, options: ShelveOptions): readonly EdgeAlarmTransition[] {
    this.core.look();
    shelve(this.core, alarm, by, options);
    return this.core.flush();
  }

  unshelve(alarm: string, by: string): readonly EdgeAlarmTransition[] {
    this.core.look();
    unshelve(this.core, alarm, by);
    return this.core.flush();
  }

  /** Suppressed by design (say, the unit is shut down): evaluated and recorded, not annunciated. */
  suppress(alarm: string, by: string, reason = ''): readonly EdgeAlarmTransition[] {
    this.core.look();
    override(this.core, alarm, by, 'suppressed', true, reason);
    return this.core.flush();
  }

  unsuppress(alarm: string, by: string): readonly EdgeAlarmTransition[] {
    this.core.look();
    override(this.core, alarm, by, 'suppressed', false, '');
    return this.core.flush();
  }

  /** Out of service (say, a detector under maintenance): evaluated and recorded, not annunciated. */
  removeFromService(alarm: string, by: string, reason = ''): readonly EdgeAlarmTransition[] {
    this.core.look();
    override(this.core, alarm, by, 'out-of-service', true, reason);
    return this.core.flush();
  }

  returnToService(alarm: string, by: string): readonly EdgeAlarmTransition[] {
    this.core.look();
    override(this.core, alarm, by, 'out-of-service', false, '');
    return this.core.flush();
  }

  /** Alarm-system KPIs now, with the reading counters. */
  kpis(): AlarmKpis {
    const core = this.core;
    core.look();
    const c = this.counters();
    return {
      ...core.kpi.kpis(core.allLimits, core.monoNow),
      outOfOrderReadings: c.outOfOrder,
      clockFaultReadings: c.clockFault,
      nonFiniteReadings: c.nonFinite,
      clockSteps: c.clockSteps,
    };
  }

  /** Readings refused at the boundary, and clock steps, since the engine started. */
  counters(): EngineCounters {
    const core = this.core;
    return {
      outOfOrder: core.outOfOrder,
      clockFault: core.clockFault,
      nonFinite: core.nonFinite,
      clockSteps: core.clockSteps,
    };
  }

  /**
   * Replaces the rules (hot reload) without losing alarm state: every alarm point
   * whose key (`ruleId.limitName`) survives keeps its condition, running delay,
   * occurrence, acknowledgement and overrides; sensor values carry over. A point
   * that no longer exists and still has an open occurrence is closed with
   * 'cleared'. Builds in one go: reloadInTurns() keeps evaluation going meanwhile.
   */
  reload(compiled: CompiledRuleSet): readonly EdgeAlarmTransition[] {
    this.core.look();
    swapIn(this.core, prepareNow(this.core, compiled));
    return this.core.flush();
  }

  /**
   * reload(), with the build spread over event-loop turns (about 1 ms of work
   * each) so evaluate() and tick() keep running while a large rule set is built;
   * the swap itself is one synchronous step. Reloads run one at a time.
   */
  async reloadInTurns(compiled: CompiledRuleSet): Promise<readonly EdgeAlarmTransition[]> {
    const run = this.reloading.then(async () => {
      const prepared = await prepareInTurns(this.core, compiled);
      this.core.look();
      swapIn(this.core, prepared);
      return this.core.flush();
    });
    this.reloading = run.catch(() => undefined);
    return run;
  }

  /** The persisted form of the alarm state (what the store saves). */
  snapshot(): PersistedAlarmState {
    return this.core.snapshot();
  }
}
