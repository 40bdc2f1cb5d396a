/**
 * Operator and design overrides of the ISA-18.2 lifecycle: acknowledge (and reset
 * of a latched alarm), shelve (timed or one-shot, ISA-18.2 §11.5), suppress by
 * design, remove from and return to service. Each returns through the core's
 * transition buffer; none does I/O.
 */
import type { AlarmTransition } from '../../protocol/index.js';
import type { EngineCore } from './core.js';
import { label } from './messages.js';
import { DESIGN, type LimitState, SHELVE_NONE, SHELVE_ONE_SHOT, SHELVE_TIMED } from './state.js';
import { ALARM_MANAGEMENT, type CompiledLimit, type ShelveOptions } from './types.js';

/**
 * Operator acknowledgement: an active alarm becomes acknowledged; a
 * returned-unacknowledged one becomes normal; a latched one is reset ('cleared').
 * Acknowledging an old occurrence, or one already acknowledged, changes nothing.
 */
export function acknowledge(core: EngineCore, alarm: string, by: string): void {
  const limit = core.find(alarm, true);
  if (!limit) return;
  const now = core.clock.now();
  const spec = limit.spec;
  if (limit.latchedWaiting) {
    limit.acked = true;
    limit.ackedBy = by;
    limit.latchedWaiting = false;
    const message = `${label(spec)}: latched ${spec.limitName} (level ${spec.level}) reset by ${by}`;
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
  const limit = core.find(alarm);
  if (!limit) return;
  const now = core.clock.now();
  if (limit.shelve === SHELVE_TIMED) core.timedShelves--;
  if ('oneShot' in options) {
    limit.shelve = SHELVE_ONE_SHOT;
    limit.shelvedUntil = 0;
  } else {
    const duration = Math.min(Math.max(0, options.durationMs), ALARM_MANAGEMENT.maxShelveMs);
    limit.shelve = SHELVE_TIMED;
    limit.shelvedUntil = now + duration;
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
  const limit = core.find(alarm);
  if (limit && limit.shelve !== SHELVE_NONE) {
    endShelve(core, limit, `unshelved by ${by}`, core.clock.now(), by);
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
  const limit = core.find(alarm);
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
  core.emit(limit, transition, limit.x, core.clock.now(), message, { by });
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
  }
}
