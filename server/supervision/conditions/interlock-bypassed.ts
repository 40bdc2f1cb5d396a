/**
 * A safety interlock or emergency shutdown bypassed, forced or in manual, where a point is
 * configured to report that state (`platform.supervision.bypassPoints`: the point and the values
 * that mean "bypassed"): evidence for item 4 of the determination standard (trial text; number
 * to be checked). Behind an offline gateway the state is unknown: suppressed, timer kept.
 */
import type { ConditionType } from './types.js';
import { none, pointSubject } from './types.js';

export const interlockBypassed: ConditionType = {
  name: 'interlock-bypassed',
  evaluate(ctx) {
    const result = none();
    for (const b of ctx.config.bypassPoints) {
      const subject = pointSubject(b.gatewayId, b.sensorId);
      if (ctx.offlineGateways.has(b.gatewayId)) {
        result.suppressed.add(subject);
        continue;
      }
      const p = ctx.tracker.point(b.gatewayId, b.sensorId);
      if (!p || p.lastQuality === 'bad' || p.lastValue === null) continue;
      const value = p.lastValue;
      if (!b.bypassedValues.some((v) => v === value || String(v) === String(value))) continue;
      result.findings.push({
        subject,
        enterpriseId: b.enterpriseId,
        installationId: b.installationId ?? null,
        since: p.valueSince,
        evidence: {
          what: b.what,
          gatewayId: b.gatewayId,
          sensorId: b.sensorId,
          value,
          since: new Date(p.valueSince).toISOString(),
        },
      });
    }
    return result;
  },
};
