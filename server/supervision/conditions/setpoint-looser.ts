/**
 * Alarm setpoints looser than GB/T 50493-2019 §5.5.3 without a justification
 * (`platform.supervision.setpointJustifications`). The server knows a detector's setpoints from
 * its gateway's birth message (SensorInfo.alarmLimits, registry.ts birthSetpoints) and from its
 * alarm events; a detector of an older gateway that has never alarmed cannot be checked here,
 * and data quality reports it as "setpoint not known".
 *
 * Limits come from the rule's options (the pack cites them): combustible in %LEL, oxygen in %VOL,
 * toxic gases in ppm against 100 %OEL (level 1) and 200 %OEL (level 2).
 */
import type { SensorRecord } from '../../platform/registry.js';
import type { ConditionType } from './types.js';
import { none, pointSubject } from './types.js';

interface Limits {
  combustible?: { unit?: string; level1Max?: number; level2Max?: number };
  oxygen?: { deficiencyMin?: number; enrichmentMax?: number };
  toxicOelPpm?: Record<string, number>;
}

/** Why the sensor's known setpoints are looser than the standard, or [] when they are not. */
export function setpointProblems(s: SensorRecord, limits: Limits): string[] {
  const out: string[] = [];
  const unit = s.unit.replace(/\s+/g, '').toUpperCase();
  const l1 = s.setpointLevel1;
  const l2 = s.setpointLevel2;
  if (s.kind === 'oxygen') {
    // An oxygen alarm below 19.5 %VOL (deficiency) or above 23.5 %VOL (enrichment) is looser.
    const min = limits.oxygen?.deficiencyMin;
    const max = limits.oxygen?.enrichmentMax;
    for (const sp of [l1, l2]) {
      if (sp === null) continue;
      if (min !== undefined && sp < 20.9 && sp < min) {
        out.push(`deficiency setpoint ${sp} %VOL < ${min} %VOL`);
      }
      if (max !== undefined && sp > 20.9 && sp > max) {
        out.push(`enrichment setpoint ${sp} %VOL > ${max} %VOL`);
      }
    }
    return out;
  }
  if (s.kind !== 'gas') return out;
  const c = limits.combustible;
  if (c && unit === (c.unit ?? '%LEL').toUpperCase()) {
    if (l1 !== null && c.level1Max !== undefined && l1 > c.level1Max) {
      out.push(`level 1 ${l1} %LEL > ${c.level1Max} %LEL`);
    }
    if (l2 !== null && c.level2Max !== undefined && l2 > c.level2Max) {
      out.push(`level 2 ${l2} %LEL > ${c.level2Max} %LEL`);
    }
    return out;
  }
  const oel = s.gas ? limits.toxicOelPpm?.[s.gas] : undefined;
  if (oel !== undefined && unit === 'PPM') {
    if (l1 !== null && l1 > oel) out.push(`level 1 ${l1} ppm > 100 %OEL (${oel} ppm)`);
    if (l2 !== null && l2 > 2 * oel) out.push(`level 2 ${l2} ppm > 200 %OEL (${2 * oel} ppm)`);
  }
  return out;
}

export const setpointLooserThanStandard: ConditionType = {
  name: 'setpoint-looser-than-standard',
  evaluate(ctx, rule) {
    const result = none();
    const justified = new Set(
      ctx.config.setpointJustifications.map((j) => pointSubject(j.gatewayId, j.sensorId)),
    );
    for (const s of ctx.sensors) {
      const subject = pointSubject(s.gatewayId, s.sensorId);
      if (justified.has(subject)) continue;
      const problems = setpointProblems(s, rule.options as Limits);
      if (problems.length === 0) continue;
      result.findings.push({
        subject,
        enterpriseId: s.enterpriseId,
        installationId: s.installationId,
        since: ctx.now,
        evidence: {
          gatewayId: s.gatewayId,
          sensorId: s.sensorId,
          gas: s.gas,
          unit: s.unit,
          setpointLevel1: s.setpointLevel1,
          setpointLevel2: s.setpointLevel2,
          problems,
          basis: 'setpoints seen in alarm events',
        },
      });
    }
    return result;
  },
};
