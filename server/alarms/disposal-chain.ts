/**
 * The disposal ledger's pure parts: the event and disposition shapes, the keyed hash of one chain
 * row, and the projection that turns the chain into the current disposition of every alarm.
 *
 * Keyed chain (issue 13): hash = HMAC-SHA256(key, prev_hash ‖ canonical JSON of the row), with the
 * key kept outside the database (ledger-key.ts). Someone who can write the SQLite file but not
 * read the key cannot rewrite a row and recompute the later hashes: verify finds the first row
 * whose MAC does not match. The dispositions table is a projection: {@link projectDispositions}
 * rebuilds it from the chain, so a forged row there (e.g. 'closed' by nobody) is found by
 * comparing the two. See docs/ledger.md.
 */
import { createHash, createHmac } from 'node:crypto';
import { type AlarmKey, alarmKeyString } from './identity.js';

export const GENESIS_HASH = '0'.repeat(64);

export type DisposalAction =
  | 'raised'
  | 'cleared'
  | 'acknowledged'
  | 'assigned'
  | 'measure'
  | 'escalated'
  | 'closed';

export type DisposalStatus = 'open' | 'acknowledged' | 'closed';

/** Escalation levels: 0 the enterprise itself, then county, city, province. */
export const ESCALATION_LEVELS = ['enterprise', 'county', 'city', 'province'] as const;
export type EscalationLevelName = (typeof ESCALATION_LEVELS)[number];

export interface DisposalEvent extends AlarmKey {
  seq: number;
  action: DisposalAction;
  /** Username, or 'system' for gateway transitions and escalations. */
  actor: string;
  detail: Record<string, unknown>;
  at: number;
  prevHash: string;
  hash: string;
}

export interface Disposition extends AlarmKey {
  level: 1 | 2;
  drill: boolean;
  status: DisposalStatus;
  /**
   * When the server first heard of the alarm (server clock, epoch ms). Deadlines count from here,
   * not from the edge time: nobody can acknowledge an alarm before the platform has it, and a
   * gateway with a wrong clock or a long outbox backlog must not escalate it on arrival.
   */
  openedAt: number;
  acknowledgedAt: number | null;
  acknowledgedBy: string | null;
  assignee: string | null;
  measures: number;
  closedAt: number | null;
  closedBy: string | null;
  /** 0 enterprise, 1 county, 2 city, 3 province. */
  escalationLevel: number;
}

/** JSON with keys sorted at every depth: the same event always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * The keyed link every chain of the server uses (the disposal ledger here, the hazard ledger in
 * server/supervision): HMAC-SHA256(key, prev_hash ‖ canonical JSON of the row without hashes).
 */
export function keyedLink(key: Buffer, prevHash: string, row: Record<string, unknown>): string {
  return createHmac('sha256', key).update(prevHash).update(canonicalJson(row)).digest('hex');
}

/** hash of one row: HMAC-SHA256(key, prev_hash ‖ canonical JSON of everything but the hashes). */
export function chainHash(
  key: Buffer,
  prevHash: string,
  event: Omit<DisposalEvent, 'prevHash' | 'hash'>,
): string {
  return keyedLink(key, prevHash, {
    seq: event.seq,
    enterpriseId: event.enterpriseId,
    gatewayId: event.gatewayId,
    alarmId: event.alarmId,
    action: event.action,
    actor: event.actor,
    detail: event.detail,
    at: event.at,
  });
}

/** The version-1 (unkeyed, no gateway) row hash; only the migration checks old chains with it. */
export function legacyChainHash(
  prevHash: string,
  event: {
    seq: number;
    alarmId: string;
    enterpriseId: string;
    action: string;
    actor: string;
    detail: unknown;
    at: number;
  },
): string {
  const canonical = canonicalJson({
    seq: event.seq,
    alarmId: event.alarmId,
    enterpriseId: event.enterpriseId,
    action: event.action,
    actor: event.actor,
    detail: event.detail,
    at: event.at,
  });
  return createHash('sha256').update(prevHash).update(canonical).digest('hex');
}

/** A row the projection cannot apply (e.g. a step before the alarm's 'raised' row). */
export class ProjectionError extends Error {
  constructor(
    readonly seq: number,
    message: string,
  ) {
    super(`disposal ledger row ${seq}: ${message}`);
    this.name = 'ProjectionError';
  }
}

/**
 * The disposition after one more row. The single definition of what each action means: the
 * ledger writes the table with it and verify replays the chain with it.
 */
export function applyDisposalEvent(
  current: Disposition | undefined,
  event: Omit<DisposalEvent, 'prevHash' | 'hash'>,
): Disposition {
  const { detail } = event;
  if (event.action === 'raised') {
    if (current) return current; // a second 'raised' row changes nothing (never written twice)
    return {
      enterpriseId: event.enterpriseId,
      gatewayId: event.gatewayId,
      alarmId: event.alarmId,
      level: detail.level === 2 ? 2 : 1,
      drill: detail.drill === true,
      status: 'open',
      openedAt: typeof detail.openedAt === 'number' ? detail.openedAt : event.at,
      acknowledgedAt: null,
      acknowledgedBy: null,
      assignee: null,
      measures: 0,
      closedAt: null,
      closedBy: null,
      escalationLevel: 0,
    };
  }
  if (!current)
    throw new ProjectionError(event.seq, `'${event.action}' before the alarm's 'raised' row`);
  switch (event.action) {
    case 'cleared':
      return current;
    case 'acknowledged':
      return {
        ...current,
        status: 'acknowledged',
        acknowledgedAt: event.at,
        acknowledgedBy: event.actor,
      };
    case 'assigned':
      return { ...current, assignee: String(detail.assignee) };
    case 'measure':
      return { ...current, measures: current.measures + 1 };
    case 'escalated':
      return {
        ...current,
        escalationLevel: Math.max(current.escalationLevel, Number(detail.level)),
      };
    case 'closed':
      return { ...current, status: 'closed', closedAt: event.at, closedBy: event.actor };
    default:
      throw new ProjectionError(event.seq, `unknown action '${String(event.action)}'`);
  }
}

/** Every disposition as the chain says it is, keyed by {@link alarmKeyString}. */
export function projectDispositions(
  events: Iterable<Omit<DisposalEvent, 'prevHash' | 'hash'>>,
): Map<string, Disposition> {
  const out = new Map<string, Disposition>();
  for (const event of events) {
    const k = alarmKeyString(event);
    out.set(k, applyDisposalEvent(out.get(k), event));
  }
  return out;
}

const COMPARED: readonly (keyof Disposition)[] = [
  'level',
  'drill',
  'status',
  'openedAt',
  'acknowledgedAt',
  'acknowledgedBy',
  'assignee',
  'measures',
  'closedAt',
  'closedBy',
  'escalationLevel',
];

/** Fields where the stored row differs from the chain's, as `status: chain 'open', table 'closed'`. */
export function dispositionDifferences(chain: Disposition, table: Disposition): string[] {
  const out: string[] = [];
  for (const field of COMPARED) {
    if (chain[field] !== table[field]) {
      out.push(
        `${field}: chain ${JSON.stringify(chain[field])}, table ${JSON.stringify(table[field])}`,
      );
    }
  }
  return out;
}
