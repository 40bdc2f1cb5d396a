/**
 * The database layer's shared suite: every case runs against SQLite (embedded default) and a
 * real PostgreSQL 15 (cluster mode) started on a free port in a temporary directory, in the
 * spirit of aedes' abstract persistence suite. A backend that fails one case is not a backend.
 */
import { afterAll, beforeAll, describe } from 'vitest';
import { BACKENDS } from './backends.js';
import { alarmLedgerCases } from './cases/alarm-ledger.js';
import { deliveryClaimCases } from './cases/delivery-claims.js';
import { emergencyLinkageCases } from './cases/emergency-linkage.js';
import { hashChainCases } from './cases/hash-chains.js';
import { leaderElectionCases } from './cases/leader-election.js';
import { leaderJobsCases } from './cases/leader-jobs.js';
import { notificationBusCases, notificationBusReconnectCases } from './cases/notification-bus.js';
import { platformStateCases } from './cases/platform-state.js';
import { presenceShareCases } from './cases/presence-share.js';
import { schemaCases } from './cases/schema.js';

for (const makeBackend of BACKENDS) {
  const backend = makeBackend();
  describe(`the database layer on ${backend.kind}`, () => {
    beforeAll(() => backend.setUp(), 60_000);
    // Stopping PostgreSQL removes its data directory: one database per case (about 8 MB each,
    // copied from template1), which outgrew the default 30 s hook timeout on a loaded machine.
    afterAll(() => backend.tearDown(), 120_000);
    schemaCases(backend);
    leaderElectionCases(backend);
    leaderJobsCases(backend);
    deliveryClaimCases(backend);
    emergencyLinkageCases(backend);
    hashChainCases(backend);
    notificationBusCases(backend);
    platformStateCases(backend);
    alarmLedgerCases(backend);
    presenceShareCases(backend);
    // SQLite's bus is in-process: it has no listening session to lose.
    if (backend.kind === 'postgres') {
      describe('notification bus (PostgreSQL session loss)', () =>
        notificationBusReconnectCases(backend));
    }
  });
}
