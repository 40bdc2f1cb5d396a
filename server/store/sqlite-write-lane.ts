/**
 * Where the embedded telemetry store's writes run (issue 19: telemetry must
 * never delay an alarm).
 *
 * - {@link ThreadWriteLane}: a worker thread with a connection of its own
 *   (sqlite-writer-thread.ts). The inserts, the hourly rollups and retention
 *   run there, in parallel with the main thread; the main thread only posts the
 *   batches (a structured clone, ~0.5 ms for 1,250 readings) and settles the
 *   replies. Used when telemetry has a file of its own: a second writer on the
 *   ledger's file would make the ledger's writes wait for its locks, and a
 *   deferred transaction that read before another connection committed fails
 *   with SQLITE_BUSY instead of waiting.
 * - {@link InlineWriteLane}: the same writer on the main thread, for ':memory:'
 *   (a connection's own database, so it cannot be shared with a thread) and for
 *   telemetry that shares the ledger's file (a file made before telemetry had
 *   its own). It commits at most about `budgetMs` of groups per event-loop turn
 *   and then hands the loop back, so an alarm waits for at most one group.
 *
 * Lifecycle of both: created open; `commit`/`prune` resolve in the order they
 * were asked; `close()` waits for what was asked and releases the file.
 */
import { Worker } from 'node:worker_threads';
import { createLogger } from '../../common/logger.js';
import type { TelemetryBatch } from '../../protocol/index.js';
import { TelemetryLane } from '../ingest-lane.js';
import type { SynchronousMode } from './sqlite.js';
import type { CommitOutcome, SqliteTelemetryWriter } from './sqlite-writer.js';

const log = createLogger('server.store');

export const WRITE_LANE_DEFAULTS = {
  // Inline only: commit work per event-loop turn; after it, queued groups wait for the next
  // turn, so an alarm waits for at most one group however much telemetry is queued.
  budgetMs: 2,
  // Thread only: after the writer thread died, a new one is started at most this often, so a
  // file that cannot be opened is not reopened at every resent batch.
  restartAfterMs: 1_000,
  // Thread only: the writer thread's nice value. Under CPU contention the threads and processes
  // of the alarm path (nice 0) go first and telemetry catches up after (per-connection acks keep
  // its backlog bounded); with a core to spare it writes at full speed. Measured with
  // `npm run bench -- e2e` at 50,000 points/s on 2 cores, two consecutive quiet runs: at nice 0
  // the alarm's server_received hop was p99 18.7 ms and ledger_committed 12.1 ms, at nice 10
  // 3.0 and 6.7 (0 points/s: 4.2 and 6.0), every point still stored.
  threadNice: 10,
} as const;

export interface TelemetryWriteLane {
  /** Stores the group (sqlite-writer.ts `commit`); rejects only if the lane itself failed. */
  commit(batches: readonly TelemetryBatch[], receivedAt: number): Promise<CommitOutcome>;
  /** Deletes readings with source time before `before` (epoch ms); resolves how many. */
  prune(before: number): Promise<number>;
  close(): Promise<void>;
}

/**
 * The writer on this thread, a budget of commits per event-loop turn: ingest's telemetry lane
 * (server/ingest-lane.ts), the same FIFO that keeps telemetry's handling behind alarms.
 */
export class InlineWriteLane implements TelemetryWriteLane {
  private readonly lane: TelemetryLane;

  constructor(
    readonly writer: SqliteTelemetryWriter,
    budgetMs: number = WRITE_LANE_DEFAULTS.budgetMs,
  ) {
    this.lane = new TelemetryLane({ budgetMs });
  }

  commit(batches: readonly TelemetryBatch[], receivedAt: number): Promise<CommitOutcome> {
    return this.lane.run(async () => this.writer.commit(batches, receivedAt));
  }

  prune(before: number): Promise<number> {
    return this.lane.run(async () => this.writer.prune(before));
  }

  async close(): Promise<void> {
    // The lane is a FIFO: this runs after everything asked before it.
    await this.lane.run(async () => {});
    this.writer.close();
  }
}

/** What the writer thread is started with (workerData). */
export interface WriterThreadData {
  path: string;
  synchronous?: SynchronousMode;
  /** The writer thread's nice value (Linux: per thread); absent: the process's. */
  nice?: number;
}

export type WriterRequest =
  | { kind: 'commit'; id: number; batches: readonly TelemetryBatch[]; receivedAt: number }
  | { kind: 'prune'; id: number; before: number }
  | { kind: 'close'; id: number };

export type WriterReply =
  | { kind: 'ready' }
  | { kind: 'open-failed'; message: string; cause: string }
  | ({ kind: 'committed'; id: number } & CommitOutcome)
  | { kind: 'pruned'; id: number; deleted: number }
  | { kind: 'request-failed'; id: number; message: string };

interface Pending {
  resolve: (reply: WriterReply) => void;
  reject: (err: Error) => void;
}

/** The writer in a worker thread; see the module comment. */
export class ThreadWriteLane implements TelemetryWriteLane {
  private worker: Worker | null = null;
  private starting: Promise<Worker> | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closing = false;
  private closed: Promise<void> | null = null;
  private lastFailure: { at: number; error: Error } | null = null;

  private constructor(private readonly data: WriterThreadData) {}

  /** Starts the thread; rejects naming the file if it cannot open it. */
  static async start(data: WriterThreadData): Promise<ThreadWriteLane> {
    const lane = new ThreadWriteLane(data);
    await lane.ensureWorker();
    return lane;
  }

  async commit(batches: readonly TelemetryBatch[], receivedAt: number): Promise<CommitOutcome> {
    const reply = await this.request({ kind: 'commit', id: 0, batches, receivedAt });
    if (reply.kind !== 'committed') throw unexpected(reply);
    return { failures: reply.failures, updated: reply.updated };
  }

  async prune(before: number): Promise<number> {
    const reply = await this.request({ kind: 'prune', id: 0, before });
    if (reply.kind !== 'pruned') throw unexpected(reply);
    return reply.deleted;
  }

  close(): Promise<void> {
    // Twice is harmless: the second call waits for the same exit.
    this.closed ??= this.closeNow();
    return this.closed;
  }

  private async closeNow(): Promise<void> {
    this.closing = true;
    const worker = this.worker ?? (await this.starting?.catch(() => null)) ?? null;
    if (!worker) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    // Posted after every request already asked: the thread answers those first.
    worker.postMessage({ kind: 'close', id: this.nextId++ } satisfies WriterRequest);
    await exited;
  }

  private async request(request: WriterRequest): Promise<WriterReply> {
    if (this.closing) throw new Error('telemetry store is stopping');
    const worker = await this.ensureWorker();
    const id = this.nextId++;
    return new Promise<WriterReply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ ...request, id });
    });
  }

  private ensureWorker(): Promise<Worker> {
    if (this.worker) return Promise.resolve(this.worker);
    if (this.starting) return this.starting;
    const failure = this.lastFailure;
    if (failure && performance.now() - failure.at < WRITE_LANE_DEFAULTS.restartAfterMs) {
      return Promise.reject(failure.error);
    }
    this.starting = this.spawn().finally(() => {
      this.starting = null;
    });
    return this.starting;
  }

  private spawn(): Promise<Worker> {
    return new Promise<Worker>((resolve, reject) => {
      const worker = new Worker(new URL('./sqlite-writer-boot.mjs', import.meta.url), {
        workerData: this.data,
      });
      let ready = false;
      worker.on('message', (reply: WriterReply) => {
        if (reply.kind === 'ready') {
          ready = true;
          this.worker = worker;
          resolve(worker);
          return;
        }
        if (reply.kind === 'open-failed') {
          const error = new Error(reply.message, { cause: new Error(reply.cause) });
          this.lastFailure = { at: performance.now(), error };
          reject(error);
          return;
        }
        const pending = this.pending.get(reply.id);
        if (!pending) return;
        this.pending.delete(reply.id);
        if (reply.kind === 'request-failed') pending.reject(new Error(reply.message));
        else pending.resolve(reply);
      });
      worker.on('error', (err) => {
        const error = new Error(`telemetry writer thread failed: ${err.message}`, { cause: err });
        this.lastFailure = { at: performance.now(), error };
        if (!ready) reject(error);
        this.lost(worker, error);
      });
      worker.once('exit', (code) => {
        const error = new Error(`telemetry writer thread exited with code ${code}`);
        if (!ready) reject(this.lastFailure?.error ?? error);
        this.lost(worker, error);
      });
    });
  }

  /** The thread is gone: what it was asked and did not answer fails (the gateways resend it). */
  private lost(worker: Worker, error: Error): void {
    if (this.worker === worker) this.worker = null;
    if (!this.closing && this.pending.size > 0) {
      log.error(
        { err: error, path: this.data.path, unanswered: this.pending.size },
        'telemetry writer thread lost',
      );
    }
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
  }
}

function unexpected(reply: WriterReply): Error {
  return new Error(`telemetry writer thread answered '${reply.kind}' out of turn`);
}
