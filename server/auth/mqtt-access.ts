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
  fleetClientId,
  fleetTopicFor,
  GATEWAY_CHANNELS,
  isValidId,
  parseFleetTopic,
  parseTopic,
  topicFor,
} from '../../protocol/index.js';
import { type MqttAuthMode, type MqttUser, mqttUserSchema, userProblems } from './config.js';
import { verifyPassword } from './password.js';

export const MQTT_ACCESS_DEFAULTS = {
  cacheTtlMs: 60 * 60_000, // 1 h: a verified password is re-checked with scrypt after this
} as const;

/** The authenticated identity bound to one MQTT connection. */
export interface MqttIdentity {
  username: string;
  role: MqttUser['role'];
  enterpriseId?: string;
  /** The gateway's fleet-management connection (client id `{id}:fleet`). */
  fleet?: boolean;
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
    if (mode === 'password' && !(await this.checkPassword(user, password!))) {
      throw new ConnectRefused(4, `wrong password for '${name}'`);
    }
    // [MQTT-3.1.3-8]-style refusal with 0x02: the client id is bound to the identity.
    const fleet = user.role === 'gateway' && clientId === fleetClientId(user.username);
    if (clientId !== user.username && !fleet) {
      throw new ConnectRefused(
        2,
        `client id '${clientId.slice(0, 64)}' is not the authenticated identity '${user.username}'`,
      );
    }
    const identity: MqttIdentity = { username: user.username, role: user.role };
    if (user.enterpriseId) identity.enterpriseId = user.enterpriseId;
    if (fleet) identity.fleet = true;
    return identity;
  }

  /** Whether this identity may publish to `topic` (null identity: mode none, anything goes). */
  mayPublish(identity: MqttIdentity | null, topic: string): boolean {
    if (this.options.mode === 'none') return true;
    if (!identity) return false;
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
