/**
 * MQTT security settings of the server config: the JSON Schema properties
 * spread into `mqtt` (server/config/schema.ts), their types, and the checks
 * the schema cannot express.
 *
 *   mqtt:
 *     auth:
 *       mode: password            # 'none' (loopback only) | 'password' | 'mtls'
 *       usersFile: deploy/mqtt-users.yaml   # and/or inline `users:`
 *     tls: { certFile, keyFile, caFile }    # TLS listener (mtls: caFile signs client certs)
 *     maxPacketBytes: 2097152
 *     drainTimeoutMs: 10000
 */
import { ID_PATTERN, MAX_READINGS_PER_BATCH } from '../../protocol/index.js';

export const MQTT_AUTH_MODES = ['none', 'password', 'mtls'] as const;
export type MqttAuthMode = (typeof MQTT_AUTH_MODES)[number];

export const MQTT_USER_ROLES = ['gateway', 'client', 'service'] as const;
export type MqttUserRole = (typeof MQTT_USER_ROLES)[number];

/**
 * One identity. A gateway's username is its gateway id (and its MQTT client
 * id); it may publish only `hazardwatch/v1/{enterpriseId}/{username}/{telemetry|alarm|status}`
 * and subscribe only to its own `ack` and `command` topics. A client (e.g. an
 * emergency centre on the MQTT linkage topic) gets exactly the topics listed.
 * A service identity is the server nodes' own, on an external broker (cluster mode, the
 * EMQX auth hook): it reads every gateway channel (through the nodes' shared group) and the
 * emergency receipts, and writes acks, commands, the fleet's server channels, the emergency
 * topic and the ledger anchors (server/auth/mqtt-access.ts `serviceTopicRules`); its client id
 * is `<username>-<node id>`. The embedded broker refuses it: it has no use for one.
 */
export interface MqttUser {
  readonly username: string;
  readonly role: MqttUserRole;
  /** Gateways: the enterprise in its topics. */
  readonly enterpriseId?: string;
  /** scrypt hash (server/auth/password.ts); required in password mode. */
  readonly passwordHash?: string;
  /** Clients: exact topics it may publish to (no wildcards). */
  readonly publish?: readonly string[];
  /** Clients: exact topic filters it may subscribe to (no wildcards). */
  readonly subscribe?: readonly string[];
}

export interface MqttAuthConfig {
  readonly mode: MqttAuthMode;
  readonly users: readonly MqttUser[];
  /** YAML or JSON file with more users (a list, or `{ users: [...] }`), read at broker start. */
  readonly usersFile?: string;
}

export interface MqttTlsConfig {
  readonly certFile: string;
  readonly keyFile: string;
  /** CA bundle that signs client certificates (required for mtls). */
  readonly caFile?: string;
}

export interface MqttSecurityConfig {
  readonly auth: MqttAuthConfig;
  readonly tls?: MqttTlsConfig;
  readonly maxPacketBytes: number;
  readonly drainTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly maxConnections: number;
}

const exactTopic = {
  type: 'string',
  minLength: 1,
  maxLength: 512,
  // No wildcards and no $-topics ($SYS): [MQTT-4.7.2-1].
  pattern: '^[^#+$\\u0000][^#+\\u0000]*$',
} as const;

export const mqttUserSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['username', 'role'],
  properties: {
    username: {
      title: 'Username (gateways: the gateway id, also the MQTT client id)',
      type: 'string',
      pattern: ID_PATTERN,
    },
    role: {
      title: 'Role',
      description:
        "'gateway': its own topics only; 'client': the topics listed; 'service': the server nodes on an external broker (cluster mode).",
      enum: MQTT_USER_ROLES,
    },
    enterpriseId: { title: 'Enterprise id (gateways)', type: 'string', pattern: ID_PATTERN },
    passwordHash: {
      title: 'scrypt password hash',
      description: 'From `npx tsx server/auth/hash-password.ts`; never the password itself.',
      type: 'string',
      pattern: '^scrypt\\$',
    },
    publish: { title: 'Topics a client may publish to', type: 'array', items: exactTopic },
    subscribe: { title: 'Topics a client may subscribe to', type: 'array', items: exactTopic },
  },
} as const;

/** Spread into the `mqtt` object's properties. */
export const mqttSecuritySchemaProperties = {
  auth: {
    title: 'Who may connect, and to which topics',
    type: 'object',
    additionalProperties: false,
    default: {},
    properties: {
      mode: {
        title: 'Authentication mode',
        description:
          "'none' lets anyone in (allowed only on a loopback host: the demo); 'password': username and scrypt-hashed password; 'mtls': a client certificate whose CN is the username (needs mqtt.tls.caFile).",
        enum: MQTT_AUTH_MODES,
        default: 'none',
      },
      users: { title: 'Users', type: 'array', default: [], items: mqttUserSchema },
      usersFile: {
        title: 'Users file',
        description:
          'YAML or JSON with more users (a list or { users: [...] }); relative to the working directory.',
        type: 'string',
        minLength: 1,
      },
    },
  },
  tls: {
    title: 'TLS listener',
    description: 'When set, the MQTT port speaks TLS only (MQTT over TLS, usually port 8883).',
    type: 'object',
    additionalProperties: false,
    required: ['certFile', 'keyFile'],
    properties: {
      certFile: { title: 'Server certificate (PEM)', type: 'string', minLength: 1 },
      keyFile: { title: 'Server private key (PEM)', type: 'string', minLength: 1 },
      caFile: {
        title: 'CA for client certificates (PEM)',
        description: 'Required for mode mtls; clients must present a certificate it signed.',
        type: 'string',
        minLength: 1,
      },
    },
  },
  maxPacketBytes: {
    title: 'Largest MQTT packet accepted (bytes)',
    description: `A client sending more is disconnected. Default 2 MiB holds a full batch of ${MAX_READINGS_PER_BATCH} readings.`,
    type: 'integer',
    minimum: 1_024,
    maximum: 268_435_455, // MQTT 3.1.1 §2.2.3: the largest Remaining Length
    default: 2 * 1024 * 1024,
  },
  drainTimeoutMs: {
    title: 'Drop a client that does not read for this long (ms)',
    description:
      'A frozen client whose socket buffer stays full is disconnected after this, so it cannot hold up deliveries to others.',
    type: 'integer',
    minimum: 100,
    maximum: 600_000,
    default: 10_000,
  },
  connectTimeoutMs: {
    title: 'Time from TCP connect to MQTT CONNECT (ms)',
    type: 'integer',
    minimum: 100,
    maximum: 600_000,
    default: 10_000,
  },
  maxConnections: {
    title: 'Concurrent connections at most',
    type: 'integer',
    minimum: 1,
    maximum: 1_000_000,
    default: 20_000,
  },
} as const;

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK.test(host);
}

/** Checks the schema cannot express; one line per problem. */
export function mqttSecurityProblems(
  mqtt: { readonly host: string } & MqttSecurityConfig,
): string[] {
  const problems: string[] = [];
  const { auth, tls } = mqtt;
  if (auth.mode === 'none' && !isLoopbackHost(mqtt.host)) {
    problems.push(
      `mqtt.auth.mode: 'none' lets anyone publish and is allowed only on a loopback host; use 'password' or 'mtls' (got host '${mqtt.host}')`,
    );
  }
  if (auth.mode === 'mtls' && !tls?.caFile) {
    problems.push("mqtt.tls.caFile: is required when mqtt.auth.mode is 'mtls'");
  }
  if (auth.mode !== 'none' && auth.users.length === 0 && !auth.usersFile) {
    problems.push(`mqtt.auth.users: '${auth.mode}' mode needs users (or mqtt.auth.usersFile)`);
  }
  problems.push(...userProblems(auth.users, auth.mode, 'mqtt.auth.users'));
  return problems;
}

/** Per-user checks, also applied to a users file when the broker loads it. */
export function userProblems(
  users: readonly MqttUser[],
  mode: MqttAuthMode,
  path: string,
): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  users.forEach((user, i) => {
    const at = `${path}[${i}]`;
    if (seen.has(user.username)) {
      problems.push(`${at}.username: duplicate username (got '${user.username}')`);
    }
    seen.add(user.username);
    if (user.role === 'gateway' && !user.enterpriseId) {
      problems.push(`${at}.enterpriseId: is required for a gateway`);
    }
    if (user.role === 'service') {
      for (const key of ['enterpriseId', 'publish', 'subscribe'] as const) {
        if (user[key] !== undefined) {
          problems.push(`${at}.${key}: a service identity's rights are fixed; remove '${key}'`);
        }
      }
    }
    if (mode === 'password' && !user.passwordHash) {
      problems.push(`${at}.passwordHash: is required in password mode`);
    }
  });
  return problems;
}

/** The top-level `audit` section: where refusals and rejected input are written. */
export interface AuditConfig {
  /** JSONL file; default: audit.jsonl beside the SQLite file (memory only for ':memory:'). */
  readonly path?: string;
  readonly maxBytes: number;
  readonly maxRecordsPerSecond: number;
}

export const auditConfigSchema = {
  title: 'Security audit log (JSONL)',
  description:
    'Refused connections, publishes and subscriptions, dropped clients and rejected payloads.',
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    path: {
      title: 'Audit log file',
      description: "Default: audit.jsonl beside store.path (kept in memory for ':memory:').",
      type: 'string',
      minLength: 1,
    },
    maxBytes: {
      title: 'Rotate after this many bytes',
      description: 'One rotated file (<path>.1) is kept: at most twice this on disk.',
      type: 'integer',
      minimum: 1_024,
      default: 10 * 1024 * 1024,
    },
    maxRecordsPerSecond: {
      title: 'Records written per second at most',
      description: 'Beyond this, records are counted and summarised once a second.',
      type: 'integer',
      minimum: 1,
      default: 200,
    },
  },
} as const;
