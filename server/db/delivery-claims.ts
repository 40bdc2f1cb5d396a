/**
 * Delivery claims: exactly one node pages an emergency centre for one alarm identity, however
 * many nodes received the alarm (a gateway resends whatever was not acknowledged, to whichever
 * node it reaches next). The claim key is the notification id, which is already one per
 * (alarm identity, centre): `notificationIdFor(key, centreId)` in
 * server/linkage/emergency-notifier.ts.
 *
 * Liveness-based leases (issue 14: a level-2 page must fail over within 5 s). A claim's lease is
 * short (3 s by default) and says "my node is alive", not "my delivery is quick": the owning node
 * renews every live claim of its scope with ONE statement per heartbeat (1 s by default),
 *   UPDATE delivery_claims SET lease_until = now + lease
 *    WHERE owner = me AND completed_at IS NULL AND <id starts with scope>,
 * whatever its deliveries are doing, so a slow webhook (10 s timeout, long backoff) keeps its
 * claim for as long as its node lives. A node that dies (SIGKILL, lost host) stops renewing;
 * within one lease its claims are free and a survivor's sweep takes them over. Failover of a
 * page therefore costs about lease + sweep period + one request, not a delivery's worst case.
 *
 * Guarantees (both engines; tests/db runs concurrent claimers against each):
 * - `claim(id)` / `claimAll(ids)` is one statement (`INSERT ... ON CONFLICT DO UPDATE ... WHERE`
 *   free, `RETURNING`): a fresh id goes to exactly one of any number of racing callers, an
 *   expired one to exactly one taker (PostgreSQL locks the conflicting row and re-checks the
 *   condition on its latest version; SQLite has one writer);
 * - the owner keeps the claim until it completes it, releases it, or its node stops renewing
 *   for a whole lease; a completed claim is never taken again (the centre was paged);
 * - `renew(id)` before each attempt proves the claim is still this node's at that moment; when
 *   the database cannot say (unreachable), it rejects and the caller must not page. The
 *   heartbeat also keeps a local, monotonic deadline (`provenUntil`): once it passes without a
 *   successful heartbeat, `onLost` is called, so the owner aborts requests in flight on claims
 *   it can no longer prove it holds (another node may already have taken them);
 * - a scope (an id prefix) keeps two users of the table under one node id apart: the webhook
 *   notifier's heartbeat, release and reclaim never touch the MQTT linkage's claims, and back.
 *
 * Whose clock: a lease compares epoch ms written by one node with "now" read by another. On
 * PostgreSQL (cluster mode, nodes on different machines) every lease time is the database's
 * clock (`now()`, the statement's start: one clock for every node, so skew between nodes cannot
 * shorten or stretch a lease; STABLE, so the expiry test can use the index); claimed_at and
 * completed_at too, for one time base per row. On SQLite (embedded: one file, so every node is
 * on one host and shares its clock) and where a test asks for it (`leaseClock: 'injected'`, a
 * ManualClock), the injected Clock. A claim says who pages; whether the page arrived is the
 * delivery row's business (linkage_deliveries: attempts, delivered_at).
 *
 * Lifecycle: `start()` checks the database is started, releases what an earlier process under
 * this node id left open in this scope (it does not know those deliveries: a sweep, this node's
 * or another's, takes them back at once) and starts the heartbeat; `stop()` stops the heartbeat
 * and releases this node's open claims of the scope, so another node takes them over at once
 * instead of after the lease; safe twice. Calls after `stop()` throw.
 */
import { type Expression, type RawBuilder, sql } from 'kysely';
import type { Clock } from '../../common/clock.js';
import { systemClock } from '../../common/clock.js';
import { createLogger } from '../../common/logger.js';
import type { Database } from './database.js';

const log = createLogger('server.claims');

export const DELIVERY_CLAIM_DEFAULTS = {
  // 3 s: three heartbeats; a node that misses three in a row (a stalled event loop, a
  // database failover) loses its claims. Lease + 1 s sweep + one request stays under the
  // 5 s failover target of issue 14.
  leaseMs: 3_000,
  heartbeatMs: 1_000, // 1 s between renewals of all of a node's claims (one statement)
  reclaimBatch: 100, // claims taken over per reclaimExpired() call
} as const;

/** Epoch ms on PostgreSQL's clock, as the BIGINT the claims store. */
const PG_NOW_MS = sql<number>`(extract(epoch from now()) * 1000)::bigint`;

export interface DeliveryClaimsOptions {
  /** This node; stored as the claim's owner. */
  nodeId: string;
  /**
   * Prefix every claim id of this user starts with (e.g. 'ntf-' for webhook deliveries,
   * 'mqtt:' for MQTT publications). Heartbeat, stop and reclaimExpired() touch only ids in
   * it. Default '' (every id): only for a node with a single user of the table.
   */
  scope?: string;
  leaseMs?: number;
  /** Period of the heartbeat; 0 turns the timer off (the caller drives `heartbeat()`, tests). */
  heartbeatMs?: number;
  /**
   * Where lease times come from: 'database' (PostgreSQL's clock; the default there) or
   * 'injected' (`clock`; always so on SQLite, where every node shares one host's clock).
   */
  leaseClock?: 'database' | 'injected';
  clock?: Clock;
  /** Called when the heartbeat could not prove this node's claims for a whole lease. */
  onLost?: () => void;
}

export class DeliveryClaims {
  private readonly clock: Clock;
  private readonly leaseMs: number;
  private readonly heartbeatMs: number;
  private readonly scope: string;
  private readonly dbClock: boolean;
  private running = false;
  private stopped = false;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private beating: Promise<unknown> | null = null;
  /** performance.now() until which the last successful heartbeat proves this node's claims. */
  private provenUntil = 0;
  private lostReported = false;
  private failing = false;

  constructor(
    private readonly database: Database,
    private readonly options: DeliveryClaimsOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    this.leaseMs = options.leaseMs ?? DELIVERY_CLAIM_DEFAULTS.leaseMs;
    this.heartbeatMs = options.heartbeatMs ?? DELIVERY_CLAIM_DEFAULTS.heartbeatMs;
    this.scope = options.scope ?? '';
    if (!Number.isFinite(this.leaseMs) || this.leaseMs <= 0) {
      throw new Error(`delivery claims: leaseMs must be a positive number (got ${this.leaseMs})`);
    }
    if (this.heartbeatMs < 0 || (this.heartbeatMs > 0 && this.heartbeatMs * 2 > this.leaseMs)) {
      throw new Error(
        `delivery claims: heartbeatMs (${this.heartbeatMs}) must be 0 (off) or at most half of leaseMs (${this.leaseMs}), so one missed heartbeat does not lose the claims`,
      );
    }
    this.dbClock =
      database.kind === 'postgres' && (options.leaseClock ?? 'database') === 'database';
  }

  get nodeId(): string {
    return this.options.nodeId;
  }

  /**
   * "Now" as the leases compare it, for a caller's own query (a sweep joining the claims):
   * the database's clock or the injected one (see the module comment).
   */
  now(): Expression<number> {
    return this.dbClock ? PG_NOW_MS : sql.val(this.clock.now());
  }

  async start(): Promise<void> {
    if (!this.database.started) {
      throw new Error(`delivery claims of '${this.nodeId}': the database is not started`);
    }
    this.running = true;
    this.stopped = false;
    // What an earlier process under this id held is not worked on by this one: free it.
    const released = await this.releaseOwn();
    if (released > 0) {
      log.info(
        { node: this.nodeId, scope: this.scope, released },
        'released claims of an earlier run',
      );
    }
    this.provenUntil = performance.now() + this.leaseMs;
    if (this.heartbeatMs > 0) {
      this.heartbeatTimer = setInterval(() => {
        // A statement that hangs (a pool waiting on a dead server) must not hide the lapse.
        this.checkProof();
        if (this.beating) return;
        this.heartbeat().catch(() => undefined); // logged inside
      }, this.heartbeatMs);
      this.heartbeatTimer.unref();
    }
  }

  /**
   * Renews the lease of every open claim this node holds in its scope, in one statement;
   * resolves how many. On failure (database unreachable) logs, and once the last proof is a
   * lease old calls `onLost`; rejects so a caller driving it sees the failure.
   */
  async heartbeat(): Promise<number> {
    const sentAt = performance.now();
    const run = (async () =>
      this.db()
        .updateTable('delivery_claims')
        .set({ lease_until: this.leaseUntil() })
        .where('owner', '=', this.nodeId)
        .where('completed_at', 'is', null)
        .where(this.inScope())
        .executeTakeFirst())();
    this.beating = run.catch(() => undefined);
    try {
      const result = await run;
      // The database set now + lease at or after sentAt: proven until sentAt + lease at least.
      this.provenUntil = sentAt + this.leaseMs;
      this.lostReported = false;
      this.failing = false;
      return Number(result.numUpdatedRows);
    } catch (err) {
      // One line when it starts failing, not one a second for the whole outage.
      if (!this.failing) {
        log.warn({ err, node: this.nodeId }, 'claims heartbeat failed; retried every heartbeat');
      }
      this.failing = true;
      this.checkProof();
      throw err;
    } finally {
      this.beating = null;
    }
  }

  /**
   * Takes the claim on `notificationId`: true when this node now owns it (a fresh claim, its own
   * live claim renewed, or a claim whose owner let the lease run out), false when another node
   * owns it or it was completed. One statement.
   */
  async claim(notificationId: string): Promise<boolean> {
    return (await this.claimAll([notificationId])).has(notificationId);
  }

  /** claim() for several ids in one statement; resolves the ids this node now owns. */
  async claimAll(notificationIds: readonly string[]): Promise<Set<string>> {
    const db = this.db();
    if (notificationIds.length === 0) return new Set();
    for (const id of notificationIds) this.checkScope(id);
    // Sorted: two nodes upserting the same ids lock them in one order (no deadlock).
    const ids = [...new Set(notificationIds)].sort();
    const now = this.now();
    const leaseUntil = this.leaseUntil();
    const rows = await db
      .insertInto('delivery_claims')
      .values(
        ids.map((id) => ({
          notification_id: id,
          owner: this.nodeId,
          claimed_at: now,
          lease_until: leaseUntil,
          completed_at: null,
        })),
      )
      .onConflict((oc) =>
        oc
          .column('notification_id')
          .doUpdateSet({ owner: this.nodeId, claimed_at: now, lease_until: leaseUntil })
          .where('delivery_claims.completed_at', 'is', null)
          .where((eb) =>
            eb.or([
              eb('delivery_claims.owner', '=', this.nodeId),
              eb('delivery_claims.lease_until', '<=', now),
            ]),
          ),
      )
      .returning('notification_id')
      .execute();
    return new Set(rows.map((r) => r.notification_id));
  }

  /**
   * Proves, just before an attempt, that the claim is still this node's, and extends it; false
   * when it is not (taken over, completed). Rejects when the database cannot say: no page then.
   */
  async renew(notificationId: string): Promise<boolean> {
    const result = await this.db()
      .updateTable('delivery_claims')
      .set({ lease_until: this.leaseUntil() })
      .where('notification_id', '=', notificationId)
      .where('owner', '=', this.nodeId)
      .where('completed_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /**
   * Marks the claim done (the centre was paged). False when this node no longer owned it: its
   * lease ran out and another node took over, so both may have paged; logged, since the
   * receiver's idempotency (the notification id in every body) is then what holds the line.
   */
  async complete(notificationId: string): Promise<boolean> {
    const result = await this.db()
      .updateTable('delivery_claims')
      .set({ completed_at: this.now() })
      .where('notification_id', '=', notificationId)
      .where('owner', '=', this.nodeId)
      .where('completed_at', 'is', null)
      .executeTakeFirst();
    const ok = Number(result.numUpdatedRows) === 1;
    if (!ok) {
      log.warn(
        { notificationId, node: this.nodeId },
        'completed a delivery whose claim this node had lost (lease ran out); the centre may see it twice and must deduplicate by notification id',
      );
    }
    return ok;
  }

  /** Gives the claim up so another node may take it at once (this node will not deliver it). */
  async release(notificationId: string): Promise<void> {
    await this.db()
      .updateTable('delivery_claims')
      .set({ lease_until: this.now() })
      .where('notification_id', '=', notificationId)
      .where('owner', '=', this.nodeId)
      .where('completed_at', 'is', null)
      .execute();
  }

  /**
   * Takes over up to `limit` claims of this scope whose owners let the lease run out without
   * completing them (dead nodes); returns their ids, each now owned by this node. Concurrent
   * callers on other nodes get disjoint sets.
   */
  async reclaimExpired(limit: number = DELIVERY_CLAIM_DEFAULTS.reclaimBatch): Promise<string[]> {
    const db = this.db();
    const now = this.now();
    const postgres = this.database.kind === 'postgres';
    const rows = await db
      .updateTable('delivery_claims')
      .set({ owner: this.nodeId, claimed_at: now, lease_until: this.leaseUntil() })
      .where('notification_id', 'in', (eb) => {
        const expired = eb
          .selectFrom('delivery_claims')
          .select('notification_id')
          .where('completed_at', 'is', null)
          .where('lease_until', '<=', now)
          .where(this.inScope())
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
    if (ids.length > 0) log.info({ node: this.nodeId, count: ids.length }, 'reclaimed deliveries');
    return ids;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
    await this.beating;
    if (this.running && this.database.started) {
      await this.releaseOwn().catch((err: unknown) =>
        log.warn({ err, node: this.nodeId }, 'could not release claims on stop'),
      );
    }
    this.running = false;
  }

  /** Calls `onLost` once when the last successful heartbeat is a whole lease old. */
  private checkProof(): void {
    if (this.lostReported || performance.now() < this.provenUntil) return;
    this.lostReported = true;
    log.error(
      { node: this.nodeId, scope: this.scope },
      'claims not renewed for a whole lease: another node may take them over; stopping attempts in flight',
    );
    this.options.onLost?.();
  }

  /** Frees every open claim of this node in its scope; resolves how many. */
  private async releaseOwn(): Promise<number> {
    const result = await this.database.db
      .updateTable('delivery_claims')
      .set({ lease_until: this.now() })
      .where('owner', '=', this.nodeId)
      .where('completed_at', 'is', null)
      .where(this.inScope())
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  private leaseUntil(): Expression<number> | RawBuilder<number> {
    return this.dbClock
      ? sql<number>`(extract(epoch from now()) * 1000)::bigint + ${this.leaseMs}`
      : sql.val(this.clock.now() + this.leaseMs);
  }

  /** Ids of this scope: substr() reads the same on both engines (LIKE is not case-exact on SQLite). */
  private inScope() {
    const scope = this.scope;
    return sql<boolean>`${scope.length === 0 ? sql`1 = 1` : sql`substr(notification_id, 1, ${sql.lit(scope.length)}) = ${scope}`}`;
  }

  private checkScope(id: string): void {
    if (!id.startsWith(this.scope)) {
      throw new Error(
        `delivery claims of '${this.nodeId}': claim id '${id}' is outside this scope ('${this.scope}')`,
      );
    }
  }

  private db() {
    if (!this.running || this.stopped) {
      throw new Error(`delivery claims of '${this.nodeId}' are not started`);
    }
    return this.database.db;
  }
}
