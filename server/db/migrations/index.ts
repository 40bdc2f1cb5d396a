/**
 * Every migration of the platform state, in order, registered here once. Kysely's Migrator
 * records the applied ones in `kysely_migration` and applies the rest in name order; on
 * PostgreSQL it holds an advisory lock meanwhile, so nodes starting together migrate once.
 *
 * Rules for a new migration: a new file `NNNN-what.ts` with `up` (and `down` where reverting
 * cannot lose evidence), written with Kysely's schema builder so it runs on both engines
 * (engine-specific SQL only through ./dialect.ts), added to the list below; never edit one that
 * has shipped.
 */
import type { Migration, MigrationProvider } from 'kysely';
import * as platformState from './0001-platform-state.js';
import * as clusterPrimitives from './0002-cluster-primitives.js';
import * as supervision from './0003-supervision.js';
import * as fleet from './0004-fleet.js';
import * as linkage from './0005-linkage.js';
import * as gatewayPresence from './0006-gateway-presence.js';
import * as claimsHeartbeat from './0007-claims-heartbeat.js';

export const MIGRATIONS: Readonly<Record<string, Migration>> = {
  '0001-platform-state': platformState,
  '0002-cluster-primitives': clusterPrimitives,
  '0003-supervision': supervision,
  '0004-fleet': fleet,
  '0005-linkage': linkage,
  '0006-gateway-presence': gatewayPresence,
  '0007-claims-heartbeat': claimsHeartbeat,
};

/** Static provider: the list above (no directory scan, so bundling and tsx both work). */
export const migrationProvider: MigrationProvider = {
  getMigrations: async () => ({ ...MIGRATIONS }),
};

export const LATEST_MIGRATION = Object.keys(MIGRATIONS).sort().at(-1)!;
