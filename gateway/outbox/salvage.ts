/**
 * Salvage from a corrupt outbox file (issue 13 follow-up): when the file turns
 * corrupt while the gateway runs, the items this process still held
 * unacknowledged are read back from the moved-aside copy, so that an alarm
 * transition reaches the server if any copy of it can still be read.
 *
 * Neither the outbox's index nor the uplink keeps payloads in memory (only
 * seq, lane and sizes), so the moved file is the only source. It is read
 * best-effort: opened read-only (the copy stays as found, for forensics), one
 * point lookup by primary key per item, so an unreadable b-tree page loses
 * only the rows stored on it (or reached through it), not the rest; each
 * payload must read back as its item (`readBackProblem`) or it is skipped.
 *
 * Pacing (`SalvageRun`): the alarm lane is copied at once, inside the call
 * that met the corruption (a few items, and they must stay ahead of anything
 * appended after the fault); the telemetry lane, up to the whole telemetry
 * bound (256 MiB), is copied in turns of the event loop, so polling, rule
 * evaluation and local gas alarms go on while it heals.
 */
import Database from 'better-sqlite3';
import { readBackProblem } from './storage-fault.js';
import type { OutboxEntry, OutboxLane } from './types.js';

/** One held item read back from the moved file: its payload, or why it cannot be sent. */
export type HeldRead =
  | { entry: OutboxEntry; payload: string }
  | { entry: OutboxEntry; problem: string };

/**
 * Reads the payloads of `held` from the moved file `file`, in the order of
 * `held`, one item at a time (the caller commits them in bounded chunks, so a
 * large telemetry backlog is never all in memory). Lifecycle: the file is
 * opened read-only on the first `next()` and closed when the generator ends or
 * is returned from early. Never throws: every failure is a `problem`.
 */
export function* readHeld(file: string, held: readonly OutboxEntry[]): Generator<HeldRead> {
  let db: Database.Database;
  let get: Database.Statement<[number], unknown>;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (err) {
    const problem = `the moved file cannot be opened: ${describe(err)}`;
    for (const entry of held) yield { entry, problem };
    return;
  }
  try {
    try {
      get = db.prepare<[number], unknown>('SELECT payload FROM items WHERE seq = ?').pluck();
    } catch (err) {
      // The schema itself (page 1) is unreadable: no row can be found.
      const problem = `the moved file's schema cannot be read: ${describe(err)}`;
      for (const entry of held) yield { entry, problem };
      return;
    }
    for (const entry of held) {
      let payload: unknown;
      try {
        payload = get.get(entry.seq);
      } catch (err) {
        yield { entry, problem: `cannot be read: ${describe(err)}` };
        continue;
      }
      if (payload === undefined) {
        yield { entry, problem: 'not found in the moved file' };
        continue;
      }
      if (typeof payload !== 'string') {
        yield {
          entry,
          problem: `stored as ${payload === null ? 'null' : typeof payload}, not text`,
        };
        continue;
      }
      const problem = readBackProblem(payload, entry.seq);
      yield problem === null ? { entry, payload } : { entry, problem };
    }
  } finally {
    db.close();
  }
}

/** Salvaged items per commit: bounds the memory and the length of one transaction. */
export const SALVAGE_CHUNK = { items: 1_000, bytes: 8 * 1024 * 1024 } as const; // 1,000 items or 8 MiB

/**
 * Telemetry copied per event-loop turn: at most one chunk, and no more reading once `budgetMs`
 * has passed (at least one item per turn), then one FULL commit. A turn then holds the loop
 * about as long as one alarm append (its fsync) plus the budget, where one synchronous salvage
 * held it for the whole backlog (0.55 s for 29 MB; seconds for a full telemetry lane).
 * 5 ms rather than the ingest lane's 2 ms: every turn pays one fsync, so a smaller budget
 * multiplies fsyncs (and the salvage's length) for little gain in latency.
 */
export const SALVAGE_TURN = { budgetMs: 5 } as const;

export type SalvageCounts = { alarms: number; readings: number };
export type SalvageLoss = { seq: number; lane: OutboxLane; reason: string };
export type SalvagedItem = { entry: OutboxEntry; payload: string };

/** Where a run puts what it read back, and whom it tells when it ends. */
export interface SalvageSink {
  /**
   * Appends `items` (one lane) to the fresh outbox in one commit; throws when it cannot (the
   * items are then counted unsent). `late` is true for the telemetry copied after the fault
   * was reported (in later turns), false for the alarms copied inside the fault.
   */
  commit(items: readonly SalvagedItem[], late: boolean): void;
  /** The run ended (copied everything, or stopped): its counts are final. Called once. */
  end(run: SalvageRun): void;
}

/**
 * One fault's salvage of the items the process held unacknowledged.
 * Lifecycle: `copyAlarms()` once, synchronously, inside the fault; then `start()` copies the
 * telemetry, one chunk per event-loop turn (setImmediate), and calls `sink.end` when done;
 * `stop()` ends it early (the outbox closes): what is not yet copied stays in the moved file and
 * is counted unsent. Reading never throws (`readHeld`); a failed commit counts its items unsent.
 */
export class SalvageRun {
  readonly salvaged: SalvageCounts = { alarms: 0, readings: 0 };
  readonly unsent: SalvageCounts = { alarms: 0, readings: 0 };
  /** The first items that could not be salvaged, and why (for the log; `lostItems` counts all). */
  readonly lost: SalvageLoss[] = [];
  lostItems = 0;
  /** Telemetry readings not yet read from the moved file. */
  pendingReadings = 0;
  private readonly alarms: readonly OutboxEntry[];
  private readonly telemetry: readonly OutboxEntry[];
  /** Index in `telemetry` of the next item to read. */
  private next = 0;
  private reads: Generator<HeldRead> | undefined;
  private timer: NodeJS.Immediate | undefined;
  private ended = false;

  constructor(
    /** The moved file to read. */
    readonly movedTo: string,
    held: readonly OutboxEntry[],
    private readonly sink: SalvageSink,
  ) {
    this.alarms = held.filter((e) => e.lane === 'alarm');
    this.telemetry = held.filter((e) => e.lane === 'telemetry');
    for (const entry of this.telemetry) this.pendingReadings += entry.readings;
  }

  /** Whether telemetry is left to copy in later turns (`start()` ends at once otherwise). */
  get hasTelemetry(): boolean {
    return this.telemetry.length > 0;
  }

  get running(): boolean {
    return !this.ended;
  }

  /** Copies the held alarms now, in their order, in chunks. */
  copyAlarms(): void {
    let chunk: SalvagedItem[] = [];
    let bytes = 0;
    for (const read of readHeld(this.movedTo, this.alarms)) {
      if ('problem' in read) {
        this.lose(read.entry, read.problem);
        continue;
      }
      chunk.push(read);
      bytes += read.payload.length;
      if (chunk.length >= SALVAGE_CHUNK.items || bytes >= SALVAGE_CHUNK.bytes) {
        this.commit(chunk, false);
        chunk = [];
        bytes = 0;
      }
    }
    this.commit(chunk, false);
  }

  /** Copies the telemetry from the next turn on; ends (sink.end) at once when there is none. */
  start(): void {
    if (this.ended) return;
    if (!this.hasTelemetry) {
      this.finish();
      return;
    }
    this.timer = setImmediate(() => this.turn());
  }

  /** Ends the run now: the telemetry not yet copied is counted unsent (it stays in the moved file). */
  stop(reason: string): void {
    if (this.ended) return;
    if (this.timer) clearImmediate(this.timer);
    this.timer = undefined;
    for (; this.next < this.telemetry.length; this.next++) {
      this.lose(this.telemetry[this.next]!, reason);
    }
    this.pendingReadings = 0;
    this.finish();
  }

  private turn(): void {
    this.timer = undefined;
    if (this.ended) return;
    this.reads ??= readHeld(this.movedTo, this.telemetry);
    const until = performance.now() + SALVAGE_TURN.budgetMs;
    const chunk: SalvagedItem[] = [];
    let bytes = 0;
    do {
      const read = this.reads.next();
      if (read.done) break;
      this.next++;
      this.pendingReadings -= read.value.entry.readings;
      if ('problem' in read.value) {
        this.lose(read.value.entry, read.value.problem);
        continue;
      }
      chunk.push(read.value);
      bytes += read.value.payload.length;
    } while (
      this.next < this.telemetry.length &&
      chunk.length < SALVAGE_CHUNK.items &&
      bytes < SALVAGE_CHUNK.bytes &&
      performance.now() < until
    );
    this.commit(chunk, true);
    if (this.ended) return; // stopped from inside the commit (a fault handler closed the outbox)
    if (this.next >= this.telemetry.length) this.finish();
    else this.timer = setImmediate(() => this.turn());
  }

  private commit(items: readonly SalvagedItem[], late: boolean): void {
    if (items.length === 0) return;
    try {
      this.sink.commit(items, late);
      for (const { entry } of items) count(this.salvaged, entry);
    } catch (err) {
      for (const { entry } of items) this.lose(entry, (err as Error).message);
    }
  }

  private lose(entry: OutboxEntry, reason: string): void {
    count(this.unsent, entry);
    this.lostItems++;
    if (this.lost.length < 10) this.lost.push({ seq: entry.seq, lane: entry.lane, reason });
  }

  private finish(): void {
    this.ended = true;
    this.reads?.return(undefined); // closes the moved file
    this.reads = undefined;
    this.sink.end(this);
  }
}

function count(into: SalvageCounts, entry: OutboxEntry): void {
  if (entry.lane === 'alarm') into.alarms++;
  else into.readings += entry.readings;
}

/**
 * The payload of a salvaged item under its new number: `seq` (and `epoch`, when
 * the payload carries one) replaced in place, every other field as stored.
 * Keys keep their order, so the envelope head the server reads first
 * (protocol/envelope.ts: v, gatewayId, enterpriseId, seq, epoch) stays intact.
 * `payload` must have passed `readBackProblem` (a JSON object).
 */
export function restamp(payload: string, seq: number, epoch: string): string {
  const item = JSON.parse(payload) as Record<string, unknown>;
  item.seq = seq;
  if (Object.hasOwn(item, 'epoch')) item.epoch = epoch;
  return JSON.stringify(item);
}

function describe(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  return typeof code === 'string' ? `${code}: ${message}` : message;
}
