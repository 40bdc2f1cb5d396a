/**
 * The gateway's disk outbox: every telemetry batch and alarm event waits here
 * until the server acknowledges that it stored it (StoreAck on `.../ack`).
 *
 * Storage: one SQLite file (better-sqlite3, WAL journal). Durability, per
 * lane (docs/durability.md has the measurements):
 * - alarms: each append commits with `synchronous = FULL` (the WAL is fsynced
 *   before append returns), so an alarm the edge raised survives kill -9 and a
 *   power cut;
 * - telemetry: FULL by default as well, but its fsync runs off the event loop
 *   (fdatasync of the WAL in libuv's thread pool, issue 19): the batch is
 *   committed at once (a process crash cannot lose it) and held back from
 *   sending until its fsync completed (`isSynced`, `onTelemetrySynced`), so a
 *   slow disk never stalls the loop that polls and raises alarms; an alarm's
 *   FULL commit also covers every batch before it. `normal` skips that fsync:
 *   the last commits before a power cut (never a process crash) may be lost;
 * - removals after an ack commit with NORMAL: losing one to a power cut only
 *   means a resend, which the server drops as a duplicate.
 *
 * Sequence numbers: one counter across both lanes, strictly increasing across
 * restarts. The counter is reserved in blocks (`seqBlock`) with a FULL commit,
 * so even a power cut that rolls back NORMAL commits cannot hand out a number
 * the server may already have seen. A new outbox starts at the wall clock in
 * microseconds, above any number the earlier boot-time scheme produced.
 *
 * Bounds: the telemetry lane holds at most `telemetryMaxBytes`; when an append
 * would exceed it, the shedding policy thins the oldest telemetry (every other
 * batch among the oldest quarter of the backlog, items in flight excepted),
 * counting every batch and reading it drops. The alarm lane is never shed: its
 * `alarmReserveBytes` are kept out of the telemetry bound, and an alarm lane
 * that outgrows its reserve is logged as an error but still accepted.
 *
 * Epoch (issue 13): a random id made when the file is created (or first
 * opened by a version that knows epochs), kept in `meta`, sent with every
 * item. A restored or cloned file keeps its epoch and reuses sequence
 * numbers: the server then tells items apart by content (docs/durability.md).
 *
 * Self-healing (issue 13): a file SQLite reports as corrupt (at open or later)
 * is moved aside as `<path>.corrupt-<time>`, a fresh outbox (new epoch) takes
 * its place and `onStorageFault` reports it. When that happens while running,
 * the items the index still held unacknowledged are salvaged: read back from
 * the moved file (salvage.ts) and appended to the fresh outbox under new
 * numbers, so they are sent again. The alarms are copied at once, before the
 * fault is reported and ahead of anything appended after it; the telemetry in
 * chunks over later event-loop turns (`onSalvaged` names each chunk), so a
 * large backlog never holds the loop. The fault is reported at once, with the
 * telemetry still to copy as `pending`; the final counts (`salvaged`, `unsent`)
 * follow in `onSalvageEnd`. An item whose stored payload does not read back
 * as itself (garbled on disk) is moved to the `quarantine` table (kept, never
 * sent) and counted.
 */
import type Database from 'better-sqlite3';
import type { Clock } from '../../common/clock.js';
import { systemClock } from '../../common/clock.js';
import { createLogger } from '../../common/logger.js';
import { restamp, type SalvagedItem, SalvageRun } from './salvage.js';
import { freeBytes, OutboxFile, readOutboxFile, syncFileInBackground } from './sqlite-file.js';
import {
  describeStorageFault,
  isCorruption,
  newEpoch,
  type OutboxStorageFault,
  readBackProblem,
} from './storage-fault.js';
import {
  LANE_CODE,
  OUTBOX_DEFAULTS,
  type OutboxEntry,
  type OutboxLane,
  type OutboxOptions,
  type OutboxStats,
} from './types.js';

export { describeStorageFault, type OutboxStorageFault } from './storage-fault.js';
export {
  OUTBOX_DEFAULTS,
  type OutboxEntry,
  type OutboxLane,
  type OutboxOptions,
  type OutboxStats,
  type OutboxSync,
} from './types.js';

const log = createLogger('gateway.outbox');

/**
 * Lifecycle: `open()` creates or reopens the file and loads the index of what
 * it holds; `close()` closes it (safe twice). Appends return only after the
 * commit (FULL: after the fsync). Methods throw when the outbox is not open.
 */
export class Outbox {
  private readonly lanes: Record<OutboxLane, Map<number, OutboxEntry>> = {
    alarm: new Map(),
    telemetry: new Map(),
  };
  private readonly bytes: Record<OutboxLane, number> = { alarm: 0, telemetry: 0 };
  private telemetryReadings = 0;
  private nextSeq = 0;
  private reservedSeq = 0;
  private dropped = { batches: 0, readings: 0 };
  private writeFailures = 0;
  private quarantined = 0;
  private epoch_ = '';
  private highWater = false;
  private alarmReserveWarned = false;
  private readonly clock: Clock;
  private readonly telemetryMaxBytes: number;
  private readonly alarmReserveBytes: number;
  private readonly highWaterPct: number;
  private readonly file: OutboxFile;
  /** Telemetry committed but not yet fsynced ('full'): held back from sending. */
  private readonly unsynced = new Set<number>();
  private syncing = false;
  private syncAgain = false;

  /**
   * What the index held unacknowledged when a corrupt file was replaced while running, alarms
   * first, each lane in sequence order: salvaged from the moved file when the fault is reported.
   */
  private heldAtHeal: OutboxEntry[] | undefined;
  /** Salvages still copying telemetry: one per fault (a second fault does not stop the first). */
  private readonly salvages = new Set<SalvageRun>();
  private salvageWaiters: (() => void)[] = [];

  /** Items in flight are never shed (their ack may be on its way). */
  isPinned: (seq: number) => boolean = () => false;

  constructor(private readonly options: OutboxOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.telemetryMaxBytes = options.telemetryMaxBytes ?? OUTBOX_DEFAULTS.telemetryMaxBytes;
    this.alarmReserveBytes = options.alarmReserveBytes ?? OUTBOX_DEFAULTS.alarmReserveBytes;
    this.highWaterPct = options.highWaterPct ?? OUTBOX_DEFAULTS.highWaterPct;
    this.file = new OutboxFile({
      path: this.path,
      clock: this.clock,
      load: (db) => this.load(db),
      fault: (fault) => this.onFault(fault),
    });
  }

  get path(): string {
    return this.options.path ?? OUTBOX_DEFAULTS.path;
  }

  /** This file's epoch ('' before open). */
  get epoch(): string {
    return this.epoch_;
  }

  get durable(): boolean {
    return this.path !== ':memory:';
  }

  /**
   * Opens the file; a file SQLite reports as corrupt is moved aside and a fresh
   * one opened (reported through `onStorageFault`). Other failures (permissions,
   * a missing disk) throw, naming the file.
   */
  /** True between open() and close(). */
  get isOpen(): boolean {
    return this.file.isOpen;
  }

  open(): void {
    if (this.file.isOpen) return;
    this.file.open();
    // A reopen after close() reloads the index from the file: nothing to salvage then.
    this.heldAtHeal = undefined;
    if (!this.durable) {
      log.warn('uplink outbox in memory (no uplink.outbox.path): a restart loses the backlog');
    } else {
      this.checkFreeSpace(this.path);
    }
  }

  /**
   * Closes the file. A salvage still copying telemetry stops first: what it has not copied stays
   * in the moved file, counted unsent in its final report (`onSalvageEnd`, called from here).
   */
  close(): void {
    for (const run of [...this.salvages]) {
      run.stop('not copied before the outbox was closed (it stays in the moved file)');
    }
    this.file.close();
  }

  /** True while a salvage still copies telemetry from a moved file into this outbox. */
  get salvaging(): boolean {
    return this.salvages.size > 0;
  }

  /** Resolves when no salvage is running (at once when none is): for tests and orderly stops. */
  salvageSettled(): Promise<void> {
    if (this.salvages.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.salvageWaiters.push(resolve));
  }

  /** Appends an alarm event; `build` receives the item's sequence number and returns its payload. */
  appendAlarm(build: (seq: number) => string): OutboxEntry {
    const entry = this.append('alarm', build, 0, true);
    this.warnAlarmReserve();
    this.markSynced([...this.unsynced]); // the alarm's fsync covered every earlier commit
    return entry;
  }

  private warnAlarmReserve(): void {
    if (this.bytes.alarm > this.alarmReserveBytes && !this.alarmReserveWarned) {
      this.alarmReserveWarned = true;
      log.error(
        { bytes: this.bytes.alarm, reserve: this.alarmReserveBytes },
        'alarm lane outgrew its reserve; alarms are still kept (never shed)',
      );
    }
  }

  /**
   * Appends several alarm events in one FULL commit (one fsync for all of them):
   * the transitions one rule evaluation produced (a level-1 and a level-2 raise
   * from the same poll) need not pay one fsync each. All or none are stored;
   * the entries come back in the order of `builds`, with consecutive numbers.
   */
  appendAlarms(builds: readonly ((seq: number) => string)[]): OutboxEntry[] {
    if (builds.length === 0) return [];
    if (builds.length === 1) return [this.appendAlarm(builds[0]!)];
    const entries = this.file.healing(
      () => this.appendAlarmsOnce(builds),
      true,
      () => {
        throw new Error('unreachable');
      },
    );
    this.warnAlarmReserve();
    this.markSynced([...this.unsynced]); // the alarms' fsync covered every earlier commit
    return entries;
  }

  /** Appends a telemetry batch of `readings` readings, shedding old telemetry first if full. */
  appendTelemetry(build: (seq: number) => string, readings: number): OutboxEntry {
    // Committed now (a process crash cannot lose it); with 'full' its fsync runs off the
    // event loop and the item is held back until then (isSynced), so a slow disk never
    // stalls the loop that polls and raises alarms (issue 19).
    const entry = this.append('telemetry', build, readings, false);
    if ((this.options.telemetrySync ?? OUTBOX_DEFAULTS.telemetrySync) === 'full' && this.durable) {
      this.unsynced.add(entry.seq);
      this.syncTelemetry();
    }
    if (this.bytes.telemetry > this.telemetryMaxBytes) this.shed();
    this.checkHighWater();
    return entry;
  }

  /**
   * Whether an item may be sent: true unless it is telemetry whose fsync (with
   * `telemetrySync: 'full'`) has not completed yet; `onTelemetrySynced` tells when it has.
   */
  isSynced(seq: number): boolean {
    return !this.unsynced.has(seq);
  }

  /** Starts one background fsync for what is unsynced now; one at a time, the next one after it. */
  private syncTelemetry(): void {
    if (this.syncing) {
      this.syncAgain = true;
      return;
    }
    this.syncing = true;
    const covered = [...this.unsynced];
    const sync = this.options.syncFile ?? syncFileInBackground;
    sync(this.file.walPath, (err) => {
      this.syncing = false;
      if (!this.file.isOpen) return; // closed meanwhile: close() checkpoints and syncs
      if (err) {
        // Never send what may not be on disk: fall back to a FULL commit, which fsyncs the WAL.
        log.warn(
          { path: this.path, err: err.message },
          'background fsync of the outbox failed; syncing with a FULL commit instead',
        );
        try {
          this.file.withFullSync(() =>
            this.file.requireStatements().setMeta.run('syncedAt', this.clock.now()),
          );
        } catch (fullErr) {
          log.error({ path: this.path, err: fullErr }, 'outbox cannot be synced; retrying');
          this.syncAgain = true;
          setTimeout(() => this.retrySync(), 1_000).unref();
          return;
        }
      }
      this.markSynced(covered);
      this.retrySync();
    });
  }

  private retrySync(): void {
    if (!this.syncAgain || this.syncing || !this.file.isOpen) return;
    this.syncAgain = false;
    if (this.unsynced.size > 0) this.syncTelemetry();
  }

  private markSynced(seqs: Iterable<number>): void {
    const done: number[] = [];
    for (const seq of seqs) if (this.unsynced.delete(seq)) done.push(seq);
    if (done.length === 0) return;
    try {
      this.options.onTelemetrySynced?.(done);
    } catch (err) {
      log.error({ err }, 'outbox synced handler failed');
    }
  }

  /** The stored payload of one item, or undefined once it is acknowledged or shed. */
  payload(seq: number): string | undefined {
    return this.file.healing(
      () => this.file.requireStatements().payload.get(seq),
      false,
      () => undefined,
    );
  }

  /**
   * The payload of an item to send, or undefined: gone (acknowledged, shed), or
   * it does not read back as itself, in which case it is quarantined (kept in
   * the `quarantine` table, counted, never sent).
   */
  readBack(seq: number): string | undefined {
    const entry = this.entry(seq);
    if (!entry) return undefined;
    let payload: string | undefined;
    let problem: string | null;
    try {
      payload = this.payload(seq);
      if (payload === undefined) return undefined;
      problem = readBackProblem(payload, seq);
    } catch (err) {
      problem = `cannot be read: ${(err as Error).message}`;
    }
    if (problem === null) return payload;
    this.quarantine(entry, payload, problem);
    return undefined;
  }

  private quarantine(entry: OutboxEntry, payload: string | undefined, reason: string): void {
    const db = this.file.requireDb();
    const now = this.clock.now();
    try {
      db.transaction(() => {
        const statements = this.file.requireStatements();
        statements.quarantine.run(
          entry.seq,
          LANE_CODE[entry.lane],
          entry.createdAt,
          now,
          reason,
          payload ?? null,
        );
        statements.remove.run(entry.seq);
        statements.setMeta.run('quarantined', this.quarantined + 1);
      })();
    } catch (err) {
      // Not even the quarantine can be written: forget the item in memory so it is
      // never sent; it stays in the file for forensics and is retried after a restart.
      log.error({ err, seq: entry.seq, path: this.path }, 'cannot quarantine an outbox item');
    }
    this.quarantined++;
    this.forget(entry);
    log.error(
      {
        path: this.path,
        seq: entry.seq,
        lane: entry.lane,
        reason,
        totalQuarantined: this.quarantined,
      },
      'outbox item does not read back: quarantined, never sent',
    );
    try {
      this.options.onQuarantine?.({ seq: entry.seq, lane: entry.lane, reason }, this.stats());
    } catch (err) {
      log.error({ err }, 'outbox quarantine handler failed');
    }
  }

  has(seq: number): boolean {
    return this.lanes.alarm.has(seq) || this.lanes.telemetry.has(seq);
  }

  entry(seq: number): OutboxEntry | undefined {
    return this.lanes.alarm.get(seq) ?? this.lanes.telemetry.get(seq);
  }

  /** Entries of one lane in sequence order (a live view: do not remove while iterating). */
  entries(lane: OutboxLane): IterableIterator<OutboxEntry> {
    return this.lanes[lane].values();
  }

  size(lane: OutboxLane): number {
    return this.lanes[lane].size;
  }

  /** Removes acknowledged items in one transaction; unknown sequence numbers are ignored. */
  remove(seqs: readonly number[]): OutboxEntry[] {
    const removed: OutboxEntry[] = [];
    this.file.healing(
      () => {
        removed.length = 0;
        const { remove } = this.file.requireStatements();
        this.file.requireDb().transaction(() => {
          for (const seq of seqs) {
            const entry = this.entry(seq);
            if (!entry) continue;
            remove.run(seq);
            removed.push(entry);
          }
        })();
      },
      false,
      () => {
        removed.length = 0;
      },
    );
    for (const entry of removed) this.forget(entry);
    if (removed.length > 0) this.checkHighWater();
    return removed;
  }

  stats(): OutboxStats {
    const oldest = Math.min(
      this.first('alarm')?.createdAt ?? Number.POSITIVE_INFINITY,
      this.first('telemetry')?.createdAt ?? Number.POSITIVE_INFINITY,
    );
    return {
      alarms: { items: this.lanes.alarm.size, bytes: this.bytes.alarm },
      telemetry: {
        items: this.lanes.telemetry.size,
        bytes: this.bytes.telemetry,
        readings: this.telemetryReadings,
      },
      telemetryMaxBytes: this.telemetryMaxBytes,
      fillPct: Math.round((this.bytes.telemetry / this.telemetryMaxBytes) * 1000) / 10,
      highWater: this.highWater,
      dropped: { ...this.dropped },
      writeFailures: this.writeFailures,
      quarantined: this.quarantined,
      storageFaults: this.file.storageFaults,
      epoch: this.epoch_,
      oldestAgeMs: Number.isFinite(oldest) ? Math.max(0, this.clock.now() - oldest) : 0,
      nextSeq: this.nextSeq,
    };
  }

  /**
   * A sequence number for an item sent without the outbox (an alarm whose
   * append failed). Not persisted: only numbers inside the current durable
   * reservation are safe from reuse after a restart.
   */
  takeVolatileSeq(): number {
    return this.nextSeq++;
  }

  private append(
    lane: OutboxLane,
    build: (seq: number) => string,
    readings: number,
    full: boolean,
  ): OutboxEntry {
    // A corrupt file met here is moved aside and the item goes to the fresh one.
    return this.file.healing(
      () => this.appendOnce(lane, build, readings, full),
      true,
      () => {
        throw new Error('unreachable');
      },
    );
  }

  private appendOnce(
    lane: OutboxLane,
    build: (seq: number) => string,
    readings: number,
    full: boolean,
  ): OutboxEntry {
    const { insert } = this.file.requireStatements();
    const db = this.file.requireDb();
    const seq = this.nextSeq;
    const payload = build(seq);
    const entry: OutboxEntry = {
      seq,
      lane,
      bytes: Buffer.byteLength(payload),
      readings,
      createdAt: this.clock.now(),
    };
    const reserve = seq >= this.reservedSeq;
    const commit = () => {
      db.transaction(() => {
        insert.run(seq, LANE_CODE[lane], readings, entry.createdAt, payload);
        if (reserve) {
          this.file.requireStatements().setMeta.run('seqReserved', seq + OUTBOX_DEFAULTS.seqBlock);
        }
      })();
    };
    try {
      // A new reservation always commits FULL: the counter must never go back.
      if (full || reserve) this.file.withFullSync(commit);
      else commit();
    } catch (err) {
      if (isCorruption(err)) throw err; // healed by append()
      this.writeFailures++;
      throw new Error(
        `uplink outbox '${this.path}' cannot store ${lane} seq ${seq}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    this.nextSeq = seq + 1;
    if (reserve) this.reservedSeq = seq + OUTBOX_DEFAULTS.seqBlock;
    this.lanes[lane].set(seq, entry);
    this.bytes[lane] += entry.bytes;
    if (lane === 'telemetry') this.telemetryReadings += readings;
    return entry;
  }

  private appendAlarmsOnce(builds: readonly ((seq: number) => string)[]): OutboxEntry[] {
    const { insert, setMeta } = this.file.requireStatements();
    const db = this.file.requireDb();
    const first = this.nextSeq;
    const createdAt = this.clock.now();
    const items = builds.map((build, i) => {
      const payload = build(first + i);
      const entry: OutboxEntry = {
        seq: first + i,
        lane: 'alarm',
        bytes: Buffer.byteLength(payload),
        readings: 0,
        createdAt,
      };
      return { entry, payload };
    });
    const last = first + builds.length - 1;
    const reserve = last >= this.reservedSeq;
    try {
      this.file.withFullSync(() => {
        db.transaction(() => {
          for (const { entry, payload } of items) {
            insert.run(entry.seq, LANE_CODE.alarm, 0, createdAt, payload);
          }
          if (reserve) setMeta.run('seqReserved', last + OUTBOX_DEFAULTS.seqBlock);
        })();
      });
    } catch (err) {
      if (isCorruption(err)) throw err; // healed by appendAlarms()
      this.writeFailures += builds.length;
      throw new Error(
        `uplink outbox '${this.path}' cannot store alarms seq ${first}..${last}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    this.nextSeq = last + 1;
    if (reserve) this.reservedSeq = last + OUTBOX_DEFAULTS.seqBlock;
    for (const { entry } of items) {
      this.lanes.alarm.set(entry.seq, entry);
      this.bytes.alarm += entry.bytes;
    }
    return items.map((i) => i.entry);
  }

  /**
   * Thins the oldest telemetry until the lane fits: among the oldest quarter of
   * the backlog (at least two batches), every other batch is dropped, so old
   * data loses resolution before recent data is touched.
   */
  private shed(): void {
    const db = this.file.requireDb();
    const { remove, setMeta } = this.file.requireStatements();
    let batches = 0;
    let readings = 0;
    while (this.bytes.telemetry > this.telemetryMaxBytes && this.lanes.telemetry.size > 1) {
      const window = Math.max(
        2,
        Math.ceil(this.lanes.telemetry.size * OUTBOX_DEFAULTS.shedFraction),
      );
      const victims: OutboxEntry[] = [];
      let index = 0;
      for (const entry of this.lanes.telemetry.values()) {
        if (index >= window) break;
        if (this.isPinned(entry.seq)) continue;
        if (index % 2 === 1) victims.push(entry);
        index++;
      }
      if (victims.length === 0) break;
      db.transaction(() => {
        for (const entry of victims) remove.run(entry.seq);
        this.dropped.batches += victims.length;
        this.dropped.readings += victims.reduce((n, e) => n + e.readings, 0);
        setMeta.run('droppedBatches', this.dropped.batches);
        setMeta.run('droppedReadings', this.dropped.readings);
      })();
      for (const entry of victims) {
        this.forget(entry);
        batches++;
        readings += entry.readings;
      }
    }
    if (batches === 0) return;
    const stats = this.stats();
    log.warn(
      {
        droppedBatches: batches,
        droppedReadings: readings,
        totalDroppedBatches: stats.dropped.batches,
        totalDroppedReadings: stats.dropped.readings,
        telemetryBytes: stats.telemetry.bytes,
      },
      'uplink outbox full: thinned the oldest telemetry',
    );
    this.options.onShed?.({ batches, readings }, stats);
  }

  private checkHighWater(): void {
    const pct = (this.bytes.telemetry / this.telemetryMaxBytes) * 100;
    if (!this.highWater && pct >= this.highWaterPct) {
      this.highWater = true;
      const stats = this.stats();
      log.warn(
        {
          fillPct: stats.fillPct,
          bytes: stats.telemetry.bytes,
          readings: stats.telemetry.readings,
        },
        'uplink outbox above its high-water mark',
      );
      this.options.onHighWater?.(true, stats);
    } else if (this.highWater && pct < this.highWaterPct - OUTBOX_DEFAULTS.highWaterHysteresisPct) {
      this.highWater = false;
      const stats = this.stats();
      log.info({ fillPct: stats.fillPct }, 'uplink outbox back below its high-water mark');
      this.options.onHighWater?.(false, stats);
    }
  }

  private forget(entry: OutboxEntry): void {
    this.unsynced.delete(entry.seq);
    if (!this.lanes[entry.lane].delete(entry.seq)) return;
    this.bytes[entry.lane] -= entry.bytes;
    if (entry.lane === 'telemetry') this.telemetryReadings -= entry.readings;
  }

  private first(lane: OutboxLane): OutboxEntry | undefined {
    for (const entry of this.lanes[lane].values()) return entry;
    return undefined;
  }

  private load(db: Database.Database): void {
    // Numbers handed out in this process stay behind us, also when a healed file starts afresh.
    const handedOut = this.nextSeq;
    // A reopen starts from the file, never from what an earlier open left in memory. What that
    // memory still held unacknowledged is salvaged from the moved file when the fault is reported.
    if (this.lanes.alarm.size > 0 || this.lanes.telemetry.size > 0) {
      this.heldAtHeal = [...this.lanes.alarm.values(), ...this.lanes.telemetry.values()];
    }
    this.unsynced.clear();
    this.lanes.alarm.clear();
    this.lanes.telemetry.clear();
    this.bytes.alarm = 0;
    this.bytes.telemetry = 0;
    this.telemetryReadings = 0;
    const { meta, rows } = readOutboxFile(db);
    this.dropped = {
      batches: Number(meta.get('droppedBatches') ?? 0),
      readings: Number(meta.get('droppedReadings') ?? 0),
    };
    this.quarantined = Number(meta.get('quarantined') ?? 0);
    const epoch = meta.get('epoch');
    if (typeof epoch === 'string' && epoch.length > 0) {
      this.epoch_ = epoch;
    } else {
      // A new file, or one made before epochs: its epoch starts now, durably.
      this.epoch_ = newEpoch();
      this.file.withFullSync(() => this.file.requireStatements().setMeta.run('epoch', this.epoch_));
    }
    let maxSeq = -1;
    for (const row of rows) {
      const lane: OutboxLane = row.lane === LANE_CODE.alarm ? 'alarm' : 'telemetry';
      const entry: OutboxEntry = {
        seq: row.seq,
        lane,
        bytes: row.bytes,
        readings: row.readings,
        createdAt: row.created_at,
      };
      this.lanes[lane].set(row.seq, entry);
      this.bytes[lane] += row.bytes;
      if (lane === 'telemetry') this.telemetryReadings += row.readings;
      maxSeq = row.seq;
    }
    const reserved = meta.get('seqReserved');
    // Resume above everything handed out before: the reservation covers numbers
    // whose items a power cut may have rolled back.
    this.nextSeq =
      reserved !== undefined ? Math.max(Number(reserved), maxSeq + 1) : this.clock.now() * 1000;
    this.nextSeq = Math.max(this.nextSeq, handedOut);
    this.reservedSeq = this.nextSeq;
    if (rows.length > 0) {
      const stats = this.stats();
      log.info(
        {
          path: this.path,
          alarms: stats.alarms.items,
          telemetryBatches: stats.telemetry.items,
          telemetryReadings: stats.telemetry.readings,
        },
        'uplink outbox reopened with a backlog',
      );
    }
    this.highWater = (this.bytes.telemetry / this.telemetryMaxBytes) * 100 >= this.highWaterPct;
  }

  /**
   * A corrupt file was moved aside and a fresh one opened. When the index held items (the fault
   * came while running), they are salvaged from the moved file into this outbox, under new
   * sequence numbers and this epoch, each chunk in one FULL commit (on disk before it is sent):
   * - the alarms now, before the fault is reported, so they stay ahead of every item appended
   *   after the fault (an append that met the corruption is retried after this returns);
   * - the telemetry over the next event-loop turns (SalvageRun), so a backlog of up to the whole
   *   telemetry bound never holds the loop that polls and raises alarms. Items appended
   *   meanwhile get lower numbers than the telemetry salvaged after them: the server stores each
   *   reading by (gateway, sensor, ts), so the order of telemetry across them does not matter.
   * `onStorageFault` fires now (the storage-fault alarm must not wait for the copy) with the
   * alarm lane's final counts and the telemetry still to copy as `pending`; `onSalvageEnd`
   * follows with the final counts once the telemetry is copied (or the outbox closed).
   */
  private onFault(fault: OutboxStorageFault): void {
    const held = this.heldAtHeal;
    this.heldAtHeal = undefined;
    let report: OutboxStorageFault = fault;
    let run: SalvageRun | undefined;
    if (held) {
      run = new SalvageRun(fault.movedTo, held, {
        commit: (items, late) => this.commitSalvaged(items, late),
        end: (ended) => this.salvageEnded(fault, ended),
      });
      run.copyAlarms();
      report = {
        ...fault,
        salvaged: { ...run.salvaged },
        unsent: { ...run.unsent },
        ...(run.hasTelemetry ? { pending: { readings: run.pendingReadings } } : {}),
      };
      if (run.hasTelemetry) this.salvages.add(run);
    }
    try {
      this.options.onStorageFault?.(report, this.stats());
    } catch (err) {
      log.error({ err }, 'outbox storage-fault handler failed');
    }
    // Without telemetry the run ends here, and its end only logs (the report above was final).
    run?.start();
  }

  /**
   * One chunk of salvaged items. The alarms (inside the fault) are not retried through healing: a
   * fresh file that fails too would loop. A later telemetry chunk is: a second fault moves this
   * file aside too (and salvages what it held), and the chunk goes to the next fresh file.
   */
  private commitSalvaged(items: readonly SalvagedItem[], late: boolean): void {
    if (!late) {
      this.appendSalvaged(items);
      return;
    }
    const entries = this.file.healing(
      () => this.appendSalvaged(items),
      true,
      () => {
        throw new Error('unreachable');
      },
    );
    this.checkHighWater();
    this.markSynced([...this.unsynced]); // the chunk's fsync covered every earlier commit
    try {
      this.options.onSalvaged?.(entries.map((e) => e.seq));
    } catch (err) {
      log.error({ err }, 'outbox salvaged handler failed');
    }
  }

  private salvageEnded(fault: OutboxStorageFault, run: SalvageRun): void {
    const wasRunning = this.salvages.delete(run);
    this.checkHighWater();
    const final: OutboxStorageFault = {
      ...fault,
      salvaged: { ...run.salvaged },
      unsent: { ...run.unsent },
    };
    const summary = describeStorageFault(final);
    const fields = {
      path: this.path,
      movedTo: fault.movedTo,
      salvaged: run.salvaged,
      unsent: run.unsent,
      lost: run.lost,
      lostItems: run.lostItems,
    };
    if (run.lostItems > 0) log.error(fields, `corrupt uplink outbox: ${summary}`);
    else log.warn(fields, `corrupt uplink outbox: ${summary}`);
    if (wasRunning) {
      try {
        this.options.onSalvageEnd?.(final, this.stats());
      } catch (err) {
        log.error({ err }, 'outbox salvage-end handler failed');
      }
    }
    if (this.salvages.size === 0) for (const resolve of this.salvageWaiters.splice(0)) resolve();
  }

  /** One FULL commit of salvaged items under the next sequence numbers; the index after it. */
  private appendSalvaged(items: readonly SalvagedItem[]): OutboxEntry[] {
    const { insert, setMeta } = this.file.requireStatements();
    const db = this.file.requireDb();
    const first = this.nextSeq;
    const last = first + items.length - 1;
    const reserve = last >= this.reservedSeq;
    const entries = items.map(({ entry, payload }, i): [OutboxEntry, string] => {
      const stamped = restamp(payload, first + i, this.epoch_);
      // createdAt stays the original: the item's age is how long it has waited.
      return [{ ...entry, seq: first + i, bytes: Buffer.byteLength(stamped) }, stamped];
    });
    this.file.withFullSync(() => {
      db.transaction(() => {
        for (const [entry, payload] of entries) {
          insert.run(entry.seq, LANE_CODE[entry.lane], entry.readings, entry.createdAt, payload);
        }
        if (reserve) setMeta.run('seqReserved', last + OUTBOX_DEFAULTS.seqBlock);
      })();
    });
    this.nextSeq = last + 1;
    if (reserve) this.reservedSeq = last + OUTBOX_DEFAULTS.seqBlock;
    for (const [entry] of entries) {
      this.lanes[entry.lane].set(entry.seq, entry);
      this.bytes[entry.lane] += entry.bytes;
      if (entry.lane === 'telemetry') this.telemetryReadings += entry.readings;
    }
    return entries.map(([entry]) => entry);
  }

  private checkFreeSpace(path: string): void {
    const free = freeBytes(path);
    const need = this.telemetryMaxBytes + this.alarmReserveBytes - this.bytes.telemetry;
    if (free !== null && free < need) {
      log.warn(
        { path, freeBytes: free, neededBytes: need },
        'less free disk space than the outbox bounds: shedding may start early as writes fail',
      );
    }
  }
}
