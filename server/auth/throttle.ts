/**
 * Backoff after failed authentication, for platform logins and MQTT CONNECTs.
 *
 * One limit per address only (what we had) locks out everyone behind one NAT
 * during an attack, and the right password of a bystander gets 429. So
 * failures are counted on three keys, each with its own threshold and
 * exponential backoff:
 * - (account, address): strict. The attacker's own pair is slowed first;
 * - account: softer (a higher threshold, a shorter cap). It slows a
 *   distributed guess at one account; it may slow that account's owner too,
 *   which is the price of stopping a botnet;
 * - address: high threshold. It stops one address spraying many accounts;
 *   it never blocks an account that has logged in successfully from that
 *   address before (a "known pair", remembered for `knownPairTtlMs`), so a
 *   colleague behind the same NAT still gets in with the right password.
 * After `threshold` failures within `windowMs`, the key is blocked for
 * `baseMs × 2^(failures − threshold)`, at most `maxMs`. A refused attempt is
 * not counted as a failure (so waiting is what ends a block), and a success
 * clears the pair's failures (not the account's or the address's: those
 * belong to whoever else is failing).
 *
 * Everything is in memory and bounded (`maxKeys` per map, expired entries
 * pruned first): a restart forgets, which errs on the side of letting users in.
 * Time comes from the injected clock.
 */
import type { Clock } from '../../common/clock.js';
import { systemClock } from '../../common/clock.js';

export interface BackoffLimit {
  /** Failures within the window before the first block. */
  threshold: number;
  /** First block, ms; doubles with each further failure. */
  baseMs: number;
  /** Longest block, ms. */
  maxMs: number;
}

export interface FailureThrottleOptions {
  pair: BackoffLimit;
  account: BackoffLimit;
  address: BackoffLimit;
  /** Failures older than this (since the last one) are forgotten, ms. */
  windowMs?: number;
  /** How long a successful (account, address) bypasses the address limit, ms. */
  knownPairTtlMs?: number;
  maxKeys?: number;
  clock?: Clock;
}

export const FAILURE_THROTTLE_DEFAULTS = {
  windowMs: 15 * 60_000, // 15 min without a failure forgets a key (OWASP authentication cheat sheet's lockout window)
  knownPairTtlMs: 30 * 24 * 3_600_000, // 30 days
  maxKeys: 50_000, // per map
} as const;

/** Why an attempt must wait, and how long. */
export interface ThrottleVerdict {
  waitMs: number;
  /** Which key blocks it ('pair', 'account' or 'address'); null when allowed. */
  by: 'pair' | 'account' | 'address' | null;
}

interface FailureRecord {
  failures: number;
  lastAt: number;
  blockedUntil: number;
}

export class FailureThrottle {
  private readonly pairs = new Map<string, FailureRecord>();
  private readonly accounts = new Map<string, FailureRecord>();
  private readonly addresses = new Map<string, FailureRecord>();
  private readonly known = new Map<string, number>();
  private readonly clock: Clock;
  private readonly windowMs: number;
  private readonly maxKeys: number;
  /** Attempts refused while blocked, since start (metrics, tests). */
  refused = 0;

  constructor(private readonly options: FailureThrottleOptions) {
    this.clock = options.clock ?? systemClock;
    this.windowMs = options.windowMs ?? FAILURE_THROTTLE_DEFAULTS.windowMs;
    this.maxKeys = options.maxKeys ?? FAILURE_THROTTLE_DEFAULTS.maxKeys;
  }

  /** Whether an attempt may proceed now; counts a refusal. */
  check(account: string, address: string): ThrottleVerdict {
    const now = this.clock.now();
    const waits: [ThrottleVerdict['by'], number][] = [
      ['pair', this.wait(this.pairs, pairKey(account, address), now)],
      ['account', this.wait(this.accounts, account, now)],
    ];
    if (!this.isKnown(account, address, now)) {
      waits.push(['address', this.wait(this.addresses, address, now)]);
    }
    let verdict: ThrottleVerdict = { waitMs: 0, by: null };
    for (const [by, waitMs] of waits) {
      if (waitMs > verdict.waitMs) verdict = { waitMs, by };
    }
    if (verdict.waitMs > 0) this.refused++;
    return verdict;
  }

  failure(account: string, address: string): void {
    const now = this.clock.now();
    this.fail(this.pairs, pairKey(account, address), this.options.pair, now);
    this.fail(this.accounts, account, this.options.account, now);
    this.fail(this.addresses, address, this.options.address, now);
  }

  success(account: string, address: string): void {
    const now = this.clock.now();
    const key = pairKey(account, address);
    this.pairs.delete(key);
    this.bound(this.known, now, (until) => until <= now);
    this.known.set(
      key,
      now + (this.options.knownPairTtlMs ?? FAILURE_THROTTLE_DEFAULTS.knownPairTtlMs),
    );
  }

  private isKnown(account: string, address: string, now: number): boolean {
    const until = this.known.get(pairKey(account, address));
    return until !== undefined && until > now;
  }

  private wait(map: Map<string, FailureRecord>, key: string, now: number): number {
    const record = map.get(key);
    if (!record) return 0;
    if (now - record.lastAt > this.windowMs) {
      map.delete(key);
      return 0;
    }
    return Math.max(0, record.blockedUntil - now);
  }

  private fail(
    map: Map<string, FailureRecord>,
    key: string,
    limit: BackoffLimit,
    now: number,
  ): void {
    let record = map.get(key);
    if (record && now - record.lastAt > this.windowMs) record = undefined;
    if (!record) {
      this.bound(map, now, (r) => now - r.lastAt > this.windowMs);
      record = { failures: 0, lastAt: now, blockedUntil: 0 };
    }
    record.failures++;
    record.lastAt = now;
    if (record.failures >= limit.threshold) {
      const exponent = Math.min(30, record.failures - limit.threshold);
      record.blockedUntil = now + Math.min(limit.maxMs, limit.baseMs * 2 ** exponent);
    }
    map.set(key, record);
  }

  /** Keeps a map under maxKeys: expired entries first, then the oldest inserted. */
  private bound<V>(map: Map<string, V>, _now: number, expired: (value: V) => boolean): void {
    if (map.size < this.maxKeys) return;
    for (const [key, value] of map) if (expired(value)) map.delete(key);
    while (map.size >= this.maxKeys) {
      const oldest = map.keys().next().value;
      if (oldest === undefined) break;
      map.delete(oldest);
    }
  }
}

function pairKey(account: string, address: string): string {
  return `${account}\u0000${address}`;
}

/**
 * Platform logins. The pair threshold is the configured `loginAttemptsPerMinute`
 * (default 10), then 1 min doubling to 15 min; an account takes 3x that many
 * failures (from any address) and backs off from 10 s to at most 5 min; an
 * address 10x, then 1 min doubling to 15 min, known pairs exempt. The numbers
 * are ours: the OWASP authentication cheat sheet asks for a lockout threshold,
 * an observation window and a lockout duration without fixing them.
 */
export function loginThrottle(attemptsPerMinute: number, clock?: Clock): FailureThrottle {
  const threshold = Math.max(1, Math.floor(attemptsPerMinute));
  return new FailureThrottle({
    pair: { threshold, baseMs: 60_000, maxMs: 15 * 60_000 },
    account: { threshold: 3 * threshold, baseMs: 10_000, maxMs: 5 * 60_000 },
    address: { threshold: 10 * threshold, baseMs: 60_000, maxMs: 15 * 60_000 },
    ...(clock ? { clock } : {}),
  });
}

/**
 * MQTT CONNECTs. A gateway with a wrong password reconnects every second or
 * so by itself, so the pair blocks after 5 failures (1 s doubling to 5 min);
 * an account after 20; an address after 50 (known pairs exempt, so the other
 * gateways behind one NAT keep reconnecting). While blocked the CONNECT is
 * refused at once, before any scrypt work.
 */
export function mqttAuthThrottle(clock?: Clock): FailureThrottle {
  return new FailureThrottle({
    pair: { threshold: 5, baseMs: 1_000, maxMs: 5 * 60_000 },
    account: { threshold: 20, baseMs: 1_000, maxMs: 60_000 },
    address: { threshold: 50, baseMs: 1_000, maxMs: 5 * 60_000 },
    ...(clock ? { clock } : {}),
  });
}
