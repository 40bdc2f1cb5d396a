/**
 * The embedded (SQLite) election's lease, driven by a manual clock: a holder keeps leadership by
 * renewing, and a holder that stops renewing is replaced only once its lease has run out.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { Database } from '../../server/db/database.js';
import { createLeaderElection, type LeaderElection } from '../../server/db/leader-election.js';

const LEASE_MS = 10_000;

describe('the embedded leader lease', () => {
  let db: Database;
  let clock: ManualClock;
  let elections: LeaderElection[];
  beforeEach(async () => {
    db = new Database({ kind: 'sqlite', path: ':memory:' });
    await db.start();
    clock = new ManualClock();
    elections = [];
  });
  afterEach(async () => {
    for (const e of elections) await e.stop();
    await db.stop();
  });

  function contender(nodeId: string) {
    const e = createLeaderElection(db, {
      name: 'scheduler',
      nodeId,
      retryMs: 1_000,
      leaseMs: LEASE_MS,
      clock,
    });
    elections.push(e);
    return e;
  }

  it('one process is the leader at its first attempt', async () => {
    expect(await contender('only').tick()).toBe(true);
  });

  it('a holder that renews keeps the lease past its first expiry', async () => {
    const a = contender('a');
    const b = contender('b');
    expect(await a.tick()).toBe(true);
    for (let t = 0; t < 5; t++) {
      clock.advance(LEASE_MS / 2);
      expect(await a.tick()).toBe(true);
      expect(await b.tick()).toBe(false);
    }
  });

  it('a holder that stops renewing is replaced when its lease runs out, not before, and learns it at its next attempt', async () => {
    const a = contender('a');
    const b = contender('b');
    expect(await a.tick()).toBe(true);
    clock.advance(LEASE_MS - 1);
    expect(await b.tick()).toBe(false);
    clock.advance(1);
    expect(await b.tick()).toBe(true);
    expect(await a.tick()).toBe(false);
    expect(a.isLeader).toBe(false);
    const row = await db.db.selectFrom('leader_leases').selectAll().executeTakeFirstOrThrow();
    expect(row).toMatchObject({ holder: 'b', term: 2 });
  });

  it('refuses a lease no longer than the retry interval', () => {
    expect(() =>
      createLeaderElection(db, { name: 'x', nodeId: 'a', retryMs: 5_000, leaseMs: 5_000 }),
    ).toThrow("leader election 'x': leaseMs (5000) must be longer than retryMs (5000)");
  });
});
