/**
 * The hazard ledger's closed loop over the store: who may take which step in which state, the
 * default deadlines, and listed supervision (挂牌督办) of overdue major hazards.
 *
 * Steps and states (docs/supervision.md):
 * - open (screening, inspection or self-report) → status open, deadline from the severity;
 * - assign (responsible person), plan (rectification plan with a deadline) → rectifying;
 * - rectify (with evidence of rectification) → rectified;
 * - verify: passed → closed; failed → rectifying. A screening record whose condition still
 *   holds cannot pass verification (the evidence says it is not fixed).
 * - listed: a major hazard past its deadline and not closed is listed with the county, then
 *   escalated to the city and the province on its own timer, one row per level, never twice.
 */
import type { Clock } from '../../common/clock.js';
import { systemClock } from '../../common/clock.js';
import type { SupervisionConfig } from './config.js';
import {
  type Hazard,
  type HazardAction,
  type HazardKind,
  type HazardSeverity,
  type HazardSource,
  HazardStateError,
  LISTING_LEVELS,
  type StandardItem,
} from './hazard-chain.js';
import type { SupervisionStore } from './store.js';

export interface OpenHazardInput {
  enterpriseId: string;
  installationId: string | null;
  kind: HazardKind;
  severity: HazardSeverity;
  title: string;
  item: StandardItem;
  source: HazardSource;
  evidence?: Record<string, unknown>;
  responsible?: string;
  ruleId?: string;
  subject?: string;
  deadline?: number;
}

/** The listing level (0 none … 3 province) a hazard should have reached at `now`. */
export function dueListingLevel(
  h: Pick<Hazard, 'severity' | 'status' | 'deadline'>,
  now: number,
  escalateAfterMs: readonly number[],
): number {
  if (h.severity !== 'major' || h.status === 'closed' || now <= h.deadline) return 0;
  let level = 0;
  for (const after of escalateAfterMs) if (now - h.deadline >= after) level++;
  return Math.min(level, LISTING_LEVELS.length - 1);
}

export class HazardLedger {
  private readonly clock: Clock;

  constructor(
    readonly store: SupervisionStore,
    private readonly config: SupervisionConfig,
    clock?: Clock,
  ) {
    this.clock = clock ?? systemClock;
  }

  open(input: OpenHazardInput, actor: string): Promise<Hazard> {
    const now = this.clock.now();
    const deadline =
      input.deadline ??
      now +
        (input.severity === 'major' ? this.config.majorDeadlineMs : this.config.generalDeadlineMs);
    // The id comes from the chain's next seq, taken under the chain lock (store.append).
    return this.store.append({
      hazardId: null,
      enterpriseId: input.enterpriseId,
      installationId: input.installationId,
      action: 'opened',
      actor,
      detail: {
        kind: input.kind,
        severity: input.severity,
        title: input.title,
        item: input.item,
        source: input.source,
        evidence: input.evidence,
        responsible: input.responsible,
        ruleId: input.ruleId,
        subject: input.subject,
        deadline,
      },
    });
  }

  get(hazardId: string): Promise<Hazard | undefined> {
    return this.store.hazard(hazardId);
  }

  /** Further evidence, or the evidence side closing / returning (screening). */
  evidence(
    hazardId: string,
    action: Extract<HazardAction, 'evidence' | 'condition-cleared' | 'condition-returned'>,
    evidence: Record<string, unknown>,
    actor = 'system',
  ): Promise<Hazard> {
    return this.step(hazardId, action, actor, { evidence }, (h) => {
      if (h.status === 'closed') throw new HazardStateError(hazardId, `given ${action}`, h.status);
    });
  }

  assign(hazardId: string, actor: string, responsible: string): Promise<Hazard> {
    return this.step(hazardId, 'assigned', actor, { responsible }, (h) => {
      if (h.status === 'closed') throw new HazardStateError(hazardId, 'assigned', h.status);
    });
  }

  plan(hazardId: string, actor: string, plan: string, deadline: number): Promise<Hazard> {
    return this.step(hazardId, 'planned', actor, { plan, deadline }, (h) => {
      if (h.status === 'closed' || h.status === 'rectified') {
        throw new HazardStateError(hazardId, 'planned', h.status);
      }
      if (deadline <= this.clock.now()) {
        throw new HazardStateError(hazardId, 'planned with a deadline in the past', h.status);
      }
    });
  }

  rectify(hazardId: string, actor: string, evidence: string): Promise<Hazard> {
    return this.step(hazardId, 'rectified', actor, { evidence }, (h) => {
      if (h.status === 'closed' || h.status === 'rectified') {
        throw new HazardStateError(hazardId, 'rectified', h.status);
      }
    });
  }

  verify(
    hazardId: string,
    actor: string,
    outcome: 'passed' | 'failed',
    note: string,
  ): Promise<Hazard> {
    return this.step(hazardId, 'verified', actor, { outcome, note }, (h) => {
      if (h.status !== 'rectified') throw new HazardStateError(hazardId, 'verified', h.status);
      if (outcome === 'passed' && h.conditionActive) {
        throw new HazardStateError(hazardId, 'closed', 'its screening condition still holds');
      }
    });
  }

  /** Lists every overdue major hazard up to its due level; returns the rows' records. */
  async listOverdue(): Promise<{ hazard: Hazard; level: number; to: string }[]> {
    const now = this.clock.now();
    const out: { hazard: Hazard; level: number; to: string }[] = [];
    for (const h of await this.store.unclosed()) {
      const due = dueListingLevel(h, now, this.config.listingEscalateAfterMs);
      for (let level = h.listingLevel + 1; level <= due; level++) {
        const to = LISTING_LEVELS[level] ?? 'province';
        const hazard = await this.step(h.hazardId, 'listed', 'system', {
          level,
          to,
          deadline: new Date(h.deadline).toISOString(),
          reason: 'major hazard not rectified by its deadline',
        });
        out.push({ hazard, level, to });
      }
    }
    return out;
  }

  private async step(
    hazardId: string,
    action: HazardAction,
    actor: string,
    detail: Record<string, unknown>,
    check?: (h: Hazard) => void,
  ): Promise<Hazard> {
    const known = await this.store.hazard(hazardId);
    if (!known) throw new Error(`hazard '${hazardId}' is not in the hazard ledger`);
    return this.store.append(
      {
        hazardId,
        enterpriseId: known.enterpriseId,
        installationId: known.installationId,
        action,
        actor,
        detail,
      },
      (current) => {
        if (!current) throw new Error(`hazard '${hazardId}' is not in the hazard ledger`);
        check?.(current);
      },
    );
  }
}
