/**
 * Access control for the platform: users and roles from the config, scrypt password hashes
 * (node:crypto), opaque random session tokens (only their sha256 is stored, in the platform
 * database: a session made through one node of a cluster is recognised by every node, and a
 * logout on any node ends it everywhere), scope checks and per-user rate limits.
 *
 * Roles and what they may see:
 * - enterprise: its own enterprise only;
 * - regulator: its jurisdiction and everything below it (province ⊃ city ⊃ county ⊃ park);
 * - emergency: its region (a jurisdiction), read-only (no disposal steps);
 * - admin: everything.
 * An enterprise the registry has no jurisdiction for is visible to admins only.
 */
import { createHash, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../common/clock.js';
import { systemClock } from '../../common/clock.js';
import type { Database } from '../db/database.js';
import type { Jurisdiction, Role, UserConfig } from './config.js';

export const ACCESS_DEFAULTS = {
  tokenBytes: 32, // 256-bit random session tokens
  scryptKeyLength: 32, // bytes
  scryptSaltBytes: 16,
} as const;

/** The authenticated caller of a request. */
export interface Principal {
  username: string;
  name: string;
  role: Role;
  enterpriseId: string | null;
  jurisdiction: Jurisdiction | null;
}

export interface Session {
  token: string;
  expiresAt: number;
  principal: Principal;
}

/** `scrypt$<salt>$<key>` (base64), for `passwordHash` in the config. */
export function hashPassword(
  password: string,
  salt = randomBytes(ACCESS_DEFAULTS.scryptSaltBytes),
): string {
  const key = scryptSync(password, salt, ACCESS_DEFAULTS.scryptKeyLength);
  return `scrypt$${salt.toString('base64')}$${key.toString('base64')}`;
}

export function verifyPassword(password: string, stored: string): boolean {
  const [scheme, saltText, keyText] = stored.split('$');
  if (scheme !== 'scrypt' || !saltText || !keyText) return false;
  const expected = Buffer.from(keyText, 'base64');
  const actual = scryptSync(password, Buffer.from(saltText, 'base64'), expected.length);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

const LEVELS = ['province', 'city', 'county', 'park'] as const;

/** True when `inner` lies inside `outer`: every level `outer` names, `inner` names the same. */
export function withinJurisdiction(outer: Jurisdiction, inner: Jurisdiction): boolean {
  let named = 0;
  for (const level of LEVELS) {
    const want = outer[level];
    if (want === undefined) continue;
    named++;
    if (inner[level] !== want) return false;
  }
  return named > 0;
}

/** Whether `principal` may see the enterprise with this jurisdiction. */
export function canSeeEnterprise(
  principal: Principal,
  enterprise: { id: string; jurisdiction: Jurisdiction },
): boolean {
  switch (principal.role) {
    case 'admin':
      return true;
    case 'enterprise':
      return principal.enterpriseId === enterprise.id;
    case 'regulator':
    case 'emergency':
      return (
        principal.jurisdiction !== null &&
        withinJurisdiction(principal.jurisdiction, enterprise.jurisdiction)
      );
  }
}

/** Roles that may take disposal steps (acknowledge, assign, measures, close). */
export function canDispose(principal: Principal): boolean {
  return principal.role !== 'emergency';
}

/**
 * Token bucket per key: `perMinute` requests, refilled continuously. In memory: a restart
 * forgets the buckets, which only ever errs towards letting requests through. The limit is per
 * node: in a cluster each node keeps its own buckets, so a caller spread over N nodes by the
 * load balancer gets up to N × `perMinute` in all. It guards each node against one noisy
 * caller; sharing buckets would put a database round trip on every request for no safety gain.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly clock: Clock;

  constructor(
    private readonly perMinute: number,
    clock?: Clock,
    private readonly maxKeys = 10_000,
  ) {
    this.clock = clock ?? systemClock;
  }

  /** Takes one token; returns 0 when allowed, else the ms until one is available. */
  take(key: string): number {
    const now = this.clock.now();
    const ratePerMs = this.perMinute / 60_000;
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size >= this.maxKeys) this.prune(now);
      bucket = { tokens: this.perMinute, at: now };
      this.buckets.set(key, bucket);
    }
    bucket.tokens = Math.min(this.perMinute, bucket.tokens + (now - bucket.at) * ratePerMs);
    bucket.at = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - bucket.tokens) / ratePerMs);
  }

  private prune(now: number): void {
    for (const [key, bucket] of this.buckets) {
      if (now - bucket.at > 60_000) this.buckets.delete(key);
    }
    if (this.buckets.size >= this.maxKeys) this.buckets.clear();
  }
}

export interface AccessOptions {
  /** The platform database, started by its owner (the central server) before `start()`. */
  database: Database;
  users: readonly UserConfig[];
  tokenTtlMs: number;
  clock?: Clock;
}

interface UserEntry {
  principal: Principal;
  passwordHash: string;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * Users and sessions. Lifecycle: `start()` checks the database is started and hashes plain
 * config passwords (once, in memory); `stop()` only marks it stopped (the database belongs to
 * the server); safe twice. Users stay in the config (every node has the same); sessions are
 * rows of `platform_sessions`, so login, authenticate and logout are async.
 */
export class AccessControl {
  private running = false;
  private readonly users = new Map<string, UserEntry>();
  private readonly clock: Clock;
  /** Hash compared when the user is unknown, so timing does not tell which usernames exist. */
  private readonly decoyHash = hashPassword('decoy');

  constructor(private readonly options: AccessOptions) {
    this.clock = options.clock ?? systemClock;
  }

  async start(): Promise<void> {
    if (this.running) return;
    if (!this.options.database.started)
      throw new Error('access control: the platform database is not started');
    for (const user of this.options.users) {
      const passwordHash =
        user.passwordHash ?? hashPassword(user.password ?? randomBytes(16).toString('hex'));
      this.users.set(user.username, {
        passwordHash,
        principal: {
          username: user.username,
          name: user.name ?? user.username,
          role: user.role,
          enterpriseId: user.enterpriseId ?? null,
          jurisdiction: user.jurisdiction ?? null,
        },
      });
    }
    this.running = true;
  }

  async stop(): Promise<void> {
    this.running = false;
  }

  get userCount(): number {
    return this.users.size;
  }

  /** A new session, or null for a wrong username or password (the caller cannot tell which). */
  async login(username: string, password: string): Promise<Session | null> {
    const db = this.requireDb();
    const user = this.users.get(username);
    const ok = verifyPassword(password, user?.passwordHash ?? this.decoyHash);
    if (!user || !ok) return null;
    const token = randomBytes(ACCESS_DEFAULTS.tokenBytes).toString('base64url');
    const now = this.clock.now();
    const expiresAt = now + this.options.tokenTtlMs;
    // Expired sessions go at each login (any node's): the table stays as small as the live ones.
    await db.deleteFrom('platform_sessions').where('expires_at', '<=', now).execute();
    await db
      .insertInto('platform_sessions')
      .values({ token_hash: sha256(token), username, expires_at: expiresAt })
      .execute();
    return { token, expiresAt, principal: user.principal };
  }

  /** The principal a token belongs to, or null when unknown, expired or its user removed. */
  async authenticate(token: string): Promise<Principal | null> {
    const row = await this.requireDb()
      .selectFrom('platform_sessions')
      .select(['username', 'expires_at'])
      .where('token_hash', '=', sha256(token))
      .executeTakeFirst();
    if (!row || row.expires_at <= this.clock.now()) return null;
    return this.users.get(row.username)?.principal ?? null;
  }

  async logout(token: string): Promise<void> {
    await this.requireDb()
      .deleteFrom('platform_sessions')
      .where('token_hash', '=', sha256(token))
      .execute();
  }

  private requireDb() {
    if (!this.running) throw new Error('access control is not started');
    return this.options.database.db;
  }
}
