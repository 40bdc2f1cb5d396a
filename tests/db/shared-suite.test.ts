/**
 * The database layer's shared suite: every case runs against SQLite (embedded default) and a
 * real PostgreSQL 15 (cluster mode) started on a free port in a temporary directory, in the
 * spirit of aedes' abstract persistence suite. A backend that fails one case is not a backend.
 */
import { afterAll, beforeAll, describe } from 'vitest';
import { BACKENDS } from './backends.js';
import { deliveryClaimCases } from './cases/delivery-claims.js';
import { hashChainCases } from './cases/hash-chains.js';
import { leaderElectionCases } from './cases/leader-election.js';
import { notificationBusCases, notificationBusReconnectCases } from './cases/notification-bus.js';
import { schemaCases } from './cases/schema.js';

for (const makeBackend of BACKENDS) {
  const backend = makeBackend();
  describe(`the database layer on ${backend.kind}`, () => {
    beforeAll(() => backend.setUp(), 60_000);
    afterAll(() => backend.tearDown());
    schemaCases(backend);
    leaderElectionCases(backend);
    deliveryClaimCases(backend);
    hashChainCases(backend);
    notificationBusCases(backend);
    // SQLite's bus is in-process: it has no listening session to lose.
    if (backend.kind === 'postgres') {
      describe('notification bus (PostgreSQL session loss)', () =>
        notificationBusReconnectCases(backend));
    }
  });
}
