/**
 * An installation whose registered inventory holds a flammable or toxic chemical (the rule's
 * `options.chemicals`) and that has no gas detector registered (no sensor of kind 'gas' whose
 * catalogue entry names the installation): evidence for item 12 of the determination standard
 * (trial text; number to be checked against the current edition).
 */
import type { ConditionType } from './types.js';
import { none } from './types.js';

export const noGasDetector: ConditionType = {
  name: 'no-gas-detector',
  evaluate(ctx, rule) {
    const result = none();
    const listed = new Set(
      Array.isArray(rule.options.chemicals) ? (rule.options.chemicals as string[]) : [],
    );
    const covered = new Set(
      ctx.sensors.filter((s) => s.kind === 'gas' && s.installationId).map((s) => s.installationId),
    );
    for (const inst of ctx.installations) {
      const hazardous = inst.inventory.filter((i) => listed.has(i.chemical) && i.quantityT > 0);
      if (hazardous.length === 0 || covered.has(inst.id)) continue;
      result.findings.push({
        subject: inst.id,
        enterpriseId: inst.enterpriseId,
        installationId: inst.id,
        since: ctx.now,
        evidence: {
          installationId: inst.id,
          name: inst.name,
          chemicals: hazardous.map((i) => i.chemical),
          gasDetectorsRegistered: 0,
        },
      });
    }
    return result;
  },
};
