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
 *    anchors whose MAC is wrong are reported as forged.
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
  type AnchorFile,
  anchorMacValid,
  type LedgerAnchor,
  makeAnchor,
} from './ledger-anchors.js';

const log = createLogger('server.ledger');

export const LEDGER_INTEGRITY_DEFAULTS = {
  anchorIntervalMs: 60_000, // 1 min: rows newer than the last anchor can be truncated unseen
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

/** Chain + projection (DisposalLedger.verify) + anchors; see the module comment. */
export function verifyLedger(
  disposal: Chain,
  key: Buffer,
  anchors: readonly LedgerAnchor[],
  now: number,
  anchorReadProblems: readonly string[] = [],
): IntegrityResult {
  const chain = disposal.verify();
  const problems: string[] = chain.reason ? [`row ${chain.brokenAt}: ${chain.reason}`] : [];
  const anchorProblems: string[] = [...anchorReadProblems];
  let brokenAt = chain.brokenAt;
  const worse = (seq: number) => {
    brokenAt = brokenAt === null ? seq : Math.min(brokenAt, seq);
  };
  const headSeq = chain.head?.seq ?? 0;
  let lastGood = 0;
  let lastAnchoredSeq: number | null = null;
  for (const anchor of [...anchors].sort((a, b) => a.seq - b.seq)) {
    if (!anchorMacValid(key, anchor)) {
      anchorProblems.push(
        `anchor of row ${anchor.seq} at ${anchor.at}: MAC does not match (forged anchor, or another key)`,
      );
      continue;
    }
    lastAnchoredSeq = Math.max(lastAnchoredSeq ?? 0, anchor.seq);
    const hash = disposal.hashAt(anchor.seq);
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
  verifyIntervalMs?: number;
  clock?: Clock;
  /** Runs once when a self-check fails after passing (or at the first failing check). */
  onFailure?: (result: IntegrityResult) => void;
}

export class LedgerIntegrity {
  private anchorTimer: NodeJS.Timeout | null = null;
  private verifyTimer: NodeJS.Timeout | null = null;
  private lastAnchoredHash: string | null = null;
  private readonly clock: Clock;
  /** The last self-check (null before the first). */
  lastResult: IntegrityResult | null = null;
  anchorsWritten = 0;
  private publishing: Promise<void> = Promise.resolve();
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

  start(): void {
    if (this.anchorTimer) return;
    const guard = (what: string, fn: () => unknown) => () => {
      try {
        fn();
      } catch (err) {
        this.log.error({ err, ledger: this.name }, `${this.name} ${what} failed`);
      }
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
  stop(): void {
    if (this.anchorTimer) clearInterval(this.anchorTimer);
    if (this.verifyTimer) clearInterval(this.verifyTimer);
    this.anchorTimer = null;
    this.verifyTimer = null;
    try {
      this.anchorNow({ publish: false });
    } catch (err) {
      this.log.error({ err, ledger: this.name }, `last ${this.name} anchor failed`);
    }
  }

  /** Anchors the head when it moved since the last anchor; returns the anchor written, if any. */
  anchorNow(options: { publish?: boolean } = {}): LedgerAnchor | null {
    const head = this.options.disposal.head();
    if (head === null || head.hash === this.lastAnchoredHash) return null;
    const anchor = makeAnchor(this.options.key, head.seq, head.hash, this.clock.now());
    this.options.anchorFile.append(anchor);
    this.lastAnchoredHash = head.hash;
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

  /** Resolves when the last anchor's MQTT publish has completed (or failed and been logged). */
  published(): Promise<void> {
    return this.publishing;
  }

  /** Full verification against the anchor file; on a new failure, logs and calls onFailure. */
  verifyNow(): IntegrityResult {
    const { anchors, problems } = this.options.anchorFile.read();
    const result = verifyLedger(
      this.options.disposal,
      this.options.key,
      anchors,
      this.clock.now(),
      problems,
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
