/** Shared cases: delivery claims, on every backend. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../common/clock.js';
import type { Database } from '../../../server/db/database.js';
import { DeliveryClaims, type DeliveryClaimsOptions } from '../../../server/db/delivery-claims.js';
import type { Backend, StoreHandle } from '../backends.js';

const LEASE_MS = 60_000;

export function deliveryClaimCases(backend: Backend): void {
  let store: StoreHandle;
  let clock: ManualClock;
  const running: DeliveryClaims[] = [];
  beforeEach(async () => {
    store = await backend.freshStore();
    clock = new ManualClock();
  });
  afterEach(async () => {
    for (const c of running.splice(0)) await c.stop();
    await store.close();
  });

  /** `count` nodes, each with its own database connection (pool) and claims. */
  async function claimers(count: number): Promise<DeliveryClaims[]> {
    const out: DeliveryClaims[] = [];
    for (let i = 0; i < count; i++) {
      const node = await store.openNode(`node-${i}`);
      // The ManualClock drives the leases (leaseClock 'injected'), and the cases drive the
      // heartbeat; the database's clock has cases of its own below.
      const claims = new DeliveryClaims(node, {
        nodeId: `node-${i}`,
        leaseMs: LEASE_MS,
        heartbeatMs: 0,
        leaseClock: 'injected',
        clock,
      });
      await claims.start();
      running.push(claims);
      out.push(claims);
    }
    return out;
  }

  /** Claims on a node of its own, started (and stopped after the case). */
  async function claimsOn(node: Database, options: DeliveryClaimsOptions): Promise<DeliveryClaims> {
    const claims = new DeliveryClaims(node, options);
    await claims.start();
    running.push(claims);
    return claims;
  }

  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  const winners = (claims: DeliveryClaims[], results: boolean[]) =>
    claims.filter((_, i) => results[i]).map((c) => c.nodeId);

  describe('delivery claims', () => {
    it('10 concurrent claimers on 10 nodes: exactly one wins each notification', async () => {
      const nodes = await claimers(10);
      for (let n = 0; n < 20; n++) {
        const id = `ntf-${n}`;
        const results = await Promise.all(nodes.map((c) => c.claim(id)));
        expect({ id, winners: winners(nodes, results).length }).toEqual({ id, winners: 1 });
      }
    });

    it("the owner's own claim renews; everyone else is refused while its lease runs", async () => {
      const [a, b] = await claimers(2);
      expect(await a!.claim('ntf-1')).toBe(true);
      clock.advance(LEASE_MS - 1);
      expect(await b!.claim('ntf-1')).toBe(false);
      expect(await a!.claim('ntf-1')).toBe(true);
      clock.advance(LEASE_MS - 1);
      expect(await b!.claim('ntf-1')).toBe(false);
    });

    it("a dead owner's claim is taken over by exactly one of 10 racing nodes once its lease ran out, and the old owner cannot complete it", async () => {
      const [dead, ...others] = await claimers(11);
      expect(await dead!.claim('ntf-1')).toBe(true);
      clock.advance(LEASE_MS);
      const results = await Promise.all(others.map((c) => c.claim('ntf-1')));
      const won = winners(others, results);
      expect(won).toHaveLength(1);
      expect(await dead!.complete('ntf-1')).toBe(false);
      const owner = others.find((c) => c.nodeId === won[0])!;
      expect(await owner.complete('ntf-1')).toBe(true);
    });

    it('a completed claim is never taken again, however long after', async () => {
      const [a, b] = await claimers(2);
      expect(await a!.claim('ntf-1')).toBe(true);
      expect(await a!.complete('ntf-1')).toBe(true);
      clock.advance(10 * LEASE_MS);
      expect(await b!.claim('ntf-1')).toBe(false);
      expect(await a!.claim('ntf-1')).toBe(false);
      expect(await b!.reclaimExpired()).toEqual([]);
    });

    it('concurrent reclaimers split the claims of a dead node: every one taken, none twice', async () => {
      const [dead, ...live] = await claimers(5);
      const ids = Array.from({ length: 30 }, (_, i) => `ntf-${String(i).padStart(2, '0')}`);
      for (const id of ids) expect(await dead!.claim(id)).toBe(true);
      expect(await live[0]!.reclaimExpired()).toEqual([]);
      clock.advance(LEASE_MS);
      const taken = await Promise.all(live.map((c) => c.reclaimExpired(8)));
      const all = taken.flat();
      expect(new Set(all).size).toBe(all.length);
      // 4 reclaimers × 8 ≥ 30: one round takes every expired claim.
      expect(all.sort()).toEqual(ids);
      for (const [i, c] of live.entries()) {
        for (const id of taken[i]!) expect(await c.complete(id)).toBe(true);
      }
    });

    it('a node that stops releases what it holds, so another takes over at once, not after the lease', async () => {
      const [a, b] = await claimers(2);
      expect(await a!.claim('ntf-1')).toBe(true);
      expect(await a!.claim('ntf-2')).toBe(true);
      expect(await a!.complete('ntf-2')).toBe(true);
      await a!.stop();
      expect(await b!.claim('ntf-1')).toBe(true);
      expect(await b!.claim('ntf-2')).toBe(false);
      await expect(a!.claim('ntf-3')).rejects.toThrow(
        "delivery claims of 'node-0' are not started",
      );
    });

    it("a live node's heartbeat keeps every claim it holds, however long; once it stops renewing, they are free within one lease", async () => {
      const [a, b] = await claimers(2);
      const ids = ['ntf-1', 'ntf-2', 'ntf-3'];
      expect([...(await a!.claimAll(ids))].sort()).toEqual(ids);
      // Ten leases go by (a slow delivery, a long backoff): the heartbeat is all it takes.
      for (let i = 0; i < 20; i++) {
        clock.advance(LEASE_MS / 2);
        expect(await a!.heartbeat()).toBe(3);
        expect(await b!.claimAll(ids)).toEqual(new Set());
      }
      expect(await a!.complete('ntf-3')).toBe(true);
      expect(await a!.heartbeat()).toBe(2); // a completed claim is not renewed
      // A dies: no more heartbeats. Within the lease its claims hold, at the lease they are free.
      clock.advance(LEASE_MS - 1);
      expect(await b!.claimAll(ids)).toEqual(new Set());
      clock.advance(1);
      expect([...(await b!.claimAll(ids))].sort()).toEqual(['ntf-1', 'ntf-2']);
      expect(await a!.renew('ntf-1')).toBe(false); // proven lost before any attempt
    });

    it('claims of one node are scoped: its webhook and MQTT users never renew, release or reclaim each other’s', async () => {
      const node = await store.openNode('node-a');
      const other = await store.openNode('node-b');
      const base = { nodeId: 'node-a', leaseMs: LEASE_MS, heartbeatMs: 0, clock } as const;
      const webhook = await claimsOn(node, { ...base, scope: 'ntf-', leaseClock: 'injected' });
      const mqtt = await claimsOn(node, { ...base, scope: 'mqtt:', leaseClock: 'injected' });
      const b = await claimsOn(other, {
        ...base,
        nodeId: 'node-b',
        leaseClock: 'injected',
      });
      expect(await webhook.claim('ntf-1')).toBe(true);
      expect(await mqtt.claim('mqtt:ntf-1')).toBe(true);
      await expect(webhook.claim('mqtt:ntf-2')).rejects.toThrow(
        "claim id 'mqtt:ntf-2' is outside this scope ('ntf-')",
      );
      clock.advance(LEASE_MS / 2);
      expect(await mqtt.heartbeat()).toBe(1);
      clock.advance(LEASE_MS / 2);
      // The MQTT user's heartbeat did not keep the webhook claim alive.
      expect(await b.claim('ntf-1')).toBe(true);
      expect(await b.claim('mqtt:ntf-1')).toBe(false);
      await mqtt.stop(); // releases its own, not node-b's new one
      expect(await b.claim('mqtt:ntf-1')).toBe(true);
      expect(await b.reclaimExpired()).toEqual([]);
    });

    it('a restart under the same node id frees what the earlier run held, for any node to take at once', async () => {
      const node = await store.openNode('node-a');
      const [b] = await claimers(1);
      const options = {
        nodeId: 'node-a',
        scope: 'ntf-',
        leaseMs: LEASE_MS,
        heartbeatMs: 0,
        leaseClock: 'injected',
        clock,
      } as const;
      const first = new DeliveryClaims(node, options);
      await first.start();
      expect(await first.claim('ntf-1')).toBe(true);
      // The process dies (no stop()); the next one starts under the same id.
      await claimsOn(node, options);
      expect(await b!.claim('ntf-1')).toBe(true);
    });

    it('a node whose heartbeat fails for a whole lease is told (onLost), so it stops attempts on claims it can no longer prove', async () => {
      const node = await store.openNode('node-lost');
      let lost = 0;
      const claims = await claimsOn(node, {
        nodeId: 'node-lost',
        leaseMs: 400,
        heartbeatMs: 100,
        onLost: () => lost++,
      });
      expect(await claims.claim('ntf-1')).toBe(true);
      await sleep(600);
      expect(lost).toBe(0); // heartbeats succeed: proven all along
      const brokeAt = performance.now();
      await node.stop(); // the database is gone for this node
      await until(() => lost === 1, 'onLost');
      // Within a lease and a heartbeat of the last proof (slack for a loaded machine).
      expect(performance.now() - brokeAt).toBeLessThan(400 + 100 + 1_000);
      await expect(claims.renew('ntf-1')).rejects.toThrow();
    });

    if (backend.kind === 'postgres') {
      it("PostgreSQL: leases run on the database's clock, so a node whose clock is an hour ahead neither takes a live claim nor waits out a dead one", async () => {
        const [nodeA, nodeB] = [await store.openNode('node-a'), await store.openNode('node-b')];
        // Real time: a lease long enough that a loaded machine's timer delays do not lose it.
        const lease = { leaseMs: 1_000, heartbeatMs: 200 } as const;
        const a = await claimsOn(nodeA, {
          ...lease,
          nodeId: 'node-a',
          clock: new ManualClock(Date.now() - 3_600_000),
        });
        const b = await claimsOn(nodeB, {
          ...lease,
          nodeId: 'node-b',
          clock: new ManualClock(Date.now() + 3_600_000),
        });
        expect(await a.claim('ntf-1')).toBe(true);
        // Three leases with A's heartbeat running: B never gets it, whatever its clock says.
        for (let i = 0; i < 15; i++) {
          expect(await b.claim('ntf-1')).toBe(false);
          await sleep(200);
        }
        const diedAt = performance.now();
        await nodeA.stop(); // A dies: its heartbeats stop
        await until(() => b.claim('ntf-1'), "B's takeover", 5_000);
        const tookMs = performance.now() - diedAt;
        expect(tookMs).toBeLessThan(300 + 1_500);
      });
    }
  });
}

async function until<T>(check: () => T | Promise<T>, what: string, ms = 5_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
