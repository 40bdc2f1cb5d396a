/**
 * Alarm state in and out of the engine: the persisted form the state store saves
 * (snapshot), its way back in after a restart (restore), and the carry-over of
 * state from old to new limits when rules are reloaded (carry).
 *
 * Engine (monotonic) times do not survive a restart, so the saved form holds wall
 * times; a restore turns them into engine times against the wall clock once.
 */
import { createLogger } from '../../common/logger.js';
import type { PersistedAlarmState, PersistedPoint } from '../state-store.js';
import type { EngineCore } from './core.js';
import { DESIGN, type LimitState, SHELVE_NONE, SHELVE_ONE_SHOT, SHELVE_TIMED } from './state.js';
import { ALARM_MANAGEMENT } from './types.js';

const log = createLogger('edge.engine');

const clamp = (ms: number, max: number) => Math.min(Math.max(ms, 0), max);

/** The persisted form of the alarm state: points not in state normal, by key. */
export function snapshotOf(core: EngineCore, savedAt: number): PersistedAlarmState {
  const points: Record<string, PersistedPoint> = {};
  for (const limit of core.allLimits) {
    if (limit.spec.hidden) continue;
    if (
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
      shelvedAt: limit.shelvedAt,
      shelvedBy: limit.shelvedBy,
      suppressed: limit.suppressed,
      outOfService: limit.outOfService,
      overrideBy: limit.overrideBy,
      ...(limit.superseded ? { superseded: [...limit.superseded] } : {}),
      ...(limit.flags && limit.active ? { flags: [...limit.flags] } : {}),
    };
  }
  return { version: 1, savedAt, nextOccurrence: core.nextOccurrence, points };
}

/** Puts state saved before a restart back on the limits with the same keys. */
export function restoreInto(core: EngineCore, saved: PersistedAlarmState): void {
  const wall = core.wallNow;
  const mono = core.monoNow;
  const maxShelve = ALARM_MANAGEMENT.maxShelveMs;
  if (saved.nextOccurrence !== undefined && saved.nextOccurrence > core.nextOccurrence) {
    core.nextOccurrence = saved.nextOccurrence;
  }
  let restored = 0;
  for (const [key, point] of Object.entries(saved.points)) {
    const limit = core.byKey.get(key);
    if (!limit) continue;
    limit.active = point.active;
    limit.alarmId = point.alarmId;
    limit.raisedAt = point.raisedAt;
    limit.raisedT = mono - Math.max(0, wall - point.raisedAt);
    limit.raisedValue = point.raisedValue;
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
    limit.shelvedUntil = point.shelvedUntil;
    limit.shelvedAt = point.shelvedAt ?? wall;
    // Whatever the file says, a shelve never outlasts the 24 h cap (ISA-18.2 §11.5).
    limit.shelvedT = mono - clamp(wall - limit.shelvedAt, maxShelve);
    if (limit.shelve === SHELVE_TIMED) {
      core.timedShelves++;
      limit.shelveEndsT = mono + clamp(point.shelvedUntil - wall, maxShelve);
    }
    limit.shelvedBy = point.shelvedBy;
    limit.suppressed = point.suppressed;
    limit.outOfService = point.outOfService;
    limit.overrideBy = point.overrideBy;
    limit.superseded = point.superseded ? [...point.superseded] : null;
    if (point.active) limit.x = point.raisedValue;
    // Votes and combination terms: restore which inputs held, so the first reading after a
    // restart does not clear a vote the other detectors still hold.
    if (limit.flags && point.flags && point.flags.length === limit.flags.length) {
      limit.flagCount = 0;
      point.flags.forEach((flag, i) => {
        limit.flags![i] = flag === 1 ? 1 : 0;
        limit.flagCount += flag === 1 ? 1 : 0;
      });
    }
    if (limit.active) restored++;
  }
  linkActive(core);
  if (restored > 0) log.info({ active: restored }, 'alarm state restored');
}

/**
 * Carries the state of one alarm point from its old limit to the new one (hot
 * reload): condition, running delay, occurrence, overrides, chattering; signal
 * history (rings, stuck reference) where the signal is unchanged.
 */
export function carry(to: LimitState, from: LimitState, sameSignal: boolean): void {
  to.active = from.active;
  to.pending = from.pending;
  to.pendingSince = from.pendingSince;
  to.usable = from.usable;
  to.x = from.x;
  to.alarmId = from.alarmId;
  to.raisedAt = from.raisedAt;
  to.raisedT = from.raisedT;
  to.raisedValue = from.raisedValue;
  to.unreliable = from.unreliable;
  to.superseded = from.superseded;
  to.open = from.open;
  to.acked = from.acked;
  to.ackedBy = from.ackedBy;
  to.latchedWaiting = from.latchedWaiting;
  to.shelve = from.shelve;
  to.shelvedUntil = from.shelvedUntil;
  to.shelvedT = from.shelvedT;
  to.shelveEndsT = from.shelveEndsT;
  to.shelvedAt = from.shelvedAt;
  to.shelvedBy = from.shelvedBy;
  to.suppressed = from.suppressed;
  to.outOfService = from.outOfService;
  to.overrideBy = from.overrideBy;
  to.r1 = from.r1;
  to.r2 = from.r2;
  to.r3 = from.r3;
  if (to.flags && from.flags && to.flags.length === from.flags.length) {
    if (to.flags !== from.flags) to.flags.set(from.flags); // shared when the signal is unchanged
    to.flagCount = from.flagCount;
  }
  if (sameSignal) {
    if (from.ring) to.ring = from.ring;
    to.ref = from.ref;
    to.changedAt = from.changedAt;
  }
}

/**
 * After a restore or carry: combinations see the alarms that are active, and a
 * design suppression in force keeps its suppressWhen limit active (so it lifts when
 * the terms stop holding).
 */
export function linkActive(core: EngineCore): void {
  for (const limit of core.allLimits) {
    if (limit.spec.hidden) {
      limit.active = limit.spec.suppresses.some((key) => {
        const target = core.byKey.get(key);
        return target?.suppressed === true && target.overrideBy === DESIGN;
      });
      continue;
    }
    if (!limit.active) continue;
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
