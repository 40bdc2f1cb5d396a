/**
 * Who a connecting MQTT client is, and what it may do.
 *
 * Authentication (`authenticate`): in password mode the username names a
 * user and the password must match its scrypt hash; in mtls mode the TLS
 * layer has already verified the client certificate against the CA and its
 * subject CN names the user. Either way the MQTT client id must equal the
 * username, so no one can take over another gateway's session (a CONNECT
 * with an existing client id replaces that session, [MQTT-3.1.4-2]).
 *
 * Authorisation (`mayPublish`, `maySubscribe`): a gateway publishes only on
 * `hazardwatch/v1/{its enterprise}/{its id}/{telemetry|alarm|status}` and
 * subscribes only to its own `ack` and `command` topics; a client only to the
 * exact topics listed for it. Wildcard filters (`#`, `+`) and `$` topics
 * (`$SYS`, [MQTT-4.7.2-1]) are never granted.
 *
 * Fleet (docs/fleet.md): gateways enrolled by the server come from a {@link MqttUserDirectory}
 * (asked after the static users); a revoked one is refused by name. Each gateway may also hold
 * a second connection with client id `{id}:fleet` (fleetClientId), limited to its fleet channels:
 * publish health, config-status and fleet-result; subscribe to config and fleet-command.
 *
 * Service identity (role 'service', cluster mode): the server nodes on an external broker, asked
 * through the EMQX auth hook (server/api/broker-auth-routes.ts); client id `<username>-<node id>`,
 * rights {@link serviceTopicRules} (the same lists mosquitto's acl_file gets). Only an
 * MqttAccess given `service` topics knows it; the embedded broker refuses it by name.
 *
 * Successful password checks are remembered for `cacheTtlMs` as an HMAC of
 * the password under a per-process random key (never the password), so a
 * reconnect storm costs one scrypt per gateway per hour, not per reconnect.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { parse as parseYaml } from 'yaml';
import {
  FLEET_GATEWAY_CHANNELS,
  FLEET_SERVER_CHANNELS,
  fleetClientId,
  fleetTopicFor,
  GATEWAY_CHANNELS,
  isValidId,
  parseFleetTopic,
  parseTopic,
  SERVER_CHANNELS,
  TOPIC_ROOT,
  topicFor,
} from '../../protocol/index.js';
import { HAZARD_ANCHOR_TOPIC } from '../alarms/ledger-integrity.js';
import { type MqttAuthMode, type MqttUser, mqttUserSchema, userProblems } from './config.js';
import { verifyPassword } from './password.js';

export const MQTT_ACCESS_DEFAULTS = {
  cacheTtlMs: 60 * 60_000, // 1 h: a verified password is re-checked with scrypt after this
} as const;

/** The topics of the server nodes' service identity beyond the gateways' channels. */
export interface ServiceTopics {
  /** The nodes' shared-subscription group: `$share/<group>/…`. */
  readonly shareGroup: string;
  /** platform.emergencyTopic: notifications out, `<topic>/receipts` in. */
  readonly emergencyTopic: string;
  /** ledger.anchorTopic (the disposal ledger's anchors). */
  readonly anchorTopic: string;
}

/**
 * What the service identity may write and read (topic filters, `+` one level, `#` the rest):
 * one list for mosquitto's acl_file (mosquitto-files.ts) and the EMQX hook (mayPublish,
 * maySubscribe), so the two brokers cannot grant different things.
 */
export function serviceTopicRules(service: ServiceTopics): { write: string[]; read: string[] } {
  const every = (channel: string) => `${TOPIC_ROOT}/v1/+/+/${channel}`;
  return {
    write: [
      ...[...SERVER_CHANNELS, ...FLEET_SERVER_CHANNELS].map(every),
      service.emergencyTopic,
      `${service.emergencyTopic}/#`,
      service.anchorTopic,
      HAZARD_ANCHOR_TOPIC, // the hazard chain's anchors (issue 16), beside the disposal ledger's
    ],
    // Read covers the subscription `$share/<group>/<topic>` and the delivery of <topic>.
    read: [
      ...[...GATEWAY_CHANNELS, ...FLEET_GATEWAY_CHANNELS].map(every),
      `${service.emergencyTopic}/receipts`,
    ],
  };
}

/**
 * Whether topic filter `pattern` covers `filter` (every topic `filter` matches, `pattern`
 * matches too). A topic without wildcards is a filter matching itself, so this is also
 * "does `pattern` match this topic" [MQTT-4.7].
 */
export function filterCovers(pattern: string, filter: string): boolean {
  const p = pattern.split('/');
  const f = filter.split('/');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '#') return i === p.length - 1;
    if (i >= f.length || f[i] === '#') return false;
    if (p[i] === '+') continue;
    if (f[i] === '+' || p[i] !== f[i]) return false;
  }
  return p.length === f.length;
}

/** The authenticated identity bound to one MQTT connection. */
export interface MqttIdentity {
  username: string;
  role: MqttUser['role'];
  enterpriseId?: string;
  /** The gateway's fleet-management connection (client id `{id}:fleet`). */
  fleet?: boolean;
  /** Service identities: this node's id (client id `<username>-<node>`). */
  node?: string;
}

/**
 * Identities that change while the broker runs (enrolled gateways, server/fleet). `find` answers
 * synchronously from memory; 'revoked' refuses the identity by name.
 */
export interface MqttUserDirectory {
  find(username: string): MqttUser | 'revoked' | undefined;
}

/** Why a CONNECT was refused; `returnCode` is the MQTT 3.1.1 CONNACK code (§3.2.2.3). */
export class ConnectRefused extends Error {
  constructor(
    readonly returnCode: 2 | 4 | 5,
    readonly reason: string,
  ) {
    super(reason);
    this.name = 'ConnectRefused';
  }
}

const validateUsers = new Ajv({ allErrors: true, strict: true }).compile({
  type: 'array',
  items: mqttUserSchema,
});

function schemaProblems(users: unknown): string[] {
  if (validateUsers(users)) return [];
  return (validateUsers.errors ?? []).map((e) => {
    const path = e.instancePath
      .split('/')
      .slice(1)
      .map((part) => (/^\d+$/.test(part) ? `[${part}]` : `.${part}`))
      .join('');
    const extra =
      e.keyword === 'additionalProperties' ? ` '${String(e.params.additionalProperty)}'` : '';
    return `users${path}: ${e.message ?? 'is invalid'}${extra}`;
  });
}

/** Reads a users file: a YAML/JSON list of users, or `{ users: [...] }`. Throws naming each problem. */
export function loadUsersFile(path: string, mode: MqttAuthMode): MqttUser[] {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read MQTT users file '${path}': ${(err as Error).message}`, {
      cause: err,
    });
  }
  const users = Array.isArray(raw) ? raw : (raw as { users?: unknown } | null)?.users;
  const problems = Array.isArray(users)
    ? schemaProblems(users)
    : ['(file): must be a list of users or { users: [...] }'];
  if (problems.length === 0) problems.push(...userProblems(users as MqttUser[], mode, 'users'));
  if (problems.length > 0) {
    throw new Error(
      `invalid MQTT users file '${path}':\n${problems.map((p) => `  ${p}`).join('\n')}`,
    );
  }
  return users as MqttUser[];
}

export interface MqttAccessOptions {
  mode: MqttAuthMode;
  users: readonly MqttUser[];
  cacheTtlMs?: number;
  now?: () => number;
  /** Enrolled gateways (asked when the name is not a static user). */
  directory?: MqttUserDirectory;
  /** The service identity's topics: given, role 'service' users may connect (external broker). */
  service?: ServiceTopics;
}

export class MqttAccess {
  private readonly users = new Map<string, MqttUser>();
  private readonly cacheKey = randomBytes(32);
  private readonly verified = new Map<string, { mac: Buffer; until: number }>();
  private readonly now: () => number;
  /** scrypt verifications run (cache misses); for metrics and tests. */
  scryptChecks = 0;

  constructor(private readonly options: MqttAccessOptions) {
    for (const user of options.users) this.users.set(user.username, user);
    this.now = options.now ?? Date.now;
  }

  get mode(): MqttAuthMode {
    return this.options.mode;
  }

  /**
   * The identity for a CONNECT, or throws {@link ConnectRefused}. `certificateCn`
   * is the verified client certificate's subject CN (TLS listener), if any.
   */
  async authenticate(
    clientId: string,
    username: string | undefined,
    password: Buffer | undefined,
    certificateCn: string | undefined,
  ): Promise<MqttIdentity | null> {
    const mode = this.options.mode;
    if (mode === 'none') return null;
    let name: string;
    if (mode === 'mtls') {
      if (!certificateCn) throw new ConnectRefused(5, 'no verified client certificate');
      name = certificateCn;
    } else {
      if (!username || !password) throw new ConnectRefused(4, 'username and password required');
      name = username;
    }
    const found = this.users.get(name) ?? this.options.directory?.find(name);
    if (found === 'revoked') {
      throw new ConnectRefused(mode === 'mtls' ? 5 : 4, `gateway '${name}' is revoked`);
    }
    const user = found;
    if (!user) {
      throw new ConnectRefused(mode === 'mtls' ? 5 : 4, `unknown user '${name.slice(0, 64)}'`);
    }
    if (user.role === 'service' && !this.options.service) {
      throw new ConnectRefused(
        5,
        `'${name}' is a service identity (the server nodes on an external broker); this broker takes none`,
      );
    }
    if (mode === 'password' && !(await this.checkPassword(user, password!))) {
      throw new ConnectRefused(4, `wrong password for '${name}'`);
    }
    return this.bind(user, clientId);
  }

  /**
   * The identity of an already authenticated connection, for a broker that asks per publish or
   * subscribe (the EMQX hook): the user named, its client id bound as at CONNECT; null when
   * the user is unknown, revoked, a service identity this access does not take, or the client
   * id is not its own.
   */
  identify(clientId: string, username: string): MqttIdentity | null {
    if (this.options.mode === 'none') return null;
    const user = this.users.get(username) ?? this.options.directory?.find(username);
    if (!user || user === 'revoked') return null;
    if (user.role === 'service' && !this.options.service) return null;
    try {
      return this.bind(user, clientId);
    } catch {
      return null;
    }
  }

  /** [MQTT-3.1.3-8]-style refusal with 0x02: the client id is bound to the identity. */
  private bind(user: MqttUser, clientId: string): MqttIdentity {
    const fleet = user.role === 'gateway' && clientId === fleetClientId(user.username);
    const prefix = `${user.username}-`;
    const node =
      user.role === 'service' && clientId.startsWith(prefix) ? clientId.slice(prefix.length) : null;
    const serviceBound = node !== null && isValidId(node);
    if (clientId !== user.username && !fleet && !serviceBound) {
      throw new ConnectRefused(
        2,
        `client id '${clientId.slice(0, 64)}' is not the authenticated identity '${user.username}'`,
      );
    }
    const identity: MqttIdentity = { username: user.username, role: user.role };
    if (user.enterpriseId) identity.enterpriseId = user.enterpriseId;
    if (fleet) identity.fleet = true;
    if (serviceBound) identity.node = node;
    return identity;
  }

  /** Whether this identity may publish to `topic` (null identity: mode none, anything goes). */
  mayPublish(identity: MqttIdentity | null, topic: string): boolean {
    if (this.options.mode === 'none') return true;
    if (!identity) return false;
    if (identity.role === 'service') {
      const service = this.options.service;
      if (!service || /[#+]/.test(topic) || topic.startsWith('$')) return false;
      return serviceTopicRules(service).write.some((rule) => filterCovers(rule, topic));
    }
    if (identity.role === 'client') {
      return this.users.get(identity.username)?.publish?.includes(topic) ?? false;
    }
    if (identity.fleet) {
      const fleetTopic = parseFleetTopic(topic);
      return (
        fleetTopic !== null &&
        fleetTopic.gatewayId === identity.username &&
        fleetTopic.enterpriseId === identity.enterpriseId &&
        (FLEET_GATEWAY_CHANNELS as readonly string[]).includes(fleetTopic.channel)
      );
    }
    const parsed = parseTopic(topic);
    return (
      parsed !== null &&
      parsed.gatewayId === identity.username &&
      parsed.enterpriseId === identity.enterpriseId &&
      (GATEWAY_CHANNELS as readonly string[]).includes(parsed.channel)
    );
  }

  /** Whether this identity may subscribe to `filter` (exact topics only outside mode none). */
  maySubscribe(identity: MqttIdentity | null, filter: string): boolean {
    if (this.options.mode === 'none') return true;
    if (identity?.role === 'service') return this.serviceMaySubscribe(filter);
    if (!identity || /[#+]/.test(filter) || filter.startsWith('$')) return false;
    if (identity.role === 'client') {
      return this.users.get(identity.username)?.subscribe?.includes(filter) ?? false;
    }
    const enterpriseId = identity.enterpriseId;
    if (!enterpriseId || !isValidId(enterpriseId)) return false;
    if (identity.fleet) {
      return (
        filter === fleetTopicFor(enterpriseId, identity.username, 'config') ||
        filter === fleetTopicFor(enterpriseId, identity.username, 'fleet-command')
      );
    }
    return (
      filter === topicFor(enterpriseId, identity.username, 'ack') ||
      filter === topicFor(enterpriseId, identity.username, 'command')
    );
  }

  /** `$share/<the nodes' group>/<filter>` or `<filter>`, covered by a read rule. */
  private serviceMaySubscribe(filter: string): boolean {
    const service = this.options.service;
    if (!service) return false;
    const shared = `$share/${service.shareGroup}/`;
    const inner = filter.startsWith(shared) ? filter.slice(shared.length) : filter;
    if (inner.startsWith('$') || inner === '') return false;
    return serviceTopicRules(service).read.some((rule) => filterCovers(rule, inner));
  }

  private async checkPassword(user: MqttUser, password: Buffer): Promise<boolean> {
    if (!user.passwordHash) return false;
    const text = password.toString('utf8');
    const mac = createHmac('sha256', this.cacheKey).update(text).digest();
    const cached = this.verified.get(user.username);
    if (cached && cached.until > this.now() && timingSafeEqual(cached.mac, mac)) return true;
    this.scryptChecks++;
    const ok = await verifyPassword(text, user.passwordHash);
    if (ok) {
      this.verified.set(user.username, {
        mac,
        until: this.now() + (this.options.cacheTtlMs ?? MQTT_ACCESS_DEFAULTS.cacheTtlMs),
      });
    }
    return ok;
  }
}
