/**
 * Delivery claims: exactly one node pages an emergency centre for one alarm identity, however
 * many nodes received the alarm (a gateway resends whatever was not acknowledged, to whichever
 * node it reaches next). The claim key is the notification id, which is already one per
 * (alarm identity, centre): `notificationIdFor(key, centreId)` in
 * server/linkage/emergency-notifier.ts.
 *
 * Guarantees (both engines; tests/db runs concurrent claimers against each):
 * - `claim(id)` resolves true for exactly one caller among any number racing for a fresh id:
 *   `INSERT ... ON CONFLICT DO NOTHING` lets one row in, and only its inserter sees it returned;
 * - the owner keeps the claim until it completes it, releases it, or lets the lease run out
 *   (its node died mid-delivery); only then can another node take it over, and again exactly
 *   one does (a single conditional UPDATE; on PostgreSQL a racing UPDATE re-reads the row after
 *   the winner commits and no longer matches);
 * - `reclaimExpired()` hands the claims of dead nodes to live ones without two nodes taking the
 *   same claim: on PostgreSQL with `SELECT ... FOR UPDATE SKIP LOCKED`, so concurrent reclaimers
 *   take disjoint sets without waiting on each other; on SQLite the statement runs alone;
 * - a completed claim is never taken again: the centre was paged.
 * Lease times are wall-clock epoch ms from the injected clock, so the nodes' clocks must agree
 * (NTP) to well within `leaseMs`; the default lease (60 s) is far above any sane skew.
 * A claim says who pages; whether the page arrived is the delivery row's business
 * (linkage_deliveries: attempts, delivered_at).
 *
 * Lifecycle: `start()` checks the database is started; `stop()` releases the claims this node
 * holds and has not completed, so another node takes them over at once instead of after the
 * lease; safe twice. Calls after `stop()` throw.
 */
import type { Clock } from '../../common/clock.js';
import { systemClock } from '../../common/clock.js';
import { createLogger } from '../../common/logger.js';
import type { Database } from './database.js';

const log = createLogger('server.claims');

export const DELIVERY_CLAIM_DEFAULTS = {
  leaseMs: 60_000, // 60 s: longer than one delivery attempt with its HTTP timeout
  reclaimBatch: 100, // claims taken over per reclaimExpired() call
} as const;

export interface DeliveryClaimsOptions {
  /** This node; stored as the claim's owner. */
  nodeId: string;
  leaseMs?: number;
  clock?: Clock;
}

export class DeliveryClaims {
  private readonly clock: Clock;
  private readonly leaseMs: number;
  private running = false;
  private stopped = false;
  /** Claims held and not completed, released on stop(). */
  private readonly held = new Set<string>();

  constructor(
    private readonly database: Database,
    private readonly options: DeliveryClaimsOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    this.leaseMs = options.leaseMs ?? DELIVERY_CLAIM_DEFAULTS.leaseMs;
  }

  get nodeId(): string {
    return this.options.nodeId;
  }

  async start(): Promise<void> {
    if (!this.database.started) {
      throw new Error(`delivery claims of '${this.nodeId}': the database is not started`);
    }
    this.running = true;
    this.stopped = false;
  }

  /**
   * Takes the claim on `notificationId`: true when this node now owns it (a fresh claim, its own
   * live claim renewed, or a claim whose owner let the lease run out), false when another node
   * owns it or it was completed.
   */
  async claim(notificationId: string): Promise<boolean> {
    const db = this.db();
    const now = this.clock.now();
    const leaseUntil = now + this.leaseMs;
    const inserted = await db
      .insertInto('delivery_claims')
      .values({
        notification_id: notificationId,
        owner: this.nodeId,
        claimed_at: now,
        lease_until: leaseUntil,
        completed_at: null,
      })
      .onConflict((oc) => oc.column('notification_id').doNothing())
      .returning('notification_id')
      .executeTakeFirst();
    let won = inserted !== undefined;
    if (!won) {
      const result = await db
        .updateTable('delivery_claims')
        .set({ owner: this.nodeId, claimed_at: now, lease_until: leaseUntil })
        .where('notification_id', '=', notificationId)
        .where('completed_at', 'is', null)
        .where((eb) => eb.or([eb('owner', '=', this.nodeId), eb('lease_until', '<=', now)]))
        .executeTakeFirst();
      won = Number(result.numUpdatedRows) === 1;
    }
    if (won) this.held.add(notificationId);
    return won;
  }

  /** Extends this node's lease on a long delivery; false when the claim is no longer its own. */
  async renew(notificationId: string): Promise<boolean> {
    const now = this.clock.now();
    const result = await this.db()
      .updateTable('delivery_claims')
      .set({ lease_until: now + this.leaseMs })
      .where('notification_id', '=', notificationId)
      .where('owner', '=', this.nodeId)
      .where('completed_at', 'is', null)
      .executeTakeFirst();
    const ok = Number(result.numUpdatedRows) === 1;
    if (!ok) this.held.delete(notificationId);
    return ok;
  }

  /**
   * Marks the claim done (the centre was paged). False when this node no longer owned it: its
   * lease ran out and another node took over, so both may have paged; logged, since the
   * receiver's idempotency (the notification id in every body) is then what holds the line.
   */
  async complete(notificationId: string): Promise<boolean> {
    const result = await this.db()
      .updateTable('delivery_claims')
      .set({ completed_at: this.clock.now() })
      .where('notification_id', '=', notificationId)
      .where('owner', '=', this.nodeId)
      .where('completed_at', 'is', null)
      .executeTakeFirst();
    this.held.delete(notificationId);
    const ok = Number(result.numUpdatedRows) === 1;
    if (!ok) {
      log.warn(
        { notificationId, node: this.nodeId },
        'completed a delivery whose claim this node had lost (lease ran out); the centre may see it twice and must deduplicate by notification id',
      );
    }
    return ok;
  }

  /** Gives the claim up so another node may take it at once (e.g. before shutting down). */
  async release(notificationId: string): Promise<void> {
    await this.db()
      .updateTable('delivery_claims')
      .set({ lease_until: this.clock.now() })
      .where('notification_id', '=', notificationId)
      .where('owner', '=', this.nodeId)
      .where('completed_at', 'is', null)
      .execute();
    this.held.delete(notificationId);
  }

  /**
   * Takes over up to `limit` claims whose owners let the lease run out without completing them
   * (dead nodes); returns their ids, each now owned by this node. Concurrent callers on other
   * nodes get disjoint sets.
   */
  async reclaimExpired(limit: number = DELIVERY_CLAIM_DEFAULTS.reclaimBatch): Promise<string[]> {
    const db = this.db();
    const now = this.clock.now();
    const postgres = this.database.kind === 'postgres';
    const rows = await db
      .updateTable('delivery_claims')
      .set({ owner: this.nodeId, claimed_at: now, lease_until: now + this.leaseMs })
      .where('notification_id', 'in', (eb) => {
        const expired = eb
          .selectFrom('delivery_claims')
          .select('notification_id')
          .where('completed_at', 'is', null)
          .where('lease_until', '<=', now)
          .orderBy('lease_until')
          .limit(limit);
        // SQLite has no row locks (one writer at a time), and no FOR UPDATE to say so.
        return postgres ? expired.forUpdate().skipLocked() : expired;
      })
      .where('completed_at', 'is', null)
      .where('lease_until', '<=', now)
      .returning('notification_id')
      .execute();
    const ids = rows.map((r) => r.notification_id);
    for (const id of ids) this.held.add(id);
    if (ids.length > 0) log.info({ node: this.nodeId, count: ids.length }, 'reclaimed deliveries');
    return ids;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const held = [...this.held];
    this.held.clear();
    if (held.length > 0 && this.database.started) {
      await this.database.db
        .updateTable('delivery_claims')
        .set({ lease_until: this.clock.now() })
        .where('notification_id', 'in', held)
        .where('owner', '=', this.nodeId)
        .where('completed_at', 'is', null)
        .execute()
        .catch((err) => log.warn({ err, node: this.nodeId }, 'could not release claims on stop'));
    }
    this.running = false;
  }

  private db() {
    if (!this.running || this.stopped) {
      throw new Error(`delivery claims of '${this.nodeId}' are not started`);
    }
    return this.database.db;
  }
}
