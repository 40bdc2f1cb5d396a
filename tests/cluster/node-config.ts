/**
 * The config of one server node in external (cluster) mode: an external MQTT broker reached
 * with the nodes' shared service identity, plus whatever a caller adds (the broker's session
 * expiry, PostgreSQL state, InfluxDB telemetry, one emergency centre, escalation deadlines).
 *
 * Why one builder: the cluster tests (harness.ts, pg-cluster.ts) and the cluster bench
 * (bench/cluster-support.ts) each spelt out the same external-mode block and differed only in
 * what they added, so a change to external mode (a key renamed, one made required) had three
 * places to miss, and a bench could quietly measure a node configured unlike the one tested.
 * The callers keep only their own choices (which password, which centre) in small adapters.
 *
 * A pure function: no I/O; the result is parsed and frozen by parseServerConfig, so a bad
 * option fails here with the config's own error naming the key.
 */
import type { ServiceIdentity } from '../../server/auth/mosquitto-files.js';
import { parseServerConfig, type ServerConfig } from '../../server/config/index.js';

/**
 * The pace at which a refused or lost emergency-centre POST is retried: within a second, not
 * after the production back-off, so a test or bench sees the retry inside its run.
 */
export const TEST_LINKAGE_RETRY = { retryInitialMs: 200, retryMaxMs: 1_000 } as const;
/** How often the escalation deadlines are checked: well inside the shortest test deadline. */
export const TEST_ESCALATION_TICK_MS = 200;
/** The disposal deadline of each escalation level, as a multiple of its acknowledgement one. */
export const DISPOSE_PER_ACKNOWLEDGE = 10;

export interface ClusterNodeOptions {
  nodeId: string;
  brokerUrl: string;
  /** The identity every node shares on the broker; its share group splits the traffic. */
  service: Pick<ServiceIdentity, 'username' | 'shareGroup'>;
  servicePassword: string;
  /**
   * The node's own SQLite file: its telemetry (unless `influxUrl`) and, without `database`,
   * its platform state too.
   */
  storePath: string;
  /** How long the broker keeps a (dead) node's session and its share of the traffic. */
  sessionExpirySeconds?: number;
  /** PostgreSQL for the platform state every node shares (absent: the node's SQLite file). */
  database?: { url: string; poolSize?: number };
  /** Telemetry on InfluxDB (absent: the node's SQLite telemetry store at storePath). */
  influxUrl?: string;
  /** One emergency centre's webhook, paged from level 2, retried at {@link TEST_LINKAGE_RETRY}. */
  emergencyCentre?: { id: string; name: string; url: string; secret: string };
  /**
   * ms after arrival at which an unacknowledged alarm escalates to county, city, province;
   * disposal deadlines are {@link DISPOSE_PER_ACKNOWLEDGE} times these.
   */
  acknowledgeWithinMs?: readonly number[];
}

/** Telemetry on InfluxDB (the bench uses VictoriaMetrics' InfluxDB line protocol endpoint). */
export function influxStore(influxUrl: string, storePath: string) {
  return { type: 'influxdb', path: storePath, influxdb: { url: influxUrl, bucket: 'telemetry' } };
}

/** The parsed config of one node in external-broker mode. */
export function clusterNodeConfig(options: ClusterNodeOptions): ServerConfig {
  const ack = options.acknowledgeWithinMs ? [...options.acknowledgeWithinMs] : undefined;
  return parseServerConfig({
    http: { port: 0 }, // a free port: several nodes run on one machine
    node: { id: options.nodeId },
    mqtt: {
      mode: 'external',
      url: options.brokerUrl,
      username: options.service.username,
      password: options.servicePassword,
      shareGroup: options.service.shareGroup,
      // Only when asked: absent, the server's own default applies, as in production.
      ...(options.sessionExpirySeconds !== undefined
        ? { sessionExpirySeconds: options.sessionExpirySeconds }
        : {}),
    },
    ...(options.database
      ? {
          database: {
            kind: 'postgres',
            url: options.database.url,
            ...(options.database.poolSize !== undefined
              ? { poolSize: options.database.poolSize }
              : {}),
          },
        }
      : {}),
    store: options.influxUrl
      ? influxStore(options.influxUrl, options.storePath)
      : { path: options.storePath },
    ...(options.emergencyCentre
      ? {
          emergencyCentres: [
            {
              id: options.emergencyCentre.id,
              name: options.emergencyCentre.name,
              url: options.emergencyCentre.url,
              secret: options.emergencyCentre.secret,
              minLevel: 2, // GB/T 50493-2019 §5.5.3: level 2 calls for action beyond the plant
            },
          ],
          linkage: { ...TEST_LINKAGE_RETRY },
        }
      : {}),
    ...(ack
      ? {
          platform: {
            escalation: {
              acknowledgeWithinMs: ack,
              disposeWithinMs: ack.map((ms) => ms * DISPOSE_PER_ACKNOWLEDGE),
              tickMs: TEST_ESCALATION_TICK_MS,
            },
          },
        }
      : {}),
  });
}
