/**
 * The hazard ledger's (隐患台账) pure parts: what a hazard record is, the steps of its closed loop,
 * and the projection that turns the chain of steps into the current record.
 *
 * Every step is a row of a keyed chain made exactly as the disposal ledger's (docs/ledger.md):
 * hash = HMAC-SHA256(key, prev_hash ‖ canonical JSON of the row), the same key, the same anchors
 * and the same verification (`keyedLink` of server/alarms/disposal-chain.ts, `verifyLedger` and
 * `LedgerIntegrity` of server/alarms/ledger-integrity.ts). The `hazards` table is a projection
 * written in the same transaction; verify replays the chain through {@link applyHazardEvent}.
 *
 * The loop (docs/supervision.md):
 *   opened → (evidence | condition-cleared | condition-returned | assigned | planned)*
 *          → rectified → verified (passed: closed; failed: back to rectifying)
 *   listed: an overdue major hazard, once per regulator level (county, city, province).
 */
import { keyedLink } from '../alarms/disposal-chain.js';

export type HazardKind = 'accident' | 'alarm-management' | 'data-quality';
export type HazardSeverity = 'general' | 'major';
/** How it was found: automatic screening, a regulator's inspection, the enterprise's own report. */
export type HazardSource = 'screening' | 'inspection' | 'self-report';
export type HazardStatus = 'open' | 'rectifying' | 'rectified' | 'closed';

export type HazardAction =
  | 'opened'
  | 'evidence'
  | 'condition-cleared'
  | 'condition-returned'
  | 'assigned'
  | 'planned'
  | 'rectified'
  | 'verified'
  | 'listed';

export const HAZARD_ACTIONS: readonly HazardAction[] = [
  'opened',
  'evidence',
  'condition-cleared',
  'condition-returned',
  'assigned',
  'planned',
  'rectified',
  'verified',
  'listed',
];

/** Listed supervision levels: 0 not listed, then county, city, province. */
export const LISTING_LEVELS = ['none', 'county', 'city', 'province'] as const;

/** The item of a standard the hazard falls under, as the pack gives it. */
export interface StandardItem {
  standard: string;
  /** Item or clause number (null where the standard has none for this finding). */
  number: string | null;
  text: string;
  /** False where the number or wording could not be checked against the current edition. */
  checked: boolean;
}

export interface HazardKey {
  hazardId: string;
}

export interface HazardEvent extends HazardKey {
  seq: number;
  enterpriseId: string;
  installationId: string | null;
  action: HazardAction;
  /** Username, or 'system' for screening and listing. */
  actor: string;
  detail: Record<string, unknown>;
  at: number;
  prevHash: string;
  hash: string;
}

export type HazardRow = Omit<HazardEvent, 'prevHash' | 'hash'>;

export interface Hazard extends HazardKey {
  enterpriseId: string;
  installationId: string | null;
  kind: HazardKind;
  severity: HazardSeverity;
  title: string;
  item: StandardItem;
  source: HazardSource;
  foundBy: string;
  /** Pack rule and subject (point, installation, gateway) of a screening record. */
  ruleId: string | null;
  subject: string | null;
  evidenceCount: number;
  /** Screening records: whether the condition still holds (the evidence side). */
  conditionActive: boolean;
  conditionClearedAt: number | null;
  responsible: string | null;
  plan: string | null;
  deadline: number;
  rectifiedAt: number | null;
  rectifiedBy: string | null;
  rectificationEvidence: string | null;
  verifiedAt: number | null;
  verifiedBy: string | null;
  verification: string | null;
  status: HazardStatus;
  closedAt: number | null;
  /** 0 none, 1 county, 2 city, 3 province (LISTING_LEVELS). */
  listingLevel: number;
  listedAt: number | null;
  openedAt: number;
}

/** The keyed hash of one hazard row (the same link as the disposal chain). */
export function hazardHash(key: Buffer, prevHash: string, row: HazardRow): string {
  return keyedLink(key, prevHash, {
    seq: row.seq,
    enterpriseId: row.enterpriseId,
    installationId: row.installationId,
    hazardId: row.hazardId,
    action: row.action,
    actor: row.actor,
    detail: row.detail,
    at: row.at,
  });
}

/** A row the projection cannot apply (a step before 'opened', an unknown action). */
export class HazardProjectionError extends Error {
  constructor(
    readonly seq: number,
    message: string,
  ) {
    super(`hazard ledger row ${seq}: ${message}`);
    this.name = 'HazardProjectionError';
  }
}

/** A step refused because of the record's state (HTTP 409). */
export class HazardStateError extends Error {
  constructor(hazardId: string, action: string, status: string) {
    super(`hazard '${hazardId}' cannot be ${action} while ${status}`);
    this.name = 'HazardStateError';
  }
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const num = (v: unknown, fallback: number): number => (typeof v === 'number' ? v : fallback);

/** The record after one more row: the single definition of what each step means. */
export function applyHazardEvent(current: Hazard | undefined, event: HazardRow): Hazard {
  const d = event.detail;
  if (event.action === 'opened') {
    if (current) throw new HazardProjectionError(event.seq, `'${event.hazardId}' opened twice`);
    const item = d.item as StandardItem;
    return {
      hazardId: event.hazardId,
      enterpriseId: event.enterpriseId,
      installationId: event.installationId,
      kind: d.kind as HazardKind,
      severity: d.severity as HazardSeverity,
      title: String(d.title),
      item,
      source: d.source as HazardSource,
      foundBy: event.actor,
      ruleId: str(d.ruleId),
      subject: str(d.subject),
      evidenceCount: d.evidence === undefined ? 0 : 1,
      conditionActive: d.source === 'screening',
      conditionClearedAt: null,
      responsible: str(d.responsible),
      plan: null,
      deadline: num(d.deadline, event.at),
      rectifiedAt: null,
      rectifiedBy: null,
      rectificationEvidence: null,
      verifiedAt: null,
      verifiedBy: null,
      verification: null,
      status: 'open',
      closedAt: null,
      listingLevel: 0,
      listedAt: null,
      openedAt: event.at,
    };
  }
  if (!current)
    throw new HazardProjectionError(
      event.seq,
      `'${event.action}' before '${event.hazardId}' opened`,
    );
  switch (event.action) {
    case 'evidence':
      return { ...current, evidenceCount: current.evidenceCount + 1 };
    case 'condition-cleared':
      return {
        ...current,
        conditionActive: false,
        conditionClearedAt: event.at,
        evidenceCount: current.evidenceCount + 1,
      };
    case 'condition-returned':
      return {
        ...current,
        conditionActive: true,
        conditionClearedAt: null,
        evidenceCount: current.evidenceCount + 1,
      };
    case 'assigned':
      return { ...current, responsible: String(d.responsible) };
    case 'planned':
      return {
        ...current,
        plan: String(d.plan),
        deadline: num(d.deadline, current.deadline),
        status: current.status === 'open' ? 'rectifying' : current.status,
      };
    case 'rectified':
      return {
        ...current,
        status: 'rectified',
        rectifiedAt: event.at,
        rectifiedBy: event.actor,
        rectificationEvidence: String(d.evidence),
      };
    case 'verified': {
      const passed = d.outcome === 'passed';
      return {
        ...current,
        verifiedAt: event.at,
        verifiedBy: event.actor,
        verification: String(d.note),
        status: passed ? 'closed' : 'rectifying',
        closedAt: passed ? event.at : null,
      };
    }
    case 'listed':
      return {
        ...current,
        listingLevel: Math.max(current.listingLevel, num(d.level, 0)),
        listedAt: current.listedAt ?? event.at,
      };
    default:
      throw new HazardProjectionError(event.seq, `unknown action '${String(event.action)}'`);
  }
}

/** Whether a hazard is overdue at `now`: not closed and past its deadline. */
export function isOverdue(h: Pick<Hazard, 'status' | 'deadline'>, now: number): boolean {
  return h.status !== 'closed' && now > h.deadline;
}
