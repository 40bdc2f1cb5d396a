/**
 * The disposal ledger proves itself (issue 13): one verification used by the API route, the CLI
 * (server/ledger-verify.ts) and a periodic self-check, plus the anchoring of the chain head.
 *
 * What verify checks, and what each check finds (docs/ledger.md):
 * 1. the keyed chain (seqs contiguous from 1, prev_hash links, HMAC of each row): a row changed
 *    or inserted by someone without the key, a row removed from the middle;
 * 2. the projection: `alarm_dispositions` rebuilt from the chain and compared field by field: a
 *    forged disposition row (e.g. 'closed' with no 'closed' step);
 * 3. the anchors: every anchored (seq, hash) must still be in the chain: the newest rows deleted
 *    (truncation), or rows rewritten with hashes recomputed by someone holding the key;
 *    anchors whose MAC is wrong are reported as forged;
 * 4. the anchor chain and its freshness (issue 13 review): each anchor links to the one before it
 *    (a deleted anchor line breaks the link), there must be anchors at all when the chain has
 *    rows (the server anchors at start, so a missing or emptied file is a failure), and rows after
 *    the newest anchor are legitimate only while that anchor is younger than `staleAfterMs`
 *    (twice the longer of the anchor interval and the heartbeat): older, the anchors that covered
 *    them were deleted or anchoring stopped. A running server (`expectFresh`) must also have an
 *    anchor younger than that, rows after it or not: it anchors what is due (head moved,
 *    heartbeat) before it verifies, so a stale anchor means the file cannot be written.
 * `brokenAt` is the first bad seq found by any of them.
 *
 * Lifecycle of {@link LedgerIntegrity}: `start()` arms two unref'd timers (anchor every
 * `anchorIntervalMs`, verify every `verifyIntervalMs`); `stop()` writes a last anchor and clears
 * them; safe twice. `anchorNow()` and `verifyNow()` may be called directly (tests, the API).
 */
import type { Clock } from '../../common/clock.js';
import { systemClock } from '../../common/clock.js';
import { createLogger, type Logger } from '../../common/logger.js';
import type { DisposalLedger, VerifyResult } from './disposal.js';
import {
  ANCHOR_GENESIS,
  type AnchorFile,
  anchorMacValid,
  type LedgerAnchor,
  makeAnchor,
} from './ledger-anchors.js';

const log = createLogger('server.ledger');

export const LEDGER_INTEGRITY_DEFAULTS = {
  anchorIntervalMs: 60_000, // 1 min: rows newer than the last anchor can be truncated unseen
  // 10 min: an anchor even when the head has not moved, so a running server's newest anchor is
  // never older than this (plus one interval) and a stale anchor file is evidence, not idleness.
  heartbeatMs: 10 * 60_000,
  verifyIntervalMs: 60 * 60_000, // 1 h between self-checks (a full chain replay)
  anchorTopic: 'hazardwatch/ledger/anchor', // retained; outside hazardwatch/v1/<ent>/<gw>/...
  name: 'disposal ledger', // what the log lines call the chain
} as const;

/**
 * Retained topic of the hazard chain's anchors (issue 16), beside the disposal ledger's: an
 * external witness subscribes to both. The server's own publication, never a gateway's.
 */
export const HAZARD_ANCHOR_TOPIC = 'hazardwatch/ledger/hazard-anchor';

export interface IntegrityResult extends VerifyResult {
  /** Every problem found (chain, projection, anchors), most telling first. */
  problems: string[];
  anchors: { checked: number; lastAnchoredSeq: number | null; problems: string[] };
  /** ISO 8601. */
  checkedAt: string;
}

type Chain = Pick<DisposalLedger, 'verify' | 'hashAt' | 'head'>;

/** How fresh the anchors must be (see the module comment, check 4). */
export interface AnchorFreshness {
  /** Rows after the newest anchor are a failure once that anchor is older than this (ms). */
  staleAfterMs: number;
  /** A running server: the newest anchor must be younger than staleAfterMs in any case. */
  expectFresh: boolean;
}

/** 2 × max(interval, heartbeat): one anchor may be late by a whole interval without a false alarm. */
export function staleAfterMs(
  anchorIntervalMs: number = LEDGER_INTEGRITY_DEFAULTS.anchorIntervalMs,
  heartbeatMs: number = LEDGER_INTEGRITY_DEFAULTS.heartbeatMs,
): number {
  return 2 * Math.max(anchorIntervalMs, heartbeatMs);
}

/** `at` of an anchor as epoch ms (NaN when unreadable: then it counts as stale). */
function anchorTime(anchor: LedgerAnchor): number {
  return Date.parse(anchor.at);
}

/** Anchors with a valid MAC, each once (the file and a witness's copy overlap), in chain order. */
function chainOrder(anchors: readonly LedgerAnchor[]): LedgerAnchor[] {
  const unique = new Map<string, LedgerAnchor>();
  for (const anchor of anchors) unique.set(anchor.mac, anchor);
  // Seqs never go down on a sound chain, and heartbeats repeat a seq with a later `at`.
  return [...unique.values()].sort((a, b) => a.seq - b.seq || anchorTime(a) - anchorTime(b));
}

/** Chain + projection (DisposalLedger.verify) + anchors; see the module comment. */
export async function verifyLedger(
  disposal: Chain,
  key: Buffer,
  anchors: readonly LedgerAnchor[],
  now: number,
  anchorReadProblems: readonly string[] = [],
  freshness: AnchorFreshness = { staleAfterMs: staleAfterMs(), expectFresh: false },
): Promise<IntegrityResult> {
  const chain = await disposal.verify();
  const problems: string[] = chain.reason ? [`row ${chain.brokenAt}: ${chain.reason}`] : [];
  const anchorProblems: string[] = [...anchorReadProblems];
  let brokenAt = chain.brokenAt;
  const worse = (seq: number) => {
    brokenAt = brokenAt === null ? seq : Math.min(brokenAt, seq);
  };
  const headSeq = chain.head?.seq ?? 0;
  let lastGood = 0;
  let lastAnchoredSeq: number | null = null;
  const valid: LedgerAnchor[] = [];
  for (const anchor of anchors) {
    if (anchorMacValid(key, anchor)) valid.push(anchor);
    else {
      anchorProblems.push(
        `anchor of row ${anchor.seq} at ${anchor.at}: MAC does not match (forged anchor, or another key)`,
      );
    }
  }
  const ordered = chainOrder(valid);
  for (const anchor of ordered) {
    lastAnchoredSeq = Math.max(lastAnchoredSeq ?? 0, anchor.seq);
    const hash = await disposal.hashAt(anchor.seq);
    if (hash === undefined) {
      const from = Math.min(headSeq, anchor.seq - 1) + 1;
      problems.push(
        `rows ${from}..${anchor.seq} were anchored at ${anchor.at} and are gone (the chain ends at ${headSeq}): truncated`,
      );
      worse(from);
      break; // later anchors are gone too
    }
    if (hash !== anchor.hash) {
      // With the key, the MACs were recomputed: the damage is after the last anchor that still
      // matches (the chain check has located it exactly when the key was not used).
      problems.push(
        `row ${anchor.seq} differs from its anchor of ${anchor.at}: rows ${lastGood + 1}..${anchor.seq} were rewritten`,
      );
      worse(
        chain.brokenAt !== null && chain.brokenAt <= anchor.seq ? chain.brokenAt : lastGood + 1,
      );
      break;
    }
    lastGood = anchor.seq;
  }
  // Check 4: the links between anchors. Pre-chain anchors (no `prev`) may only come first.
  let chained = false;
  for (let i = 0; i < ordered.length; i++) {
    const anchor = ordered[i]!;
    const before = ordered[i - 1];
    if (anchor.prev === undefined) {
      if (chained) {
        anchorProblems.push(
          `anchor of row ${anchor.seq} at ${anchor.at}: unchained anchor after chained ones`,
        );
      }
      continue;
    }
    chained = true;
    const expected = before?.mac ?? ANCHOR_GENESIS;
    if (anchor.prev !== expected) {
      const since = before ? `the anchor of row ${before.seq} at ${before.at}` : 'the start';
      problems.push(
        `anchor of row ${anchor.seq} at ${anchor.at} does not follow ${since}: anchor lines between them were deleted`,
      );
      worse((before?.seq ?? 0) + 1);
    }
  }
  const newest = ordered[ordered.length - 1];
  if (newest === undefined) {
    if (headSeq > 0) {
      problems.push(
        `no anchors (file missing or empty) while the chain has ${headSeq} rows: the anchor file was deleted or emptied`,
      );
      worse(1);
    }
  } else {
    const age = now - anchorTime(newest);
    const stale = !(age <= freshness.staleAfterMs);
    const ageText = `${Math.round(age / 60_000)} min`;
    if (stale && headSeq > newest.seq) {
      problems.push(
        `rows ${newest.seq + 1}..${headSeq} are unanchored and the newest anchor (row ${newest.seq}, ${newest.at}) is ${ageText} old (limit ${Math.round(freshness.staleAfterMs / 60_000)} min): later anchors deleted, or anchoring stopped`,
      );
      worse(newest.seq + 1);
    } else if (stale && freshness.expectFresh) {
      problems.push(
        `the newest anchor (row ${newest.seq}, ${newest.at}) is ${ageText} old although the server anchors at least every ${Math.round(freshness.staleAfterMs / 2 / 60_000)} min: later anchors deleted, or anchoring fails`,
      );
    }
  }
  problems.push(...anchorProblems);
  const ok = problems.length === 0;
  return {
    ...chain,
    ok,
    brokenAt: ok ? null : brokenAt,
    reason: ok ? null : (problems[0] ?? null),
    problems,
    anchors: { checked: anchors.length, lastAnchoredSeq, problems: anchorProblems },
    checkedAt: new Date(now).toISOString(),
  };
}

export interface LedgerIntegrityOptions {
  /** The chain's name in log lines ('disposal ledger', 'hazard ledger'); default 'disposal ledger'. */
  name?: string;
  /** Where the log lines go (default the `server.ledger` logger); tests pass their own. */
  logger?: Pick<Logger, 'info' | 'warn' | 'error'>;
  disposal: Chain;
  key: Buffer;
  anchorFile: AnchorFile;
  /** Publishes retained on the server's broker; absent: no MQTT witness. */
  publish?: (topic: string, payload: string) => Promise<void>;
  anchorTopic?: string;
  anchorIntervalMs?: number;
  /** An anchor at least this often even when the head has not moved (default 10 min). */
  heartbeatMs?: number;
  verifyIntervalMs?: number;
  clock?: Clock;
  /** Runs once when a self-check fails after passing (or at the first failing check). */
  onFailure?: (result: IntegrityResult) => void;
}

export class LedgerIntegrity {
  private anchorTimer: NodeJS.Timeout | null = null;
  private verifyTimer: NodeJS.Timeout | null = null;
  private lastAnchoredHash: string | null = null;
  /** MAC and time of the newest anchor written (read from the file at the first anchor). */
  private lastAnchor: { mac: string; at: number } | null = null;
  private readonly clock: Clock;
  /** The last self-check (null before the first). */
  lastResult: IntegrityResult | null = null;
  anchorsWritten = 0;
  private publishing: Promise<void> = Promise.resolve();
  /** The anchor being made (anchorNow runs one at a time). */
  private anchoring: Promise<unknown> = Promise.resolve();
  failures = 0;

  private readonly log: Pick<Logger, 'info' | 'warn' | 'error'>;

  constructor(private readonly options: LedgerIntegrityOptions) {
    this.clock = options.clock ?? systemClock;
    this.log = options.logger ?? log;
  }

  /** The chain's name in log lines. */
  get name(): string {
    return this.options.name ?? LEDGER_INTEGRITY_DEFAULTS.name;
  }

  get anchorTopic(): string {
    return this.options.anchorTopic ?? LEDGER_INTEGRITY_DEFAULTS.anchorTopic;
  }

  /**
   * Anchors the head at once when it moved since the newest anchor in the file (a crash can leave
   * up to one interval of rows unanchored), then arms the timers.
   */
  async start(): Promise<void> {
    if (this.anchorTimer) return;
    try {
      await this.anchorNow({ publish: false });
    } catch (err) {
      this.log.error({ err, ledger: this.name }, `${this.name} first anchor failed`);
    }
    if (this.anchorTimer) return; // started twice meanwhile
    // The timers' work is asynchronous: a rejection is logged, never left unhandled.
    const guard = (what: string, fn: () => Promise<unknown>) => () => {
      fn().catch((err: unknown) => {
        this.log.error({ err, ledger: this.name }, `${this.name} ${what} failed`);
      });
    };
    this.anchorTimer = setInterval(
      guard('anchor', () => this.anchorNow()),
      this.options.anchorIntervalMs ?? LEDGER_INTEGRITY_DEFAULTS.anchorIntervalMs,
    );
    this.verifyTimer = setInterval(
      guard('self-check', () => this.verifyNow()),
      this.options.verifyIntervalMs ?? LEDGER_INTEGRITY_DEFAULTS.verifyIntervalMs,
    );
    this.anchorTimer.unref();
    this.verifyTimer.unref();
  }

  /**
   * Clears the timers and anchors the head one last time (a clean stop leaves no unanchored
   * rows), to the file and the log only: the broker has stopped by then (the central server
   * publishes a last anchor with `anchorNow()` before it stops the broker).
   */
  async stop(): Promise<void> {
    if (this.anchorTimer) clearInterval(this.anchorTimer);
    if (this.verifyTimer) clearInterval(this.verifyTimer);
    this.anchorTimer = null;
    this.verifyTimer = null;
    try {
      await this.anchorNow({ publish: false });
    } catch (err) {
      this.log.error({ err, ledger: this.name }, `last ${this.name} anchor failed`);
    }
  }

  /**
   * Anchors the head when it moved since the last anchor, or when the last anchor is a heartbeat
   * old; returns the anchor written, if any. Each anchor links to the one before it.
   */
  anchorNow(options: { publish?: boolean } = {}): Promise<LedgerAnchor | null> {
    // One at a time: two anchors made from the same last link would fork the anchor chain
    // (reading the head is asynchronous now, so a timer's and stop()'s could interleave).
    const run = this.anchoring.then(() => this.anchorOnce(options));
    this.anchoring = run.catch(() => {});
    return run;
  }

  private async anchorOnce(options: { publish?: boolean }): Promise<LedgerAnchor | null> {
    const head = await this.options.disposal.head();
    if (head === null) return null; // nothing to anchor yet
    const now = this.clock.now();
    const last = this.lastAnchorLink();
    const heartbeat = this.options.heartbeatMs ?? LEDGER_INTEGRITY_DEFAULTS.heartbeatMs;
    const moved = head.hash !== this.lastAnchoredHash;
    const due = last === null || now - last.at >= heartbeat;
    if (!moved && !due) return null;
    const anchor = makeAnchor(this.options.key, head.seq, head.hash, now, last?.mac);
    this.options.anchorFile.append(anchor);
    this.lastAnchoredHash = head.hash;
    this.lastAnchor = { mac: anchor.mac, at: now };
    this.anchorsWritten++;
    this.log.info(
      { ledger: this.name, seq: anchor.seq, hash: anchor.hash, at: anchor.at },
      `${this.name} anchor`,
    );
    if (options.publish === false || !this.options.publish) return anchor;
    this.publishing = this.options
      .publish(this.anchorTopic, JSON.stringify(anchor))
      .catch((err: unknown) => {
        this.log.warn(
          { err, ledger: this.name, topic: this.anchorTopic },
          `${this.name} anchor not published on MQTT (kept in the file and the log)`,
        );
      });
    return anchor;
  }

  /**
   * The anchor a new one links to: the one this process wrote last, else the newest in the file
   * (a restart continues the chain). A missing or empty file starts a new anchor chain: deleted
   * while the server was down, that is seen only by the MQTT witness and the log (docs/ledger.md).
   */
  private lastAnchorLink(): { mac: string; at: number } | null {
    if (this.lastAnchor) return this.lastAnchor;
    const { anchors } = this.options.anchorFile.read();
    const ordered = chainOrder(anchors.filter((a) => anchorMacValid(this.options.key, a)));
    const newest = ordered[ordered.length - 1];
    if (newest) {
      this.lastAnchoredHash = newest.hash;
      this.lastAnchor = { mac: newest.mac, at: anchorTime(newest) };
      return this.lastAnchor;
    }
    return null;
  }

  /** Resolves when the last anchor's MQTT publish has completed (or failed and been logged). */
  published(): Promise<void> {
    return this.publishing;
  }

  /**
   * Full verification against the anchor file; on a new failure, logs and calls onFailure.
   * Anchors first when an anchor is due (head moved, heartbeat): a running server's own anchors
   * are then fresh unless writing them fails, and one linked to lines deleted since shows.
   */
  async verifyNow(): Promise<IntegrityResult> {
    try {
      await this.anchorNow();
    } catch (err) {
      this.log.error({ err, ledger: this.name }, `${this.name} anchor before verify failed`);
    }
    const { anchors, problems } = this.options.anchorFile.read();
    const stale = staleAfterMs(this.options.anchorIntervalMs, this.options.heartbeatMs);
    const result = await verifyLedger(
      this.options.disposal,
      this.options.key,
      anchors,
      this.clock.now(),
      problems,
      {
        staleAfterMs: stale,
        expectFresh: true,
      },
    );
    const wasOk = this.lastResult?.ok ?? true;
    this.lastResult = result;
    if (!result.ok) {
      this.failures++;
      this.log.error(
        {
          ledger: this.name,
          brokenAt: result.brokenAt,
          problems: result.problems.slice(0, 5),
          rows: result.rows,
        },
        `${this.name} verification FAILED`,
      );
      if (wasOk) this.options.onFailure?.(result);
    }
    return result;
  }
}
