/**
 * Leader election: which one node runs the jobs that must run once per cluster (escalation,
 * gateway presence, scheduled reports, anchors). Every node runs a `LeaderElection` with the
 * same `name`; at most one of them is leader at a time.
 *
 * PostgreSQL (cluster mode): the leader is whoever holds a session advisory lock,
 * `pg_try_advisory_lock(key)`, on a dedicated connection (outside the pool, since a pooled
 * connection goes back to the pool with its lock). Followers retry every `retryMs`. The lock
 * lives exactly as long as the leader's session, so:
 * - the leader process dies (kill -9, crash): the kernel closes its socket, PostgreSQL ends the
 *   session and frees the lock at once; a follower takes it at its next retry (≤ retryMs);
 * - the leader's machine or network dies: the server notices through TCP keepalives set on the
 *   session (`tcp_keepalives_*` below: about 2 + 3 × 1 = 5 s) and frees the lock; meanwhile the
 *   old leader's own check (`SELECT 1` every retryMs, bounded by `checkTimeoutMs`) fails and it
 *   steps down after at most retryMs + checkTimeoutMs = 3 s with the defaults, before the lock
 *   can pass to anyone else;
 * - the connection drops for any reason: the node steps down at once ('error'/'end' events).
 * Leadership is for scheduling, not for correctness: a stepped-down leader's last write can
 * still land after a successor's first, so leader jobs write idempotently (one escalation row
 * per level; delivery claims, server/db/delivery-claims.ts).
 *
 * SQLite (embedded): one process is trivially the leader; the same class elects through a lease
 * row (`leader_leases`) renewed every retryMs and valid for leaseMs, so two processes on one file
 * (an overlapping restart, the tests) still agree on one leader, and a holder that stops renewing
 * (dead, or its connection closed) is replaced once its lease has run out.
 *
 * Lifecycle: `start()` makes the first attempt (awaited) and then retries on a timer (unref'd);
 * `tick()` is one attempt or check (tests call it directly); `stop()` resigns: it frees the lock
 * or the lease so a successor need not wait, calls `onDeposed` if this node was leader, and is
 * safe twice. `onElected`/`onDeposed` are called in order, never twice in a row. A node whose
 * leadership was lost (not resigned) sits out `rejoinAfterMs` before contending again.
 */
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type pg from 'pg';
import type { Clock } from '../../common/clock.js';
import { monotonicOf, systemClock } from '../../common/clock.js';
import { createLogger } from '../../common/logger.js';
import type { Database } from './database.js';

const log = createLogger('server.leader');

export const LEADER_ELECTION_DEFAULTS = {
  retryMs: 1_000, // 1 s between attempts (followers) and checks (leader)
  checkTimeoutMs: 2_000, // 2 s: a leader whose check takes longer steps down (PostgreSQL)
  leaseMs: 10_000, // 10 s lease (SQLite): a dead holder is replaced this long after its last renewal
  rejoinAfterRetries: 3, // a node that just lost leadership waits 3 × retryMs before contending again
  keepaliveIdleS: 2, // server-side TCP keepalive: first probe after 2 s idle
  keepaliveIntervalS: 1, // then one probe a second
  keepaliveCount: 3, // and the session is dropped after 3 unanswered probes
} as const;

export interface LeaderElectionOptions {
  /** One election per job group, e.g. 'scheduler'. */
  name: string;
  /** This node, e.g. its host name; shown in the lease row and the logs. */
  nodeId: string;
  retryMs?: number;
  checkTimeoutMs?: number;
  leaseMs?: number;
  /**
   * How long a node that lost leadership (its session died) waits before contending again, so
   * that a healthy follower takes over instead of the node that just had trouble; default
   * rejoinAfterRetries × retryMs.
   */
  rejoinAfterMs?: number;
  clock?: Clock;
  onElected?: () => void;
  onDeposed?: (reason: string) => void;
}

export interface LeaderElection {
  readonly name: string;
  readonly nodeId: string;
  readonly isLeader: boolean;
  /** How many times this node has become leader since it started. */
  readonly terms: number;
  /** PostgreSQL: the backend pid of the session holding (or trying for) the lock. */
  readonly sessionPid: number | null;
  start(): Promise<void>;
  /** One attempt (follower) or check (leader); resolves to whether this node is leader. */
  tick(): Promise<boolean>;
  stop(): Promise<void>;
}

export function createLeaderElection(
  database: Database,
  options: LeaderElectionOptions,
): LeaderElection {
  return database.kind === 'postgres'
    ? new AdvisoryLockElection(database, options)
    : new LeaseElection(database, options);
}

/** The advisory lock key for an election: 64 bits of sha256, stable across nodes and releases. */
export function advisoryLockKey(name: string): string {
  return createHash('sha256')
    .update(`hazardwatch:leader:${name}`)
    .digest()
    .readBigInt64BE(0)
    .toString();
}

abstract class ElectionBase implements LeaderElection {
  protected leader = false;
  protected stopped = false;
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<boolean> | null = null;
  terms = 0;
  readonly name: string;
  readonly nodeId: string;
  protected readonly retryMs: number;
  private readonly monotonic: () => number;
  private rejoinAt = 0;

  constructor(
    protected readonly database: Database,
    protected readonly options: LeaderElectionOptions,
  ) {
    this.name = options.name;
    this.nodeId = options.nodeId;
    this.retryMs = options.retryMs ?? LEADER_ELECTION_DEFAULTS.retryMs;
    this.monotonic = monotonicOf(options.clock ?? systemClock);
  }

  get isLeader(): boolean {
    return this.leader;
  }

  get sessionPid(): number | null {
    return null;
  }

  async start(): Promise<void> {
    if (this.timer) return;
    this.stopped = false;
    await this.tick();
    this.timer = setInterval(() => void this.tick(), this.retryMs);
    this.timer.unref();
  }

  tick(): Promise<boolean> {
    if (this.stopped) return Promise.resolve(false);
    if (!this.leader && this.monotonic() < this.rejoinAt) return Promise.resolve(false);
    // One attempt at a time: a slow check must not overlap the next.
    this.inFlight ??= this.attempt().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.inFlight?.catch(() => false);
    await this.resign();
    this.depose('stopped');
  }

  /** Called when leadership was lost rather than resigned: sit out before contending again. */
  protected holdOff(): void {
    const rejoinAfterMs =
      this.options.rejoinAfterMs ?? LEADER_ELECTION_DEFAULTS.rejoinAfterRetries * this.retryMs;
    this.rejoinAt = this.monotonic() + rejoinAfterMs;
  }

  protected abstract attempt(): Promise<boolean>;
  protected abstract resign(): Promise<void>;

  protected elect(): void {
    if (this.leader) return;
    this.leader = true;
    this.terms++;
    log.info({ election: this.name, node: this.nodeId, term: this.terms }, 'elected leader');
    this.options.onElected?.();
  }

  protected depose(reason: string): void {
    if (!this.leader) return;
    this.leader = false;
    log.warn({ election: this.name, node: this.nodeId, reason }, 'no longer leader');
    this.options.onDeposed?.(reason);
  }
}

class AdvisoryLockElection extends ElectionBase {
  private client: pg.Client | null = null;
  private pid: number | null = null;
  private readonly key = advisoryLockKey(this.name);
  private connectFailures = 0;

  override get sessionPid(): number | null {
    return this.pid;
  }

  protected async attempt(): Promise<boolean> {
    try {
      const client = this.client ?? (await this.connect());
      if (this.leader) {
        // The lock lives as long as the session: a session that answers still holds it.
        await client.query('SELECT 1');
      } else {
        const result = await client.query<{ ok: boolean }>(
          'SELECT pg_try_advisory_lock($1::bigint) AS ok',
          [this.key],
        );
        if (result.rows[0]?.ok && !this.stopped) this.elect();
      }
    } catch (err) {
      this.lose(`session lost: ${(err as Error).message}`);
    }
    return this.leader;
  }

  private async connect(): Promise<pg.Client> {
    let client: pg.Client;
    try {
      client = await this.database.dedicatedClient({
        purpose: `leader-election/${this.name}`,
        queryTimeoutMs: this.options.checkTimeoutMs ?? LEADER_ELECTION_DEFAULTS.checkTimeoutMs,
      });
    } catch (err) {
      // Logged once per outage, not on every retry.
      if (this.connectFailures++ === 0) {
        log.warn({ err, election: this.name, node: this.nodeId }, 'cannot reach the database');
      }
      throw err;
    }
    if (this.connectFailures > 0) log.info({ election: this.name }, 'database reachable again');
    this.connectFailures = 0;
    client.on('error', (err) => this.lose(`session lost: ${err.message}`));
    client.on('end', () => this.lose('session ended'));
    const d = LEADER_ELECTION_DEFAULTS;
    // So the server frees the lock within seconds when this machine vanishes (no FIN, no RST).
    await client.query(
      `SET tcp_keepalives_idle = ${d.keepaliveIdleS}; SET tcp_keepalives_interval = ${d.keepaliveIntervalS}; SET tcp_keepalives_count = ${d.keepaliveCount}`,
    );
    const pid = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    this.pid = pid.rows[0]?.pid ?? null;
    this.client = client;
    return client;
  }

  private lose(reason: string): void {
    const client = this.client;
    this.client = null;
    this.pid = null;
    if (client) {
      client.removeAllListeners('end');
      // A late 'error' from the dying socket must still be handled, and go nowhere.
      client.removeAllListeners('error');
      client.on('error', () => {});
      void client.end().catch(() => {});
    }
    if (this.leader) this.holdOff();
    this.depose(reason);
  }

  protected async resign(): Promise<void> {
    const client = this.client;
    if (!client) return;
    this.client = null;
    this.pid = null;
    client.removeAllListeners('end');
    client.removeAllListeners('error');
    client.on('error', () => {});
    try {
      if (this.leader) await client.query('SELECT pg_advisory_unlock($1::bigint)', [this.key]);
    } catch {
      // Ending the session below frees the lock anyway.
    }
    await client.end().catch(() => {});
  }
}

class LeaseElection extends ElectionBase {
  private readonly clock: Clock;
  private readonly leaseMs: number;

  constructor(database: Database, options: LeaderElectionOptions) {
    super(database, options);
    this.clock = options.clock ?? systemClock;
    this.leaseMs = options.leaseMs ?? LEADER_ELECTION_DEFAULTS.leaseMs;
    if (this.leaseMs <= this.retryMs) {
      throw new Error(
        `leader election '${this.name}': leaseMs (${this.leaseMs}) must be longer than retryMs (${this.retryMs}), or the holder loses its lease between renewals`,
      );
    }
  }

  protected async attempt(): Promise<boolean> {
    const now = this.clock.now();
    try {
      // One statement: take the row when it is free or expired, renew it when it is ours.
      const row = await this.database.db
        .insertInto('leader_leases')
        .values({ name: this.name, holder: this.nodeId, term: 1, expires_at: now + this.leaseMs })
        .onConflict((oc) =>
          oc
            .column('name')
            .doUpdateSet({
              holder: this.nodeId,
              expires_at: now + this.leaseMs,
              term: sql<number>`CASE WHEN leader_leases.holder = ${this.nodeId} THEN leader_leases.term ELSE leader_leases.term + 1 END`,
            })
            .where((eb) =>
              eb.or([
                eb('leader_leases.holder', '=', this.nodeId),
                eb('leader_leases.expires_at', '<=', now),
              ]),
            ),
        )
        .returning(['holder', 'term'])
        .executeTakeFirst();
      if (row && !this.stopped) this.elect();
      else if (!row) this.depose('the lease is held by another node');
    } catch (err) {
      if (this.leader) this.holdOff();
      this.depose(`lease not renewed: ${(err as Error).message}`);
    }
    return this.leader;
  }

  protected async resign(): Promise<void> {
    if (!this.leader || !this.database.started) return;
    await this.database.db
      .deleteFrom('leader_leases')
      .where('name', '=', this.name)
      .where('holder', '=', this.nodeId)
      .execute()
      .catch(() => {});
  }
}
