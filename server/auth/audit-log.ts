/**
 * Security audit log: one JSON object per line (JSONL), append-only, for
 * every refused connection, publish or subscription, every dropped client and
 * every rejected payload (malformed, oversized, NaN/infinite, wrong types,
 * implausible timestamps).
 *
 * Bounded, so that a flood of bad input cannot fill the disk or slow ingest:
 * - size: when the file passes `maxBytes` it is renamed to `<path>.1`
 *   (replacing the previous one) and a new file starts: at most 2 × maxBytes;
 * - rate: at most `maxRecordsPerSecond` records a second are written; the
 *   rest are counted and summarised in one `suppressed` record a second later;
 * - record size: strings are cut to `maxFieldChars`.
 * Each record is one synchronous append (O_APPEND) of a few hundred bytes; the
 * rate limit bounds that to well under a millisecond of I/O per second, and a
 * record is on disk once `record()` returns. The newest `recentLimit` records
 * are also kept in memory (`recent()`).
 *
 * Lifecycle: `start()` opens the file (creating its directory); `stop()`
 * writes the last summary, flushes and closes; safe twice. With `path: null`
 * records are only kept in memory (tests, ':memory:' stores).
 */
import { closeSync, fstatSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Clock } from '../../common/clock.js';
import { systemClock } from '../../common/clock.js';
import { createLogger } from '../../common/logger.js';

const log = createLogger('server.audit');

export const AUDIT_LOG_DEFAULTS = {
  maxBytes: 10 * 1024 * 1024, // 10 MiB per file, one rotated file kept
  maxRecordsPerSecond: 200, // records written per second; the rest summarised
  maxFieldChars: 300, // longest string kept in a record
  recentLimit: 1_000, // records kept in memory
} as const;

/** 'fleet': enrolment, revocation, pushed versions, remote commands and their results. */
export type AuditCategory = 'broker' | 'ingest' | 'fleet';

export interface AuditRecord {
  /** ISO 8601 server time. */
  time: string;
  category: AuditCategory;
  /** What happened: 'connect-refused', 'publish-refused', 'rejected', 'suppressed', ... */
  event: string;
  reason: string;
  clientId?: string;
  username?: string;
  gatewayId?: string;
  remoteAddress?: string;
  topic?: string;
  detail?: string;
  payloadBytes?: number;
  /** For 'suppressed': how many records the rate limit held back. */
  count?: number;
}

export type AuditInput = Omit<AuditRecord, 'time'>;

export interface AuditLogOptions {
  /** JSONL file; null keeps records in memory only. */
  path: string | null;
  maxBytes?: number;
  maxRecordsPerSecond?: number;
  clock?: Clock;
}

export class AuditLog {
  private fd: number | null = null;
  private file = '';
  private bytes = 0;
  private readonly recentRecords: AuditRecord[] = [];
  private windowStart = 0;
  private writtenInWindow = 0;
  private suppressed = 0;
  private summaryTimer: NodeJS.Timeout | null = null;
  private total = 0;
  private readonly clock: Clock;

  constructor(private readonly options: AuditLogOptions) {
    this.clock = options.clock ?? systemClock;
  }

  /** Records accepted since start (written or summarised). */
  get recorded(): number {
    return this.total;
  }

  async start(): Promise<void> {
    if (this.fd !== null || this.options.path === null) return;
    this.file = resolve(this.options.path);
    try {
      mkdirSync(dirname(this.file), { recursive: true });
      this.fd = openSync(this.file, 'a', 0o640);
      this.bytes = fstatSync(this.fd).size;
    } catch (err) {
      throw new Error(`cannot open audit log '${this.file}': ${(err as Error).message}`, {
        cause: err,
      });
    }
    log.info({ path: this.file }, 'audit log open');
  }

  /** Appends one record (or counts it when over the rate limit). Never throws. */
  record(input: AuditInput): void {
    this.total++;
    const now = this.clock.now();
    if (now - this.windowStart >= 1_000) {
      this.windowStart = now;
      this.writtenInWindow = 0;
    }
    const limit = this.options.maxRecordsPerSecond ?? AUDIT_LOG_DEFAULTS.maxRecordsPerSecond;
    if (this.writtenInWindow >= limit) {
      this.suppressed++;
      if (!this.summaryTimer) {
        this.summaryTimer = setTimeout(() => this.flushSummary(), 1_000);
        this.summaryTimer.unref();
      }
      return;
    }
    this.writtenInWindow++;
    this.append({ time: new Date(now).toISOString(), ...clip(input) });
  }

  /** The newest records, oldest first. */
  recent(): AuditRecord[] {
    return [...this.recentRecords];
  }

  async stop(): Promise<void> {
    if (this.summaryTimer) {
      clearTimeout(this.summaryTimer);
      this.summaryTimer = null;
    }
    this.flushSummary();
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  private flushSummary(): void {
    this.summaryTimer = null;
    if (this.suppressed === 0) return;
    const count = this.suppressed;
    this.suppressed = 0;
    this.append({
      time: new Date(this.clock.now()).toISOString(),
      category: 'ingest',
      event: 'suppressed',
      reason: 'audit rate limit reached; records counted, not written',
      count,
    });
  }

  private append(record: AuditRecord): void {
    this.recentRecords.push(record);
    if (this.recentRecords.length > AUDIT_LOG_DEFAULTS.recentLimit) this.recentRecords.shift();
    if (this.fd === null) return;
    const line = Buffer.from(`${JSON.stringify(record)}\n`);
    const maxBytes = this.options.maxBytes ?? AUDIT_LOG_DEFAULTS.maxBytes;
    try {
      if (this.bytes > 0 && this.bytes + line.length > maxBytes) this.rotate();
      writeSync(this.fd, line);
      this.bytes += line.length;
    } catch (err) {
      log.error({ err, path: this.file }, 'audit log write failed');
    }
  }

  /** `<path>` → `<path>.1` (replacing it), then a new `<path>`. */
  private rotate(): void {
    closeSync(this.fd!);
    this.fd = null;
    renameSync(this.file, `${this.file}.1`);
    this.fd = openSync(this.file, 'a', 0o640);
    this.bytes = 0;
  }
}

function clip(input: AuditInput): AuditInput {
  const max = AUDIT_LOG_DEFAULTS.maxFieldChars;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input)) {
    if (value === undefined) continue;
    out[key] = typeof value === 'string' && value.length > max ? `${value.slice(0, max)}…` : value;
  }
  return out as unknown as AuditInput;
}
