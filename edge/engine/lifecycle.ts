/**
 * Operator and design overrides of the ISA-18.2 lifecycle: acknowledge (and reset
 * of a latched alarm), shelve (timed or one-shot, ISA-18.2 §11.5), suppress by
 * design, remove from and return to service. Each returns through the core's
 * transition buffer; none does I/O. Callers look at the clock first (core.look()).
 *
 * Back in service means announced (ISA-18.2 / IEC 62682: an alarm that is active
 * when it returns from shelving, suppression or out-of-service is annunciated):
 * the alarm is raised again as a NEW occurrence, because the server's ledger
 * ignores a second 'raised' for an alarmId it knows. The superseded occurrence is
 * closed ('cleared') when its successor closes, never before: a 'cleared' while the
 * condition holds would run the linkage's clear actions (open the valve again).
 */
import { createLogger } from '../../common/logger.js';
import type { AlarmTransition } from '../../protocol/index.js';
import type { EngineCore } from './core.js';
import { label, raiseMessage } from './messages.js';
import { DESIGN, type LimitState, SHELVE_NONE, SHELVE_ONE_SHOT, SHELVE_TIMED } from './state.js';
import { ALARM_MANAGEMENT, type CompiledLimit, type ShelveOptions } from './types.js';

const log = createLogger('edge.engine');

/** The limit of an alarm point key or occurrence id (`occurrenceOnly`: the current one only). */
export function findLimit(
  core: EngineCore,
  alarm: string,
  occurrenceOnly = false,
): LimitState | undefined {
  const byKey = core.byKey.get(alarm);
  if (byKey) return byKey;
  const cut = alarm.lastIndexOf('.');
  const limit = cut > 0 ? core.byKey.get(alarm.slice(0, cut)) : undefined;
  if (!limit) {
    log.warn({ alarm }, 'command for an unknown alarm ignored');
    return undefined;
  }
  if (occurrenceOnly && limit.alarmId !== alarm) return undefined; // an older occurrence
  return limit;
}

/**
 * Operator acknowledgement: an active alarm becomes acknowledged; a
 * returned-unacknowledged one becomes normal; a latched one is reset ('cleared').
 * Acknowledging an old occurrence, or one already acknowledged, changes nothing.
 */
export function acknowledge(core: EngineCore, alarm: string, by: string): void {
  const limit = findLimit(core, alarm, true);
  if (!limit) return;
  const now = core.wallNow;
  const spec = limit.spec;
  if (limit.latchedWaiting) {
    limit.acked = true;
    limit.ackedBy = by;
    limit.latchedWaiting = false;
    const message = `${label(spec)}: latched ${spec.limitName} (level ${spec.level}) reset by ${by}`;
    core.closeSuperseded(limit, limit.x, now);
    core.emit(limit, 'cleared', limit.x, now, message, { acknowledgedBy: by });
    limit.open = false;
  } else if (limit.open && !limit.acked) {
    limit.acked = true;
    limit.ackedBy = by;
    const message = `${label(spec)}: ${spec.limitName} (level ${spec.level}) acknowledged by ${by}`;
    if (!limit.active) limit.open = false; // returned-unacknowledged → normal
    core.emit(limit, 'acknowledged', limit.x, now, message, { acknowledgedBy: by });
  }
}

/** Shelves an alarm point for `durationMs` (at most 24 h) or one-shot. */
export function shelve(core: EngineCore, alarm: string, by: string, options: ShelveOptions): void {
  const limit = findLimit(core, alarm);
  if (!limit) return;
  const now = core.wallNow;
  if (limit.shelve === SHELVE_TIMED) core.timedShelves--;
  limit.shelvedAt = now;
  limit.shelvedT = core.monoNow;
  if ('oneShot' in options) {
    limit.shelve = SHELVE_ONE_SHOT;
    limit.shelvedUntil = 0;
  } else {
    const duration = Math.min(Math.max(0, options.durationMs), ALARM_MANAGEMENT.maxShelveMs);
    limit.shelve = SHELVE_TIMED;
    limit.shelvedUntil = now + duration;
    limit.shelveEndsT = core.monoNow + duration; // expiry on monotonic time: clock steps cannot stretch it
    core.timedShelves++;
  }
  limit.shelvedBy = by;
  core.dirty = true;
  const how =
    limit.shelve === SHELVE_TIMED
      ? `until ${new Date(limit.shelvedUntil).toISOString()}`
      : 'until it returns to normal';
  core.emit(limit, 'shelved', limit.x, now, `${limit.spec.key} shelved by ${by} ${how}`, {
    by,
    ...(limit.shelve === SHELVE_TIMED ? { shelvedUntil: limit.shelvedUntil } : {}),
  });
}

export function unshelve(core: EngineCore, alarm: string, by: string): void {
  const limit = findLimit(core, alarm);
  if (limit && limit.shelve !== SHELVE_NONE) {
    endShelve(core, limit, `unshelved by ${by}`, core.wallNow, by);
  }
}

export function endShelve(
  core: EngineCore,
  limit: LimitState,
  why: string,
  ts: number,
  by?: string,
): void {
  if (limit.shelve === SHELVE_TIMED) core.timedShelves--;
  limit.shelve = SHELVE_NONE;
  limit.shelvedUntil = 0;
  core.dirty = true;
  core.emit(limit, 'unshelved', limit.x, ts, `${limit.spec.key}: ${why}`, by ? { by } : {});
  announceIfActive(core, limit, ts);
}

/** Re-announces an active alarm that nothing hides any more, as a new occurrence. */
function announceIfActive(core: EngineCore, limit: LimitState, ts: number): void {
  if (!limit.active || limit.spec.hidden) return;
  if (limit.shelve !== SHELVE_NONE || limit.suppressed || limit.outOfService) return;
  let superseded: string | undefined;
  if (limit.open && limit.alarmId !== '') {
    superseded = limit.alarmId;
    if (limit.superseded === null) limit.superseded = [];
    limit.superseded.push(superseded);
  }
  const message = `${raiseMessage(limit, limit.x)}; re-announced: back in service`;
  // `reannounces` names the occurrence this one supersedes, so one gas event pages once.
  core.openOccurrence(limit, limit.x, core.monoNow, ts, message, false, superseded);
}

/** Suppression by an operator, or removal from service, switched on or off. */
export function override(
  core: EngineCore,
  alarm: string,
  by: string,
  what: 'suppressed' | 'out-of-service',
  on: boolean,
  reason: string,
): void {
  const limit = findLimit(core, alarm);
  if (!limit) return;
  const current = what === 'suppressed' ? limit.suppressed : limit.outOfService;
  if (current === on) return;
  if (what === 'suppressed') limit.suppressed = on;
  else limit.outOfService = on;
  limit.overrideBy = on ? by : '';
  core.dirty = true;
  const transition: AlarmTransition = on
    ? what
    : what === 'suppressed'
      ? 'unsuppressed'
      : 'in-service';
  const message = `${limit.spec.key} ${transition} by ${by}${reason ? `: ${reason}` : ''}`;
  core.emit(limit, transition, limit.x, core.wallNow, message, { by });
  if (!on) announceIfActive(core, limit, core.wallNow);
}

/** Suppressed by design: a rule's suppressWhen started or stopped holding. */
export function designSuppress(
  core: EngineCore,
  spec: CompiledLimit,
  on: boolean,
  ts: number,
): void {
  for (const key of spec.suppresses) {
    const target = core.byKey.get(key);
    if (!target || target.suppressed === on) continue;
    target.suppressed = on;
    target.overrideBy = on ? DESIGN : '';
    const message = `${key} ${on ? 'suppressed' : 'unsuppressed'} by design (${spec.ruleId} suppressWhen)`;
    core.emit(target, on ? 'suppressed' : 'unsuppressed', target.x, ts, message, { by: DESIGN });
    if (!on) announceIfActive(core, target, ts);
  }
}
