/**
 * mosquitto's `password_file` and `acl_file`, generated from the same users file the embedded
 * broker reads (server/auth/mqtt-access.ts), for cluster mode on mosquitto 2 (docs/cluster.md,
 * docs/mqtt-security.md "Cluster mode: the broker enforces"):
 *
 *   npx tsx server/auth/mosquitto-files.ts --users deploy/mqtt-users.yaml \
 *       --credentials secrets/mqtt-credentials.yaml --out /etc/mosquitto/hazardwatch \
 *       [--service hazardwatch-node] [--share-group hazardwatch] [--config server.yaml]
 *
 * Passwords. The users file keeps scrypt hashes; mosquitto 2 wants its own PBKDF2-SHA512 hash
 * (`$7$<iterations>$<salt>$<hash>`, what mosquitto_passwd writes), which can only be made from
 * the plaintext. So the generator takes a credentials file (`{ credentials: { <username>:
 * <password> } }`, kept 0600 beside the secrets it was issued with, never in the repository)
 * and checks every plaintext against the users file's scrypt hash before using it: the two
 * files cannot drift apart silently, and a user without a credential is refused by name (no
 * user is left out of the broker unnoticed). The service identity's password comes from the
 * credentials file or HAZARDWATCH_BROKER_PASSWORD.
 *
 * Rights, the same as the embedded broker's:
 * - a gateway: write its own `hazardwatch/v1/<ent>/<gw>/{telemetry,alarm,status}` and fleet
 *   channels; read its own `ack`, `command` and fleet `config`, `fleet-command`;
 * - a client: exactly the topics listed for it;
 * - the service identity (the server nodes): read every gateway channel (taken through
 *   `$share/<group>/…`) and the emergency receipts; write `ack`, `command`, the fleet's
 *   server channels, the emergency topic and the two ledger anchors.
 * No `#`, no `$SYS`: nothing not listed is granted (mosquitto denies by default once an
 * acl_file is set). What mosquitto's files cannot express is listed in docs/mqtt-security.md.
 */
import { pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import {
  FLEET_GATEWAY_CHANNELS,
  FLEET_SERVER_CHANNELS,
  fleetTopicFor,
  GATEWAY_CHANNELS,
  SERVER_CHANNELS,
  topicFor,
} from '../../protocol/index.js';
import type { MqttUser } from './config.js';
import { loadUsersFile, type ServiceTopics, serviceTopicRules } from './mqtt-access.js';
import { verifyPassword } from './password.js';

export const MOSQUITTO_FILES_DEFAULTS = {
  // mosquitto_passwd's own default in mosquitto 2.0 (PW_DEFAULT_ITERATIONS). Enough for the
  // 256-bit machine secrets hash-password.ts issues (no guessing reaches them); raise it with
  // --iterations for human-chosen passwords.
  iterations: 101,
  saltBytes: 12, // mosquitto 2.0 SALT_LEN
  hashBytes: 64, // SHA-512 output
  service: 'hazardwatch-node',
  shareGroup: 'hazardwatch',
  emergencyTopic: 'hazardwatch/v1/emergency/notifications', // platform.emergencyTopic default
  anchorTopic: 'hazardwatch/ledger/anchor', // ledger.anchorTopic default
  // QoS 1 messages queued per client while it is away (mosquitto's default is 1,000): a server
  // node restarting under load holds its share of every gateway's traffic for that long.
  maxQueuedMessages: 100_000,
} as const;

/** Who the server nodes are on the broker, and the topics they publish beyond acks/commands. */
export interface ServiceIdentity extends ServiceTopics {
  readonly username: string;
}

export function serviceIdentity(overrides: Partial<ServiceIdentity> = {}): ServiceIdentity {
  return {
    username: overrides.username ?? MOSQUITTO_FILES_DEFAULTS.service,
    shareGroup: overrides.shareGroup ?? MOSQUITTO_FILES_DEFAULTS.shareGroup,
    emergencyTopic: overrides.emergencyTopic ?? MOSQUITTO_FILES_DEFAULTS.emergencyTopic,
    anchorTopic: overrides.anchorTopic ?? MOSQUITTO_FILES_DEFAULTS.anchorTopic,
  };
}

function derive(password: string, salt: Buffer, iterations: number, bytes: number) {
  return new Promise<Buffer>((resolve, reject) =>
    pbkdf2(password, salt, iterations, bytes, 'sha512', (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

/** A mosquitto 2 password hash, `$7$<iterations>$<salt b64>$<PBKDF2-SHA512 b64>`. */
export async function mosquittoPasswordHash(
  password: string,
  options: { iterations?: number; salt?: Buffer } = {},
): Promise<string> {
  const iterations = options.iterations ?? MOSQUITTO_FILES_DEFAULTS.iterations;
  const salt = options.salt ?? randomBytes(MOSQUITTO_FILES_DEFAULTS.saltBytes);
  const key = await derive(password, salt, iterations, MOSQUITTO_FILES_DEFAULTS.hashBytes);
  return `$7$${iterations}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** Checks a password against a `$7$` hash, as mosquitto does. */
export async function verifyMosquittoPassword(password: string, hash: string): Promise<boolean> {
  const [, seven, iterations, salt, key] = hash.split('$');
  if (seven !== '7' || !iterations || !salt || !key) return false;
  const expected = Buffer.from(key, 'base64');
  const got = await derive(
    password,
    Buffer.from(salt, 'base64'),
    Number(iterations),
    expected.length,
  );
  return timingSafeEqual(got, expected);
}

/** Reads `{ credentials: { user: password } }` (or the bare map). Throws naming the problem. */
export function loadCredentialsFile(file: string): Record<string, string> {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read credentials file '${file}': ${(err as Error).message}`, {
      cause: err,
    });
  }
  const map = (raw as { credentials?: unknown } | null)?.credentials ?? raw;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) {
    throw new Error(`credentials file '${file}': must map usernames to passwords`);
  }
  const out: Record<string, string> = {};
  for (const [user, password] of Object.entries(map)) {
    if (typeof password !== 'string' || password === '') {
      throw new Error(`credentials file '${file}': ${user}: must be a non-empty string`);
    }
    out[user] = password;
  }
  return out;
}

/** One line per user: `username:$7$...`. Throws listing every user it cannot write. */
export async function mosquittoPasswordFile(
  users: readonly MqttUser[],
  credentials: Readonly<Record<string, string>>,
  service: { username: string; password: string | undefined },
  options: { iterations?: number } = {},
): Promise<string> {
  const problems: string[] = [];
  const lines: string[] = [];
  const entries: [string, string | undefined, string | undefined][] = users.map((u) => [
    u.username,
    credentials[u.username],
    u.passwordHash,
  ]);
  // The users file may list the service identity itself (role 'service', with its hash).
  const listed = users.find((u) => u.username === service.username && u.role === 'service');
  if (!listed) {
    entries.push([service.username, service.password ?? credentials[service.username], undefined]);
  }
  for (const u of users) {
    if (u.role === 'service' && u.username !== service.username) {
      problems.push(
        `${u.username}: a service identity other than '${service.username}' (--service); mosquitto's files grant one`,
      );
    }
  }
  for (const [username, password, scryptHash] of entries) {
    if (password === undefined) {
      problems.push(`${username}: no password in the credentials`);
      continue;
    }
    if (scryptHash && !(await verifyPassword(password, scryptHash))) {
      problems.push(`${username}: the credential does not match the users file's passwordHash`);
      continue;
    }
    lines.push(`${username}:${await mosquittoPasswordHash(password, options)}`);
  }
  if (users.some((u) => u.username === service.username && u.role !== 'service')) {
    problems.push(`${service.username}: the service identity is also a user in the users file`);
  }
  if (problems.length > 0) {
    throw new Error(
      `cannot write the mosquitto password file:\n${problems.map((p) => `  ${p}`).join('\n')}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** A topic as an acl_file line takes it: no line breaks, no surrounding spaces. */
function aclTopic(topic: string): string {
  if (/[\r\n]/.test(topic) || topic.trim() !== topic || topic === '') {
    throw new Error(`topic '${topic}' cannot be written to a mosquitto acl_file`);
  }
  return topic;
}

/** The acl_file: one `user` block per identity, rules in the embedded broker's terms. */
export function mosquittoAclFile(users: readonly MqttUser[], service: ServiceIdentity): string {
  const out: string[] = [
    '# Generated by server/auth/mosquitto-files.ts from the MQTT users file: do not edit.',
    '# With an acl_file, mosquitto denies whatever no rule below grants.',
  ];
  const block = (username: string, write: string[], read: string[]) => {
    out.push('', `user ${username}`);
    for (const topic of write) out.push(`topic write ${aclTopic(topic)}`);
    for (const topic of read) out.push(`topic read ${aclTopic(topic)}`);
  };
  for (const user of users) {
    // Written once below, from the same rules the EMQX hook applies.
    if (user.role === 'service') continue;
    if (user.role === 'gateway') {
      const ent = user.enterpriseId!;
      const gw = user.username;
      block(
        gw,
        [
          ...GATEWAY_CHANNELS.map((c) => topicFor(ent, gw, c)),
          ...FLEET_GATEWAY_CHANNELS.map((c) => fleetTopicFor(ent, gw, c)),
        ],
        [
          ...SERVER_CHANNELS.map((c) => topicFor(ent, gw, c)),
          ...FLEET_SERVER_CHANNELS.map((c) => fleetTopicFor(ent, gw, c)),
        ],
      );
    } else {
      block(user.username, [...(user.publish ?? [])], [...(user.subscribe ?? [])]);
    }
  }
  const rules = serviceTopicRules(service);
  block(service.username, rules.write, rules.read);
  return `${out.join('\n')}\n`;
}

/** The mosquitto.conf part that switches the files on; include it beside your listeners. */
export function mosquittoConf(passwordFile: string, aclFile: string): string {
  return [
    '# Generated by server/auth/mosquitto-files.ts: HazardWatch cluster mode (docs/cluster.md).',
    '# Add your listeners (TLS on 8883 for gateways outside the machine) in the main config.',
    'per_listener_settings false',
    'allow_anonymous false',
    `password_file ${passwordFile}`,
    `acl_file ${aclFile}`,
    `max_queued_messages ${MOSQUITTO_FILES_DEFAULTS.maxQueuedMessages}`,
    // Alarms delivered to server nodes must not wait for Nagle + delayed ACK (~40 ms) behind a
    // telemetry batch (issue 19); mosquitto leaves Nagle on by default.
    'set_tcp_nodelay true',
    '',
  ].join('\n');
}

export interface MosquittoFilesOptions {
  users: readonly MqttUser[];
  credentials: Readonly<Record<string, string>>;
  service: ServiceIdentity;
  /** The service identity's password when the credentials do not hold it. */
  servicePassword?: string;
  outDir: string;
  iterations?: number;
}

/** Writes `passwords` (0600), `acl` and `hazardwatch.conf` into `outDir`; returns their paths. */
export async function writeMosquittoFiles(
  options: MosquittoFilesOptions,
): Promise<{ passwordFile: string; aclFile: string; confFile: string }> {
  const outDir = path.resolve(options.outDir);
  const passwords = await mosquittoPasswordFile(
    options.users,
    options.credentials,
    { username: options.service.username, password: options.servicePassword },
    options.iterations !== undefined ? { iterations: options.iterations } : {},
  );
  const acl = mosquittoAclFile(options.users, options.service);
  mkdirSync(outDir, { recursive: true });
  const passwordFile = path.join(outDir, 'passwords');
  const aclFile = path.join(outDir, 'acl');
  const confFile = path.join(outDir, 'hazardwatch.conf');
  writeFileSync(passwordFile, passwords, { mode: 0o600 });
  chmodSync(passwordFile, 0o600); // an existing file keeps its mode on write
  writeFileSync(aclFile, acl);
  writeFileSync(confFile, mosquittoConf(passwordFile, aclFile));
  return { passwordFile, aclFile, confFile };
}

const USAGE =
  'usage: tsx server/auth/mosquitto-files.ts --users <file> --credentials <file> --out <dir> [--service name] [--share-group name] [--emergency-topic t] [--anchor-topic t] [--iterations n]';

async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      users: { type: 'string' },
      credentials: { type: 'string' },
      out: { type: 'string' },
      service: { type: 'string' },
      'share-group': { type: 'string' },
      'emergency-topic': { type: 'string' },
      'anchor-topic': { type: 'string' },
      iterations: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (!values.users || !values.out || !values.credentials) {
    throw new Error('--users, --credentials and --out are required');
  }
  const service = serviceIdentity({
    ...(values.service ? { username: values.service } : {}),
    ...(values['share-group'] ? { shareGroup: values['share-group'] } : {}),
    ...(values['emergency-topic'] ? { emergencyTopic: values['emergency-topic'] } : {}),
    ...(values['anchor-topic'] ? { anchorTopic: values['anchor-topic'] } : {}),
  });
  const iterations = values.iterations ? Number(values.iterations) : undefined;
  if (iterations !== undefined && !(Number.isInteger(iterations) && iterations >= 1)) {
    throw new Error(`--iterations: must be an integer >= 1 (got '${values.iterations}')`);
  }
  const files = await writeMosquittoFiles({
    users: loadUsersFile(values.users, 'password'),
    credentials: loadCredentialsFile(values.credentials),
    service,
    ...(env.HAZARDWATCH_BROKER_PASSWORD
      ? { servicePassword: env.HAZARDWATCH_BROKER_PASSWORD }
      : {}),
    outDir: values.out,
    ...(iterations !== undefined ? { iterations } : {}),
  });
  process.stdout.write(
    `wrote ${files.passwordFile}, ${files.aclFile} and ${files.confFile}\n` +
      `add to mosquitto.conf: include_dir ${path.dirname(files.confFile)}\n`,
  );
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2), process.env).catch((err: unknown) => {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    process.exitCode = 2;
  });
}
