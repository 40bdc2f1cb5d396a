/**
 * A gas (or oxygen) detector that is offline, faulted, stuck, out of service or shelved: evidence
 * for item 12 of the determination standard (no gas detection where leaks can occur; trial text,
 * number to be checked against the current edition). Which states count is the rule's
 * `options.states`; `options.flatLineMs` is how long an unchanged non-zero value makes it stuck
 * (a detector in clean air reads exactly 0 for days: that is not stuck).
 *
 * Points behind an offline gateway are suppressed by design: the gateway outage is one finding
 * (gateway-outage.ts), not one per detector.
 */
import type { ConditionType, Finding } from './types.js';
import { none, pointSubject } from './types.js';

type DetectorState = 'offline' | 'fault' | 'stuck' | 'out-of-service' | 'shelved';
const ALL: readonly DetectorState[] = ['offline', 'fault', 'stuck', 'out-of-service', 'shelved'];
const DEFAULT_FLAT_LINE_MS = 24 * 60 * 60_000; // 24 h (ours)

export const detectorNotWorking: ConditionType = {
  name: 'detector-not-working',
  evaluate(ctx, rule) {
    const states = new Set(
      Array.isArray(rule.options.states) ? (rule.options.states as DetectorState[]) : ALL,
    );
    const flatLineMs =
      typeof rule.options.flatLineMs === 'number' ? rule.options.flatLineMs : DEFAULT_FLAT_LINE_MS;
    const result = none();
    for (const s of ctx.sensors) {
      if (s.kind !== 'gas' && s.kind !== 'oxygen') continue;
      const subject = pointSubject(s.gatewayId, s.sensorId);
      if (ctx.offlineGateways.has(s.gatewayId)) {
        result.suppressed.add(subject);
        continue;
      }
      const p = ctx.tracker.point(s.gatewayId, s.sensorId);
      // After an outage the detector's silence counts from the gateway's return: what it did
      // meanwhile is the outage's, not a device fault (the backlog may still be on its way).
      const backAt = ctx.gatewaysBackAt.get(s.gatewayId) ?? 0;
      let state: DetectorState | null = null;
      let since = 0;
      if (p?.lifecycle === 'out-of-service' || p?.lifecycle === 'shelved') {
        state = p.lifecycle;
        since = p.lifecycleSince ?? ctx.now;
      } else if (!p) {
        state = 'offline'; // in the catalogue, never read: since the server first ran the check
        since = ctx.now;
      } else if (ctx.now - p.lastReceivedAt > ctx.config.staleMs) {
        state = 'offline';
        since = Math.max(p.lastReceivedAt, backAt);
      } else if (p.lastQuality === 'bad') {
        state = 'fault';
        since = Math.max(p.badSince ?? p.lastReceivedAt, backAt);
      } else if (
        typeof p.lastValue === 'number' &&
        p.lastValue !== 0 &&
        ctx.now - p.valueSince >= flatLineMs
      ) {
        state = 'stuck';
        since = p.valueSince;
      }
      if (state === null || !states.has(state)) continue;
      const finding: Finding = {
        subject,
        enterpriseId: s.enterpriseId,
        installationId: s.installationId,
        since,
        evidence: {
          state,
          gatewayId: s.gatewayId,
          sensorId: s.sensorId,
          name: s.name,
          gas: s.gas,
          since: new Date(since).toISOString(),
          lastReading: p
            ? {
                value: p.lastValue,
                quality: p.lastQuality,
                reason: p.lastReason,
                receivedAt: new Date(p.lastReceivedAt).toISOString(),
              }
            : null,
        },
      };
      result.findings.push(finding);
    }
    return result;
  },
};
