/**
 * Password hashes at rest: node:crypto scrypt (RFC 7914), stored as
 * `scrypt$<N>$<r>$<p>$<salt base64>$<hash base64>` so the cost travels with
 * each hash and can be raised later without breaking existing ones.
 *
 * Cost. Gateway passwords are machine secrets: `generateSecret()` makes 256
 * random bits, which no offline guessing reaches whatever the KDF, so the KDF's
 * job is only that a leaked credentials file reveals no usable password. The
 * default N = 2^10 (1 MiB, ~8 ms here) keeps a reconnect storm of 3,000
 * gateways after a server restart to seconds of CPU, not minutes. Human-chosen
 * passwords deserve more (`cost: 2 ** 15` or above, OWASP's scrypt guidance).
 */
import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';

export const PASSWORD_DEFAULTS = {
  cost: 1_024, // scrypt N (2^10): see the cost note above
  blockSize: 8, // scrypt r
  parallelization: 1, // scrypt p
  saltBytes: 16, // 128-bit salt
  keyBytes: 32, // 256-bit derived key
  secretBytes: 32, // generated secrets: 256 random bits
} as const;

const PREFIX = 'scrypt';
const MAX_COST = 2 ** 20; // refuse absurd costs in a (tampered) hash: 1 GiB of memory

function derive(password: string, salt: Buffer, keyBytes: number, options: ScryptOptions) {
  return new Promise<Buffer>((resolve, reject) => {
    scrypt(
      password.normalize('NFC'),
      salt,
      keyBytes,
      { ...options, maxmem: 256 * options.N! * options.r! + 1024 * 1024 },
      (err, key) => (err ? reject(err) : resolve(key)),
    );
  });
}

export interface HashOptions {
  cost?: number;
  blockSize?: number;
  parallelization?: number;
}

/** Hashes a password for storage. */
export async function hashPassword(password: string, options: HashOptions = {}): Promise<string> {
  const N = options.cost ?? PASSWORD_DEFAULTS.cost;
  const r = options.blockSize ?? PASSWORD_DEFAULTS.blockSize;
  const p = options.parallelization ?? PASSWORD_DEFAULTS.parallelization;
  if (!Number.isInteger(Math.log2(N)) || N < 2 || N > MAX_COST) {
    throw new Error(`scrypt cost must be a power of two between 2 and ${MAX_COST} (got ${N})`);
  }
  const salt = randomBytes(PASSWORD_DEFAULTS.saltBytes);
  const key = await derive(password, salt, PASSWORD_DEFAULTS.keyBytes, { N, r, p });
  return [PREFIX, N, r, p, salt.toString('base64'), key.toString('base64')].join('$');
}

interface ParsedHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

/** Null when the text is not a hash this module wrote. */
export function parseHash(encoded: string): ParsedHash | null {
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== PREFIX) return null;
  const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  if (!Number.isInteger(Math.log2(N)) || N < 2 || N > MAX_COST) return null;
  if (!(Number.isInteger(r) && r >= 1 && r <= 64 && Number.isInteger(p) && p >= 1 && p <= 16)) {
    return null;
  }
  const salt = Buffer.from(parts[4]!, 'base64');
  const key = Buffer.from(parts[5]!, 'base64');
  if (salt.length < 8 || key.length < 16) return null;
  return { N, r, p, salt, key };
}

export function isPasswordHash(encoded: string): boolean {
  return parseHash(encoded) !== null;
}

/** Constant-time comparison; false for a malformed hash (never throws on bad input). */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const parsed = parseHash(encoded);
  if (!parsed) return false;
  const key = await derive(password, parsed.salt, parsed.key.length, {
    N: parsed.N,
    r: parsed.r,
    p: parsed.p,
  });
  return timingSafeEqual(key, parsed.key);
}

/** A random secret for a gateway (base64url, 256 bits). */
export function generateSecret(bytes: number = PASSWORD_DEFAULTS.secretBytes): string {
  return randomBytes(bytes).toString('base64url');
}
