/**
 * A gateway offline: one finding per gateway outage, however many points are behind it (their
 * device conditions are suppressed by design meanwhile: thingsboard-gateway #1014 is the flood
 * peers' users complain about). A data-quality finding ("unstable transmission").
 */
import type { ConditionType } from './types.js';
import { none } from './types.js';

export const gatewayOutage: ConditionType = {
  name: 'gateway-outage',
  evaluate(ctx) {
    const result = none();
    for (const g of ctx.gateways) {
      const since = ctx.offlineGateways.get(g.gatewayId);
      if (since === undefined) continue;
      result.findings.push({
        subject: g.gatewayId,
        enterpriseId: g.enterpriseId,
        installationId: null,
        since,
        evidence: {
          gatewayId: g.gatewayId,
          offlineSince: new Date(since).toISOString(),
          reason: g.staleReason,
          pointsSuppressed: g.sensors.length,
        },
      });
    }
    return result;
  },
};
