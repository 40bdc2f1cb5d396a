/**
 * The central server's ingest side without sockets, as server/central-server.ts wires it on the
 * embedded default: the SQLite telemetry store, the platform Database, the alarm ledger and the
 * emergency notifier on that Database, the gateway registry, the event hub and ingest over them.
 * The server tests, the platform harness and the supervision harness each built this by hand;
 * what they add on top (the API, the platform, the supervision service, a recording fetch, an
 * ack sink) stays theirs.
 *
 * Lifecycle: `startServerParts()` resolves with everything started; `stop()` stops ingest, the
 * notifier, the ledger, the Database and the store, in that order (whatever was built on top
 * stops first, by its owner).
 */
import type { Clock } from '../../common/clock.js';
import { topicFor } from '../../protocol/index.js';
import { AlarmLedger } from '../../server/alarms/ledger.js';
import { Database } from '../../server/db/database.js';
import { EventHub } from '../../server/events.js';
import { GatewayRegistry } from '../../server/gateways.js';
import { Ingest, type IngestOptions } from '../../server/ingest.js';
import {
  EmergencyNotifier,
  type EmergencyNotifierOptions,
} from '../../server/linkage/emergency-notifier.js';
import { SqliteTelemetryStore } from '../../server/store/sqlite-store.js';

export interface ServerPartsOptions {
  /** Every part's clock (a ManualClock in most tests). */
  clock: Clock;
  /** One SQLite file for telemetry and platform state, as the server's store.path; ':memory:' when absent. */
  path?: string;
  /** The notifier's options beyond its database and node id (default: no centres, `clock`). */
  notifier?: Partial<Omit<EmergencyNotifierOptions, 'database'>>;
  /** Ingest's options beyond its parts (an ack sink, the screen, the audit hooks). */
  ingest?: Partial<IngestOptions>;
}

export interface ServerParts {
  clock: Clock;
  store: SqliteTelemetryStore;
  database: Database;
  ledger: AlarmLedger;
  notifier: EmergencyNotifier;
  gateways: GatewayRegistry;
  events: EventHub;
  ingest: Ingest;
  stop(): Promise<void>;
}

export async function startServerParts(options: ServerPartsOptions): Promise<ServerParts> {
  const { clock, path = ':memory:' } = options;
  const store = new SqliteTelemetryStore({ path, clock });
  const database = new Database({ kind: 'sqlite', path });
  await database.start();
  const ledger = new AlarmLedger({ database, clock });
  const notifier = new EmergencyNotifier({
    database,
    nodeId: 'node-1',
    clock,
    centres: [],
    ...options.notifier,
  });
  await store.start();
  await ledger.start();
  await notifier.start();
  const gateways = new GatewayRegistry(clock);
  const events = new EventHub();
  // As the server does: the notifier pages every committed raise from the hub.
  const unfollow = notifier.follow(events);
  const ingest = new Ingest({
    store,
    ledger,
    gateways,
    events,
    clock,
    ...options.ingest,
  });
  return {
    clock,
    store,
    database,
    ledger,
    notifier,
    gateways,
    events,
    ingest,
    async stop() {
      await ingest.stop();
      unfollow();
      await notifier.stop();
      await ledger.stop();
      await database.stop();
      await store.stop();
    },
  };
}

/** One message from a gateway as the broker hands it to ingest; ingest's outcome. */
export function deliver(
  ingest: Ingest,
  enterpriseId: string,
  gatewayId: string,
  channel: 'telemetry' | 'alarm' | 'status',
  payload: object,
): ReturnType<Ingest['handle']> {
  return ingest.handle({
    topic: topicFor(enterpriseId, gatewayId, channel),
    payload: Buffer.from(JSON.stringify(payload)),
    qos: 1,
    retain: false,
    clientId: gatewayId,
  });
}
