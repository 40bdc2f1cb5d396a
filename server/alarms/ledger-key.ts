/**
 * The disposal ledger's chain key, kept outside the database (issue 13: whoever can write the
 * SQLite file must not also be able to recompute the chain).
 *
 * Where it comes from, first match wins:
 * 1. `HAZARDWATCH_LEDGER_KEY`: 64 hex digits (32 bytes), e.g. from a secrets manager;
 * 2. the key file: `ledger.keyFile` in the config, else `ledger.key` beside the SQLite file. It is
 *    created on first start (32 random bytes as hex, mode 0600, exclusive create so two processes
 *    never write two keys) and read on every later start.
 * With an in-memory store and no key file (tests), a random key lives for the process only.
 *
 * Losing the key makes every later verify fail at row 1: back it up with the data, but apart from
 * it (docs/ledger.md).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createLogger } from '../../common/logger.js';
import { isMemoryPath } from '../store/sqlite.js';

const log = createLogger('server.ledger-key');

export const LEDGER_KEY_ENV = 'HAZARDWATCH_LEDGER_KEY';
export const LEDGER_KEY_FILE = 'ledger.key';
const KEY_BYTES = 32; // HMAC-SHA256 key as long as the hash (RFC 2104 §3: at least L bytes)

/** Where the key file is: the configured path, else beside the SQLite file, else none (memory). */
export function ledgerKeyPath(keyFile: string | undefined, storePath: string): string | null {
  if (keyFile) return resolve(keyFile);
  if (isMemoryPath(storePath)) return null;
  return join(dirname(resolve(storePath)), LEDGER_KEY_FILE);
}

function parseKey(text: string, source: string): Buffer {
  const hex = text.trim();
  if (!/^[0-9a-fA-F]{64,}$/.test(hex) || hex.length % 2 !== 0) {
    throw new Error(
      `ledger key from ${source} must be at least 64 hex digits (32 bytes), got ${hex.length} characters`,
    );
  }
  return Buffer.from(hex, 'hex');
}

export interface LedgerKeySource {
  keyFile?: string | undefined;
  storePath: string;
  env?: NodeJS.ProcessEnv;
  /** Create the key file when absent (the server); the CLI verifier never creates one. */
  create?: boolean;
}

export interface LoadedLedgerKey {
  key: Buffer;
  /** 'env', the key file's path, or 'memory'. */
  source: string;
  created: boolean;
}

export function loadLedgerKey(options: LedgerKeySource): LoadedLedgerKey {
  const fromEnv = (options.env ?? process.env)[LEDGER_KEY_ENV];
  if (fromEnv) return { key: parseKey(fromEnv, LEDGER_KEY_ENV), source: 'env', created: false };
  const path = ledgerKeyPath(options.keyFile, options.storePath);
  if (path === null) return { key: randomBytes(KEY_BYTES), source: 'memory', created: false };
  let text: string | null = null;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new Error(`cannot read ledger key file '${path}': ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  if (text !== null) {
    const mode = statSync(path).mode & 0o077;
    if (mode !== 0) {
      log.warn(
        { path, mode: `0${(statSync(path).mode & 0o777).toString(8)}` },
        'ledger key file is readable by others: chmod 600 it',
      );
    }
    return { key: parseKey(text, `'${path}'`), source: path, created: false };
  }
  if (options.create === false) {
    throw new Error(`ledger key file '${path}' does not exist (set ${LEDGER_KEY_ENV} or --key)`);
  }
  const key = randomBytes(KEY_BYTES);
  mkdirSync(dirname(path), { recursive: true });
  try {
    writeFileSync(path, `${key.toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return loadLedgerKey(options);
    throw new Error(`cannot create ledger key file '${path}': ${(err as Error).message}`, {
      cause: err,
    });
  }
  log.warn({ path }, 'created a new ledger key: back it up apart from the database');
  return { key, source: path, created: true };
}
