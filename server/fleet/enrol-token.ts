/**
 * Makes a one-time enrolment token from the command line (the administrator's alternative to
 * POST /api/v1/fleet/tokens), in the platform database: the server's SQLite file (--store), or
 * whatever the config names (--config: its `database` section, PostgreSQL in a cluster, else
 * its store.path); a running server sees it at once.
 *
 *   npx tsx server/fleet/enrol-token.ts --enterprise ent-a [--gateway-id gw-7] [--ttl-hours 24]
 *       [--store data/hazardwatch.db | --config deploy/server.yaml] [--by alice]
 *
 * Prints the token (shown once: the server keeps only its hash) and when it expires.
 */
import { parseArgs } from 'node:util';
import { systemClock } from '../../common/clock.js';
import { loadServerConfig } from '../config/index.js';
import type { DatabaseConfig } from '../db/config.js';
import { Database } from '../db/database.js';
import { EnrolmentRefused, makeToken } from './enrolment.js';
import { FleetStore } from './fleet-store.js';

const USAGE = `usage: npx tsx server/fleet/enrol-token.ts --enterprise <id> [--gateway-id <id>] [--ttl-hours <h>]
       [--store <server.db> | --config <server.yaml>] [--by <who>]`;

function fail(message: string, code: number): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

let values: Record<string, string | boolean | undefined>;
try {
  ({ values } = parseArgs({
    options: {
      enterprise: { type: 'string' },
      'gateway-id': { type: 'string' },
      'ttl-hours': { type: 'string' },
      store: { type: 'string' },
      config: { type: 'string' },
      by: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  }));
} catch (err) {
  fail(`${(err as Error).message}\n${USAGE}`, 2);
}
if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const enterpriseId = values.enterprise;
if (typeof enterpriseId !== 'string') fail(`--enterprise is required\n${USAGE}`, 2);
const databaseConfig: DatabaseConfig =
  typeof values.store === 'string'
    ? { kind: 'sqlite', path: values.store }
    : typeof values.config === 'string'
      ? platformDatabaseOf(loadServerConfig(values.config))
      : { kind: 'sqlite', path: 'data/hazardwatch.db' };
/** As the central server does (platformDatabaseConfig), without loading the server for it. */
function platformDatabaseOf(config: ReturnType<typeof loadServerConfig>): DatabaseConfig {
  return config.database ?? { kind: 'sqlite', path: config.store.path };
}

const ttlHours = typeof values['ttl-hours'] === 'string' ? Number(values['ttl-hours']) : 24;
if (!Number.isFinite(ttlHours) || ttlHours <= 0)
  fail(`--ttl-hours: must be a positive number (got '${values['ttl-hours']}')`, 2);

const database = new Database(databaseConfig);
try {
  await database.start();
  const made = await makeToken(new FleetStore(database), systemClock, {
    enterpriseId,
    ...(typeof values['gateway-id'] === 'string' ? { gatewayId: values['gateway-id'] } : {}),
    ttlMs: Math.round(ttlHours * 3_600_000),
    by: typeof values.by === 'string' ? values.by : `cli:${process.env.USER ?? 'unknown'}`,
  });
  process.stdout.write(
    `${JSON.stringify({ token: made.token, enterpriseId, expiresAt: new Date(made.expiresAt).toISOString() })}\n`,
  );
} catch (err) {
  await database.stop();
  if (err instanceof EnrolmentRefused) fail(err.message, 2);
  fail((err as Error).message, 1);
}
await database.stop();
