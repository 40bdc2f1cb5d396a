/**
 * Cluster settings of the server config (docs/cluster.md): which broker the node uses, how it
 * reaches an external one, and who the node is. The JSON Schema fragments are spread into
 * server/config/schema.ts; `clusterConfigProblems` is what the schema cannot say.
 *
 *   node:
 *     id: server-1                  # or HAZARDWATCH_NODE_ID; one per node
 *   mqtt:
 *     mode: external                # 'embedded' (default: aedes inside the server) | 'external'
 *     url: mqtts://emqx:8883        # the MQTT 5 broker (cluster)
 *     username: hazardwatch-node    # the nodes' service identity
 *     password: ...                 # or HAZARDWATCH_BROKER_PASSWORD
 *     shareGroup: hazardwatch       # $share/<group>/hazardwatch/v1/+/+/<channel>
 *     brokerTls: { caFile, certFile, keyFile }
 *
 * No key here has a schema default: a config without them is the embedded server, exactly as
 * before (its parsed form does not change), and `mqttMode()` reads the absent mode as embedded.
 */
import { ID_PATTERN } from '../../protocol/index.js';

export const MQTT_MODES = ['embedded', 'external'] as const;
export type MqttMode = (typeof MQTT_MODES)[number];

export const EXTERNAL_BROKER_DEFAULTS = {
  shareGroup: 'hazardwatch',
  // 5 min: QoS 1 messages the broker queued for this node's session wait across a restart
  // that takes less; longer keeps a dead node's share queued for longer (docs/cluster.md).
  sessionExpirySeconds: 300,
  // Messages handed to ingest and not yet finished; beyond it the node stops reading from the
  // broker (TCP backpressure) and, MQTT 5, tells it so through Receive Maximum [MQTT-3.1.2.11.3].
  maxInFlight: 1_000,
  keepaliveSeconds: 30, // 30 s: a dead broker connection is noticed within 45 s [MQTT-3.1.2-24]
  reconnectPeriodMs: 1_000, // 1 s between reconnect attempts
  connectTimeoutMs: 10_000, // 10 s for CONNACK
} as const;

export interface ExternalBrokerTlsConfig {
  /** CA bundle that signed the broker's certificate (default: the system's). */
  readonly caFile?: string;
  /** Client certificate and key, when the broker authenticates the node by certificate. */
  readonly certFile?: string;
  readonly keyFile?: string;
}

/** The external-mode keys of `mqtt` (all absent in embedded mode). */
export interface ExternalBrokerKeys {
  readonly mode?: MqttMode;
  readonly url?: string;
  readonly username?: string;
  readonly password?: string;
  readonly shareGroup?: string;
  readonly sessionExpirySeconds?: number;
  readonly maxInFlight?: number;
  readonly brokerTls?: ExternalBrokerTlsConfig;
  /** EMQX auth hook: the secret EMQX sends in x-hazardwatch-hook-secret (server/api/broker-auth-routes.ts). */
  readonly authHookSecret?: string;
}

export interface NodeConfig {
  /** This node's id: its broker client id suffix, its PostgreSQL application name, its logs. */
  readonly id?: string;
}

const file = (title: string) => ({ title, type: 'string', minLength: 1 }) as const;

/** Spread into the `mqtt` object's properties (server/config/schema.ts). */
export const externalBrokerSchemaProperties = {
  mode: {
    title: 'Broker mode',
    description:
      "'embedded' (when absent): the server runs its own aedes broker on host:port. 'external': the node connects to an MQTT 5 broker cluster (EMQX, mosquitto) as a service identity and consumes gateway traffic through shared subscriptions (docs/cluster.md).",
    enum: MQTT_MODES,
  },
  url: {
    title: 'External broker URL (mode external)',
    description: 'mqtt://host:1883 or mqtts://host:8883.',
    type: 'string',
    pattern: '^mqtts?://[^\\s]+$',
  },
  username: {
    title: "The node's service identity (mode external)",
    description:
      'The username every server node connects with; the broker grants it the shared subscriptions and the ack/command publishes. The client id is <username>-<node.id>.',
    type: 'string',
    pattern: ID_PATTERN,
  },
  password: {
    title: 'Service identity password (mode external)',
    description: 'Keep it out of files: HAZARDWATCH_BROKER_PASSWORD.',
    type: 'string',
    minLength: 1,
  },
  shareGroup: {
    title: 'Shared-subscription group (mode external)',
    description: `Every node of one cluster uses the same group; the broker gives each message to one of them. Default '${EXTERNAL_BROKER_DEFAULTS.shareGroup}'.`,
    type: 'string',
    // [MQTT-4.8.2-2]: a ShareName has no '/', '+' or '#'.
    pattern: '^[A-Za-z0-9_.-]{1,64}$',
  },
  sessionExpirySeconds: {
    title: 'Session expiry (s, mode external)',
    description: `How long the broker keeps this node's session (subscriptions, queued QoS 1 messages) after it disconnects. Default ${EXTERNAL_BROKER_DEFAULTS.sessionExpirySeconds}.`,
    type: 'integer',
    minimum: 0,
    maximum: 86_400,
  },
  maxInFlight: {
    title: 'Messages in ingest at once (mode external)',
    description: `Beyond this the node stops reading from the broker until ingest catches up. Default ${EXTERNAL_BROKER_DEFAULTS.maxInFlight}.`,
    type: 'integer',
    minimum: 1,
    maximum: 65_535, // MQTT 5 Receive Maximum is a two-byte integer [MQTT-3.1.2.11.3]
  },
  authHookSecret: {
    title: 'EMQX auth hook secret (mode external)',
    description:
      'Shared with EMQX, which sends it in the x-hazardwatch-hook-secret header when it asks /api/v1/broker/authenticate and /authorize (docs/cluster.md "EMQX auth hook"). At least 32 characters; keep it out of files: HAZARDWATCH_BROKER_HOOK_SECRET.',
    type: 'string',
    minLength: 32,
  },
  brokerTls: {
    title: 'TLS to the external broker (mode external)',
    description:
      'For mqtts:// URLs: the CA that signed the broker, and a client certificate if the broker asks for one.',
    type: 'object',
    additionalProperties: false,
    properties: {
      caFile: file('CA bundle (PEM)'),
      certFile: file('Client certificate (PEM)'),
      keyFile: file('Client private key (PEM)'),
    },
  },
} as const;

/** The top-level `node` section. */
export const nodeConfigSchema = {
  title: 'This server node',
  type: 'object',
  additionalProperties: false,
  properties: {
    id: {
      title: 'Node id',
      description:
        'Required in cluster mode (mqtt.mode external), one per node: HAZARDWATCH_NODE_ID. Its broker client id is <mqtt.username>-<id>.',
      type: 'string',
      pattern: ID_PATTERN,
    },
  },
} as const;

const EXTERNAL_ONLY = [
  'url',
  'username',
  'password',
  'shareGroup',
  'sessionExpirySeconds',
  'maxInFlight',
  'brokerTls',
  'authHookSecret',
] as const;

/** The broker mode of a parsed config (absent: embedded). */
export function mqttMode(mqtt: ExternalBrokerKeys): MqttMode {
  return mqtt.mode ?? 'embedded';
}

/** Checks the schema cannot express; one `path: message` line per problem. */
export function clusterConfigProblems(config: {
  readonly mqtt: ExternalBrokerKeys & { readonly tls?: unknown };
  readonly node?: NodeConfig;
}): string[] {
  const problems: string[] = [];
  const { mqtt } = config;
  if (mqttMode(mqtt) === 'embedded') {
    for (const key of EXTERNAL_ONLY) {
      if (mqtt[key] !== undefined) {
        problems.push(`mqtt.${key}: is used only when mqtt.mode is 'external'`);
      }
    }
    return problems;
  }
  if (!mqtt.url) problems.push("mqtt.url: is required when mqtt.mode is 'external'");
  if (!mqtt.username) problems.push("mqtt.username: is required when mqtt.mode is 'external'");
  if (!mqtt.password) {
    problems.push(
      "mqtt.password: is required when mqtt.mode is 'external' (or HAZARDWATCH_BROKER_PASSWORD)",
    );
  }
  if (!config.node?.id) {
    problems.push(
      "node.id: is required when mqtt.mode is 'external', one per node (or HAZARDWATCH_NODE_ID)",
    );
  }
  if (mqtt.tls !== undefined) {
    problems.push(
      "mqtt.tls: is the embedded broker's listener; with mqtt.mode 'external' use mqtt.brokerTls",
    );
  }
  const tls = mqtt.brokerTls;
  if (tls && (tls.certFile === undefined) !== (tls.keyFile === undefined)) {
    problems.push('mqtt.brokerTls: certFile and keyFile go together');
  }
  if (tls && mqtt.url?.startsWith('mqtt://')) {
    problems.push(`mqtt.brokerTls: needs an mqtts:// URL (got '${mqtt.url}')`);
  }
  return problems;
}
