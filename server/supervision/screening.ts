/**
 * The screening engine: one pass runs every rule of the loaded packs over the screening context
 * and turns what holds into records of the hazard ledger.
 *
 * Per rule and subject:
 * - the condition starts holding: its start is kept (supervision_conditions; a restart does not
 *   reset the timer);
 * - it has held for the rule's `forMs` and no record is open for (rule, subject): one record
 *   opens, with the evidence; while it is open no second one opens;
 * - it stops holding: the evidence side of the open record closes ('condition-cleared'); a
 *   person still verifies the closure (hazards.ts);
 * - it holds again before the record is closed: 'condition-returned' on the same record;
 * - the subject is suppressed (behind an offline gateway): nothing changes.
 */
import { createLogger } from '../../common/logger.js';
import { CONDITION_TYPES, type ScreeningContext } from './conditions/index.js';
import type { Hazard } from './hazard-chain.js';
import type { HazardLedger } from './hazards.js';
import type { Pack } from './packs.js';
import type { SupervisionStore } from './store.js';

const log = createLogger('server.supervision.screening');

export interface PassResult {
  /** Subjects for which a condition holds now, over all rules. */
  holding: number;
  opened: Hazard[];
  cleared: Hazard[];
  returned: Hazard[];
  /** Rules that threw (named), the others ran. */
  failedRules: string[];
}

export class ScreeningEngine {
  private conditions: Map<string, number> | null = null;

  constructor(
    private readonly packs: readonly Pack[],
    private readonly store: SupervisionStore,
    private readonly hazards: HazardLedger,
  ) {}

  /** Forgets the cached conditions: the next pass reads them from the store (after a start). */
  reset(): void {
    this.conditions = null;
  }

  /** One pass at `ctx.now`. */
  async pass(ctx: ScreeningContext): Promise<PassResult> {
    this.conditions ??= await this.store.conditions();
    const conditions = this.conditions;
    const open = new Map<string, Hazard>();
    for (const h of await this.store.unclosed()) {
      if (h.ruleId && h.subject) open.set(`${h.ruleId}\u0000${h.subject}`, h);
    }
    const result: PassResult = {
      holding: 0,
      opened: [],
      cleared: [],
      returned: [],
      failedRules: [],
    };
    const started: { ruleId: string; subject: string; since: number }[] = [];
    const stopped: { ruleId: string; subject: string }[] = [];
    for (const pack of this.packs) {
      for (const rule of pack.rules) {
        let evaluated: ReturnType<
          (typeof CONDITION_TYPES)[keyof typeof CONDITION_TYPES]['evaluate']
        >;
        try {
          evaluated = CONDITION_TYPES[rule.condition].evaluate(ctx, rule);
        } catch (err) {
          log.error({ err, rule: rule.id }, 'screening rule failed');
          result.failedRules.push(rule.id);
          continue;
        }
        const holdingNow = new Set<string>();
        for (const f of evaluated.findings) {
          const k = `${rule.id}\u0000${f.subject}`;
          holdingNow.add(k);
          result.holding++;
          let since = conditions.get(k);
          if (since === undefined) {
            since = Math.min(f.since, ctx.now);
            conditions.set(k, since);
            started.push({ ruleId: rule.id, subject: f.subject, since });
          }
          if (ctx.now - since < rule.forMs) continue;
          const evidence = {
            ...f.evidence,
            rule: rule.id,
            heldSince: new Date(since).toISOString(),
          };
          const record = open.get(k);
          if (!record) {
            const h = await this.hazards.open(
              {
                enterpriseId: f.enterpriseId,
                installationId: f.installationId,
                kind: rule.kind,
                severity: rule.severity,
                title: rule.title,
                item: rule.item,
                source: 'screening',
                evidence,
                ruleId: rule.id,
                subject: f.subject,
              },
              'system',
            );
            open.set(k, h);
            result.opened.push(h);
          } else if (!record.conditionActive) {
            const h = await this.hazards.evidence(record.hazardId, 'condition-returned', evidence);
            open.set(k, h);
            result.returned.push(h);
          }
        }
        const prefix = `${rule.id}\u0000`;
        for (const k of [...conditions.keys()]) {
          if (!k.startsWith(prefix) || holdingNow.has(k)) continue;
          const subject = k.slice(prefix.length);
          if (evaluated.suppressed.has(subject)) continue;
          conditions.delete(k);
          stopped.push({ ruleId: rule.id, subject });
          const record = open.get(k);
          if (record?.conditionActive) {
            const h = await this.hazards.evidence(record.hazardId, 'condition-cleared', {
              rule: rule.id,
              subject,
              clearedAt: new Date(ctx.now).toISOString(),
              reason: 'the condition no longer holds',
            });
            open.set(k, h);
            result.cleared.push(h);
          }
        }
      }
    }
    if (started.length > 0 || stopped.length > 0)
      await this.store.updateConditions(started, stopped);
    return result;
  }
}
