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
 * Each anchor carries `mac` = HMAC-SHA256(key, "anchor" ‖ seq ‖ hash ‖ at), so a forged anchor
 * line (to cover a truncation) is refused by verify.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { isMemoryPath } from '../store/sqlite.js';

export const LEDGER_ANCHOR_FILE = 'ledger-anchors.jsonl';

export interface LedgerAnchor {
  seq: number;
  hash: string;
  /** ISO 8601, server clock. */
  at: string;
  mac: string;
}

/** Where the anchor file is: the configured path, else beside the SQLite file, else none. */
export function anchorFilePath(anchorFile: string | undefined, storePath: string): string | null {
  if (anchorFile) return resolve(anchorFile);
  if (isMemoryPath(storePath)) return null;
  return join(dirname(resolve(storePath)), LEDGER_ANCHOR_FILE);
}

function anchorMac(key: Buffer, seq: number, hash: string, at: string): string {
  return createHmac('sha256', key)
    .update(`anchor\u0000${seq}\u0000${hash}\u0000${at}`)
    .digest('hex');
}

export function makeAnchor(key: Buffer, seq: number, hash: string, atMs: number): LedgerAnchor {
  const at = new Date(atMs).toISOString();
  return { seq, hash, at, mac: anchorMac(key, seq, hash, at) };
}

export function anchorMacValid(key: Buffer, anchor: LedgerAnchor): boolean {
  const expected = Buffer.from(anchorMac(key, anchor.seq, anchor.hash, anchor.at), 'hex');
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
    typeof a.mac === 'string'
  );
}

/** Anchors read from a file, with every line that is not one named (by line number). */
export interface ReadAnchors {
  anchors: LedgerAnchor[];
  problems: string[];
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

  /** Every anchor written so far; a missing file reads as none (first start). */
  read(): ReadAnchors {
    if (this.path === null) return { anchors: [...this.memory], problems: [] };
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { anchors: [], problems: [] };
      throw new Error(`cannot read ledger anchor file '${this.path}': ${(err as Error).message}`, {
        cause: err,
      });
    }
    return parseAnchors(text, this.path);
  }
}
