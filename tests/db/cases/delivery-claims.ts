/** Shared cases: delivery claims, on every backend. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../common/clock.js';
import { DeliveryClaims } from '../../../server/db/delivery-claims.js';
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
      const claims = new DeliveryClaims(node, { nodeId: `node-${i}`, leaseMs: LEASE_MS, clock });
      await claims.start();
      running.push(claims);
      out.push(claims);
    }
    return out;
  }

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
  });
}
