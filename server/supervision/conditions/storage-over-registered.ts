/**
 * Storage above the registered maximum (per chemical of the installation's registration, or per
 * vessel's `maxQuantityT`) or above the critical quantity (live S = Σ q/Q >= 1 where the
 * registration gives S < 1: an undeclared major hazard installation, GB 18218-2018 §4.2.2), from
 * the live inventory (inventory.ts). Item 20 of the determination standard as commonly cited
 * (not read; to be checked).
 */
import type { ConditionType, Finding } from './types.js';
import { none } from './types.js';

const round = (n: number) => Math.round(n * 1000) / 1000;

export const storageOverRegistered: ConditionType = {
  name: 'storage-over-registered',
  evaluate(ctx) {
    const result = none();
    for (const g of ctx.gradings) {
      if (!g.live) continue;
      const add = (subject: string, evidence: Record<string, unknown>) => {
        const finding: Finding = {
          subject,
          enterpriseId: g.enterpriseId,
          installationId: g.installationId,
          since: ctx.now,
          evidence: { installationId: g.installationId, ...evidence },
        };
        result.findings.push(finding);
      };
      const registered = g.registered?.items ?? [];
      for (const item of g.live.items) {
        if (!g.liveChemicals.includes(item.chemical)) continue;
        const reg = registered.find((r) => r.chemical === item.chemical);
        if (reg && item.quantityT > reg.quantityT) {
          add(`${g.installationId}/${item.chemical}`, {
            chemical: item.chemical,
            liveQuantityT: round(item.quantityT),
            registeredQuantityT: reg.quantityT,
          });
        }
      }
      for (const v of g.vessels) {
        if (v.quantityT !== null && v.maxQuantityT !== null && v.quantityT > v.maxQuantityT) {
          add(`${g.installationId}/vessel/${v.vesselId}`, {
            vesselId: v.vesselId,
            chemical: v.chemical,
            liveQuantityT: round(v.quantityT),
            maxQuantityT: v.maxQuantityT,
          });
        }
      }
      if (g.live.isMajorHazard && g.registered && !g.registered.isMajorHazard) {
        add(`${g.installationId}/critical`, {
          liveSumRatio: round(g.live.sumRatio),
          registeredSumRatio: round(g.registered.sumRatio),
          grade: g.live.grade,
          clause: 'GB 18218-2018 §4.2.2: S >= 1',
        });
      }
    }
    return result;
  },
};
