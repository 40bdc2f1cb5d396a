/**
 * An alarm left unacknowledged beyond `options.acknowledgeWithinMs`, or acknowledged and not
 * disposed (closed) beyond `options.disposeWithinMs`: an alarm-management finding (ISA-18.2
 * "stale alarm"), kept apart from accident hazards by the pack's kind. Drills are left out.
 */
import type { ConditionType } from './types.js';
import { none } from './types.js';

const DAY = 24 * 60 * 60_000;

export const alarmNotHandled: ConditionType = {
  name: 'alarm-not-handled',
  evaluate(ctx, rule) {
    const ackMs =
      typeof rule.options.acknowledgeWithinMs === 'number' ? rule.options.acknowledgeWithinMs : DAY;
    const disposeMs =
      typeof rule.options.disposeWithinMs === 'number' ? rule.options.disposeWithinMs : 3 * DAY;
    const result = none();
    for (const d of ctx.unclosedAlarms) {
      if (d.drill) continue;
      const limit = d.status === 'open' ? ackMs : disposeMs;
      const since = d.openedAt + limit;
      if (ctx.now < since) continue;
      result.findings.push({
        subject: `${d.enterpriseId}/${d.gatewayId}/${d.alarmId}`,
        enterpriseId: d.enterpriseId,
        installationId: null,
        since,
        evidence: {
          alarm: { enterpriseId: d.enterpriseId, gatewayId: d.gatewayId, alarmId: d.alarmId },
          status: d.status,
          level: d.level,
          openedAt: new Date(d.openedAt).toISOString(),
          limitMs: limit,
          escalationLevel: d.escalationLevel,
        },
      });
    }
    return result;
  },
};
