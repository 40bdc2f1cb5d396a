/**
 * Leader jobs: the work that must run once per cluster (escalation timers, gateway presence,
 * scheduled reports, ledger anchors, delivery reclaim) runs only on the node that holds the
 * election (server/db/leader-election.ts), and moves to another node when that one dies.
 *
 * Wiring (server/central-server.ts, left to the lead): build one instance after the stores,
 * with the jobs that today are started as services of their own, and put it in the service
 * list in their place (after 'broker', so a job that publishes finds MQTT up; its stop runs
 * before MQTT stops):
 *
 *   this.leaderJobs = new LeaderJobs({
 *     database: this.database,
 *     nodeId: config.node?.id ?? os.hostname(),
 *     jobs: [
 *       { name: 'presence', start: () => this.presence.start(), stop: () => this.presence.stop() },
 *       { name: 'escalation', start: ..., stop: ... },       // the platform's escalation timers
 *       { name: 'ledger anchor', start: ..., stop: ... },
 *       { name: 'scheduled reports', start: ..., stop: ... },
 *       { name: 'delivery reclaim', start: ..., stop: ... },
 *     ],
 *   });
 *   // in serviceList(), instead of the services those jobs were:
 *   this.leaderJobs,            // it is a ServerService: name, start(), stop()
 *
 * Embedded (SQLite): the election is the lease row; a lone process wins it at its first
 * attempt, which `start()` awaits, so the jobs are running when `start()` returns, as they
 * always were: always-leader in effect. A restart under the same node id takes its own lease
 * back at once; under another id it waits out the dead holder's lease (leaseMs, 10 s).
 *
 * Takeover (defaults of LEADER_ELECTION_DEFAULTS): PostgreSQL frees the advisory lock the
 * moment the leader's session ends, so after a crash (process killed, socket closed) a follower
 * runs the jobs within retryMs = 1 s (plus the jobs' own start). When the leader's machine or
 * network vanishes, the server notices through TCP keepalives after about 2 + 3 × 1 = 5 s,
 * then a follower takes over within 1 s: about 6 s. The old leader has already stepped down
 * by then (retryMs + checkTimeoutMs = 3 s), and its jobs are stopped before anything else.
 * SQLite: a dead holder's lease runs out after leaseMs = 10 s, then ≤ 1 s: about 11 s.
 *
 * Rules:
 * - elected: the jobs start in list order; a job whose start throws (or rejects) is logged,
 *   left out of the running set and does not stop the others; it is retried every
 *   `retryFailedMs` while this node stays leader, and at the next election in any case;
 * - deposed (lost session, lease taken, stop()): every running job is stopped, in reverse
 *   order, before anything else happens (no new start begins until all stops are done); a
 *   stop that throws is logged and the job counts as stopped;
 * - transitions are serialised: an election that comes while the previous deposition is still
 *   stopping jobs waits for it, and a deposition during a start stops what had started.
 * Leadership is for scheduling, not correctness: the jobs write idempotently (leader-election.ts).
 *
 * Lifecycle: `start()` creates the election and makes its first attempt (so a lone node runs
 * its jobs when it returns); `stop()` resigns, which stops every running job, and waits for
 * that; safe twice and after a failed start.
 */
import type { Clock } from '../../common/clock.js';
import { createLogger } from '../../common/logger.js';
import type { Database } from '../db/database.js';
import {
  createLeaderElection,
  type LeaderElection,
  type LeaderElectionOptions,
} from '../db/leader-election.js';

const log = createLogger('server.leader-jobs');

export const LEADER_JOBS_DEFAULTS = {
  electionName: 'scheduler',
  retryFailedMs: 10_000, // 10 s: a job whose start failed is tried again this often while leader
} as const;

/** One piece of cluster-wide work; `stop()` must be safe after a failed or missing start. */
export interface LeaderJob {
  readonly name: string;
  start(): void | Promise<void>;
  stop(): void | Promise<void>;
}

export interface LeaderJobsOptions {
  database: Database;
  nodeId: string;
  jobs: readonly LeaderJob[];
  /** The election's name (one per job group); default 'scheduler'. */
  electionName?: string;
  retryFailedMs?: number;
  /** Passed to the election (tests shorten them). */
  election?: Pick<
    LeaderElectionOptions,
    'retryMs' | 'checkTimeoutMs' | 'leaseMs' | 'rejoinAfterMs'
  >;
  clock?: Clock;
  /** Told when this node becomes leader (true) and when it stops being one (false). */
  onLeadership?: (leader: boolean) => void;
}

export interface LeaderJobsState {
  leader: boolean;
  /** Jobs running now, in start order. */
  running: string[];
  /** Jobs whose last start failed while leader, with the error. */
  failed: { name: string; error: string }[];
}

export class LeaderJobs {
  readonly name = 'leader jobs';
  private election: LeaderElection | null = null;
  private readonly running: LeaderJob[] = [];
  private readonly failed = new Map<LeaderJob, string>();
  /** Serialises elections and depositions: each waits for the one before. */
  private transition: Promise<void> = Promise.resolve();
  /** Bumped by every deposition: a start loop of an older term stops starting jobs. */
  private term = 0;
  private leader = false;
  private retryTimer: NodeJS.Timeout | null = null;

  constructor(private readonly options: LeaderJobsOptions) {
    const names = new Set<string>();
    for (const job of options.jobs) {
      if (names.has(job.name)) throw new Error(`leader jobs: job name '${job.name}' is used twice`);
      names.add(job.name);
    }
  }

  /** The election (its `isLeader`, `terms`, `sessionPid`); null before start. */
  get currentElection(): LeaderElection | null {
    return this.election;
  }

  get isLeader(): boolean {
    return this.leader;
  }

  state(): LeaderJobsState {
    return {
      leader: this.leader,
      running: this.running.map((j) => j.name),
      failed: [...this.failed].map(([job, error]) => ({ name: job.name, error })),
    };
  }

  /** Resolves once every election and deposition so far has finished starting or stopping jobs. */
  settled(): Promise<void> {
    return this.transition;
  }

  async start(): Promise<void> {
    if (this.election) return;
    const options: LeaderElectionOptions = {
      ...this.options.election,
      name: this.options.electionName ?? LEADER_JOBS_DEFAULTS.electionName,
      nodeId: this.options.nodeId,
      onElected: () => this.onElected(),
      onDeposed: (reason) => this.onDeposed(reason),
    };
    if (this.options.clock) options.clock = this.options.clock;
    this.election = createLeaderElection(this.options.database, options);
    await this.election.start();
    await this.transition;
  }

  async stop(): Promise<void> {
    const election = this.election;
    this.election = null;
    // Resigning calls onDeposed when this node led, which queues the jobs' stop.
    if (election) await election.stop();
    this.onDeposed('stopped');
    await this.transition;
  }

  /** Starts the jobs whose start failed, if this node still leads (the retry timer calls it). */
  retryFailed(): Promise<void> {
    const term = this.term;
    return this.enqueue(async () => {
      if (!this.leader || term !== this.term) return;
      const jobs = this.options.jobs.filter((j) => this.failed.has(j));
      await this.startJobs(jobs, term);
    });
  }

  private onElected(): void {
    this.leader = true;
    this.tell(true);
    const term = this.term;
    this.enqueue(async () => {
      // Every job not running is (re)tried: the previous term's failures included.
      const jobs = this.options.jobs.filter((j) => !this.running.includes(j));
      await this.startJobs(jobs, term);
    });
    this.scheduleRetry();
  }

  private onDeposed(reason: string): void {
    if (!this.leader && this.running.length === 0) return;
    if (this.leader) this.tell(false);
    this.leader = false;
    this.term++;
    if (this.retryTimer) clearInterval(this.retryTimer);
    this.retryTimer = null;
    this.enqueue(async () => {
      if (this.running.length > 0) {
        log.warn({ node: this.options.nodeId, reason }, 'stopping leader jobs');
      }
      for (const job of this.running.splice(0).reverse()) {
        try {
          await job.stop();
        } catch (err) {
          log.error({ err, job: job.name, node: this.options.nodeId }, 'leader job failed to stop');
        }
      }
      this.failed.clear();
    });
  }

  private tell(leader: boolean): void {
    try {
      this.options.onLeadership?.(leader);
    } catch (err) {
      log.error({ err, node: this.options.nodeId }, 'leadership listener failed');
    }
  }

  private async startJobs(jobs: readonly LeaderJob[], term: number): Promise<void> {
    for (const job of jobs) {
      // Deposed meanwhile: start nothing more; the queued deposition stops what did start.
      if (term !== this.term) return;
      try {
        await job.start();
        this.running.push(job);
        this.failed.delete(job);
      } catch (err) {
        this.failed.set(job, (err as Error).message);
        log.error(
          { err, job: job.name, node: this.options.nodeId },
          'leader job failed to start; retried while leader and at the next election',
        );
        // A half-started job may hold timers: undo what it can.
        try {
          await job.stop();
        } catch {
          // Its stop is safe after a failed start by contract; a throw adds nothing here.
        }
      }
    }
    if (term === this.term && jobs.length > 0) {
      log.info(
        { node: this.options.nodeId, running: this.running.map((j) => j.name) },
        'leader jobs running',
      );
    }
  }

  private scheduleRetry(): void {
    if (this.retryTimer) return;
    const every = this.options.retryFailedMs ?? LEADER_JOBS_DEFAULTS.retryFailedMs;
    this.retryTimer = setInterval(() => {
      if (this.failed.size > 0) void this.retryFailed();
    }, every);
    this.retryTimer.unref();
  }

  private enqueue(step: () => Promise<void>): Promise<void> {
    this.transition = this.transition.then(step).catch((err: unknown) => {
      log.error({ err, node: this.options.nodeId }, 'leader jobs transition failed');
    });
    return this.transition;
  }
}
