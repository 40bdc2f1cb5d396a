/**
 * Anchors of the disposal chain: its head (seq, hash) written outside the database at intervals,
 * so that deleting the newest rows (truncation) and rewriting rows with recomputed hashes (by
 * someone who holds the key) are both found by verify: an anchored row that is gone, or whose
 * hash is no longer the anchored one, locates the damage (docs/ledger.md).
 *
 * Where anchors go (each is one witness; an attacker must defeat all of them):
 * - an append-only JSONL file in the data folder (`ledger-anchors.jsonl`, mode 0600), one line
 *   per anchor, fsync'd;
 * - the log (`ledger anchor` at info, with seq and hash);
 * - a retained MQTT message on the server's broker (`ledger.anchorTopic`, default
 *   `hazardwatch/ledger/anchor`) for an external witness to subscribe to and keep.
 * Anchors form a chain of their own (issue 13 review): each carries `prev`, the MAC of the anchor
 * before it (64 zeros for the first), and `mac` = HMAC-SHA256(key, "anchor" ‖ prev ‖ seq ‖ hash ‖
 * at). A forged line is refused (MAC), and a deleted line breaks the link of the one after it, so
 * anchor lines cannot be dropped silently from the middle of the file, nor from its end while the
 * server (which holds the last MAC in memory) goes on anchoring. Anchors written before the chain
 * (no `prev`) verify with the old MAC, "anchor" ‖ seq ‖ hash ‖ at, and may only precede chained ones.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { isMemoryPath } from '../store/sqlite.js';

export const LEDGER_ANCHOR_FILE = 'ledger-anchors.jsonl';

/** `prev` of the first anchor in a file. */
export const ANCHOR_GENESIS = '0'.repeat(64);

export interface LedgerAnchor {
  seq: number;
  hash: string;
  /** ISO 8601, server clock. */
  at: string;
  /** MAC of the anchor before this one (ANCHOR_GENESIS for the first); absent on pre-chain anchors. */
  prev?: string;
  mac: string;
}

/** Where the anchor file is: the configured path, else beside the SQLite file, else none. */
export function anchorFilePath(anchorFile: string | undefined, storePath: string): string | null {
  if (anchorFile) return resolve(anchorFile);
  if (isMemoryPath(storePath)) return null;
  return join(dirname(resolve(storePath)), LEDGER_ANCHOR_FILE);
}

function anchorMac(key: Buffer, seq: number, hash: string, at: string, prev?: string): string {
  const text =
    prev === undefined
      ? `anchor\u0000${seq}\u0000${hash}\u0000${at}` // pre-chain anchors (before the issue 13 review)
      : `anchor\u0000${prev}\u0000${seq}\u0000${hash}\u0000${at}`;
  return createHmac('sha256', key).update(text).digest('hex');
}

/** A chained anchor of (seq, hash) following the anchor whose MAC is `prev`. */
export function makeAnchor(
  key: Buffer,
  seq: number,
  hash: string,
  atMs: number,
  prev: string = ANCHOR_GENESIS,
): LedgerAnchor {
  const at = new Date(atMs).toISOString();
  return { seq, hash, at, prev, mac: anchorMac(key, seq, hash, at, prev) };
}

export function anchorMacValid(key: Buffer, anchor: LedgerAnchor): boolean {
  const expected = Buffer.from(
    anchorMac(key, anchor.seq, anchor.hash, anchor.at, anchor.prev),
    'hex',
  );
  const got = Buffer.from(anchor.mac, 'hex');
  return got.length === expected.length && timingSafeEqual(got, expected);
}

function isAnchor(value: unknown): value is LedgerAnchor {
  const a = value as Partial<LedgerAnchor> | null;
  return (
    typeof a === 'object' &&
    a !== null &&
    Number.isSafeInteger(a.seq) &&
    (a.seq as number) > 0 &&
    typeof a.hash === 'string' &&
    typeof a.at === 'string' &&
    (a.prev === undefined || typeof a.prev === 'string') &&
    typeof a.mac === 'string'
  );
}

/** Anchors read from a file, with every line that is not one named (by line number). */
export interface ReadAnchors {
  anchors: LedgerAnchor[];
  problems: string[];
  /** The file does not exist. */
  missing?: boolean;
}

/** Parses JSONL anchors (the file, or a witness's copy of the MQTT messages). */
export function parseAnchors(text: string, source: string): ReadAnchors {
  const anchors: LedgerAnchor[] = [];
  const problems: string[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      problems.push(`${source}:${i + 1}: not JSON`);
      return;
    }
    if (isAnchor(value)) anchors.push(value);
    else problems.push(`${source}:${i + 1}: not an anchor (seq, hash, at, mac)`);
  });
  return { anchors, problems };
}

/**
 * The append-only anchor file. Lifecycle: none; each `append()` opens, writes one line, fsyncs and
 * closes (anchors are minutes apart). With `path: null` anchors are kept in memory (tests).
 */
export class AnchorFile {
  private readonly memory: LedgerAnchor[] = [];

  constructor(readonly path: string | null) {}

  append(anchor: LedgerAnchor): void {
    if (this.path === null) {
      this.memory.push(anchor);
      return;
    }
    mkdirSync(dirname(this.path), { recursive: true });
    let fd: number | null = null;
    try {
      fd = openSync(this.path, 'a', 0o600);
      writeSync(fd, `${JSON.stringify(anchor)}\n`);
      fsyncSync(fd);
    } catch (err) {
      throw new Error(
        `cannot append to ledger anchor file '${this.path}': ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    } finally {
      if (fd !== null) closeSync(fd);
    }
  }

  /**
   * Every anchor written so far; a missing file reads as none (`missing: true`). Whether that is
   * fine is for verify to say: a running server always has one (docs/ledger.md).
   */
  read(): ReadAnchors {
    if (this.path === null) return { anchors: [...this.memory], problems: [] };
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        return { anchors: [], problems: [], missing: true };
      }
      throw new Error(`cannot read ledger anchor file '${this.path}': ${(err as Error).message}`, {
        cause: err,
      });
    }
    return parseAnchors(text, this.path);
  }
}
