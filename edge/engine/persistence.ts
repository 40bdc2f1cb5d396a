/**
 * Alarm state in and out of the engine: the persisted form the state store
 * saves (snapshot) and its way back in (restore), used at start-up and by reload.
 */
import { createLogger } from '../../common/logger.js';
import type { PersistedAlarmState, PersistedPoint } from '../state-store.js';
import { DESIGN, type LimitState, SHELVE_NONE, SHELVE_ONE_SHOT, SHELVE_TIMED } from './state.js';

const log = createLogger('edge.engine');

/** The persisted form of the alarm state; with `includeSignals`, every point and its signal. */
export function snapshotOf(
  limits: readonly LimitState[],
  savedAt: number,
  includeSignals: boolean,
): PersistedAlarmState {
  const points: Record<string, PersistedPoint> = {};
  for (const limit of limits) {
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
  return { version: 1, savedAt, points };
}

/**
 * Puts saved state back on the limits with the same keys; returns how many timed
 * shelves were restored (the engine counts them for tick()).
 */
export function restoreInto(
  byKey: ReadonlyMap<string, LimitState>,
  limits: readonly LimitState[],
  saved: PersistedAlarmState,
): number {
  let restored = 0;
  let timedShelves = 0;
  for (const [key, point] of Object.entries(saved.points)) {
    const limit = byKey.get(key);
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
    if (limit.shelve === SHELVE_TIMED) timedShelves++;
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
  for (const limit of limits) {
    if (!limit.spec.hidden) continue;
    limit.active = limit.spec.suppresses.some((key) => {
      const target = byKey.get(key);
      return target?.suppressed === true && target.overrideBy === DESIGN;
    });
  }
  if (restored > 0) log.info({ active: restored }, 'alarm state restored');
  return timedShelves;
}
