/**
 * Parts of the cluster benchmark (cluster.bench.ts): server nodes in their own processes
 * (tests/cluster/pg-node-child.ts, the cluster test's node) that can be killed with SIGKILL, their configs (the embedded single-process
 * server and the external-broker cluster node), mosquitto with the bench gateways' generated
 * password and ACL files. The emergency centre's webhook that times every page is
 * tests/support/page-receiver.ts, shared with the PostgreSQL cluster test.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MqttUser } from '../server/auth/config.js';
import { serviceIdentity } from '../server/auth/mosquitto-files.js';
import { generateSecret } from '../server/auth/password.js';
import { parseServerConfig, type ServerConfig } from '../server/config/index.js';
import {
  clusterNodeConfig as buildClusterNodeConfig,
  influxStore,
} from '../tests/cluster/node-config.js';
import { type MosquittoBroker, startMosquitto } from '../tests/support/mosquitto.js';
import { benchChildEnv } from './child-env.js';
import type { BenchGateway } from './ingest-support.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const NODE_START_TIMEOUT_MS = 60_000; // tsx compiles the server on a loaded machine
const STDERR_KEPT = 4_000; // characters of a node's stderr kept for an error message

/** The server nodes' identity on the broker, with a password made for this run. */
export const SERVICE = serviceIdentity();
export const SERVICE_PASSWORD = generateSecret();

/** mosquitto with the files generated from `users` (plaintexts in `credentials`) plus SERVICE. */
export function startBenchMosquitto(
  users: readonly MqttUser[],
  credentials: Readonly<Record<string, string>>,
): Promise<MosquittoBroker> {
  return startMosquitto({
    users,
    credentials: { ...credentials, [SERVICE.username]: SERVICE_PASSWORD },
    service: SERVICE,
  });
}

/** The plaintext credentials of the bench gateways, by username. */
export function credentialsOf(gateways: readonly BenchGateway[]): Record<string, string> {
  return Object.fromEntries(gateways.map((g) => [g.id, g.password]));
}

/** The embedded single-process server: aedes with the users file, the given telemetry store. */
export function singleConfig(options: {
  users: readonly MqttUser[];
  influxUrl: string;
  storePath: string;
}): ServerConfig {
  return parseServerConfig({
    http: { port: 0 },
    mqtt: { port: 0, auth: { mode: 'password', users: options.users } },
    store: influxStore(options.influxUrl, options.storePath),
  });
}

export interface ClusterNodeSettings {
  brokerUrl: string;
  /** PostgreSQL for the platform state (absent: the node's own SQLite file at storePath). */
  databaseUrl?: string;
  poolSize?: number;
  /** Telemetry on InfluxDB (absent: the node's SQLite telemetry store). */
  influxUrl?: string;
  /** One emergency centre's webhook, paged from level 2. */
  receiver?: { url: string; secret: string };
  /** How long the broker keeps a (dead) node's session and its share of the traffic. */
  sessionExpirySeconds?: number;
}

/**
 * The config of one node in external-broker mode with this run's service password. The shape
 * comes from tests/cluster/node-config.ts, the builder the cluster tests use too, so the bench
 * measures nodes configured as the tested ones are; only the bench's own choices are here.
 */
export function clusterNodeConfig(
  settings: ClusterNodeSettings,
  nodeId: string,
  storePath: string,
): ServerConfig {
  return buildClusterNodeConfig({
    nodeId,
    brokerUrl: settings.brokerUrl,
    service: SERVICE,
    servicePassword: SERVICE_PASSWORD,
    storePath,
    sessionExpirySeconds: settings.sessionExpirySeconds,
    database:
      settings.databaseUrl !== undefined
        ? { url: settings.databaseUrl, poolSize: settings.poolSize }
        : undefined,
    influxUrl: settings.influxUrl,
    emergencyCentre: settings.receiver && {
      id: 'ecc-bench',
      name: 'Bench emergency centre',
      url: settings.receiver.url,
      secret: settings.receiver.secret,
    },
  });
}

/**
 * A server node in its own process. Lifecycle: {@link spawnNode} resolves once the node
 * consumes (external mode) or listens (embedded); `kill()` is SIGKILL, `stop()` a clean
 * SIGTERM; both wait for the exit and are safe on a node that is gone.
 */
export interface BenchNode {
  readonly name: string;
  readonly child: ChildProcess;
  /** The embedded broker's port (0 in external mode). */
  readonly mqttPort: number;
  /** Whether the node last reported itself leader. */
  leader: boolean;
  alive(): boolean;
  kill(): Promise<void>;
  stop(): Promise<void>;
}

export async function spawnNode(
  config: ServerConfig,
  name: string,
  dir: string,
): Promise<BenchNode> {
  const configFile = path.join(dir, `${name}.json`);
  writeFileSync(configFile, JSON.stringify(config));
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(here, '../tests/cluster/pg-node-child.ts'), configFile],
    {
      cwd: path.resolve(here, '..'),
      stdio: ['ignore', 'pipe', 'pipe'],
      // Warnings and errors of the node reach the bench's stderr; info would drown them.
      env: { ...benchChildEnv(), LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' },
    },
  );
  let stdout = '';
  let stderr = '';
  let mqttPort = -1;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const alive = () => child.exitCode === null && child.signalCode === null;
  const node: BenchNode = {
    name,
    child,
    get mqttPort() {
      return mqttPort;
    },
    leader: false,
    alive,
    async kill() {
      if (alive()) child.kill('SIGKILL');
      await exited;
      node.leader = false;
    },
    async stop() {
      if (alive()) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
      node.leader = false;
    },
  };
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    stdout += chunk;
    for (const line of chunk.split('\n')) {
      if (line === 'elected') node.leader = true;
      if (line === 'deposed') node.leader = false;
      if (line.startsWith('started ')) mqttPort = Number(line.slice('started '.length));
    }
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_KEPT);
    process.stderr.write(`[${name}] ${chunk}`);
  });
  const deadline = Date.now() + NODE_START_TIMEOUT_MS;
  while (mqttPort < 0) {
    if (!alive()) throw new Error(`node ${name} exited before it started: ${stderr}`);
    if (Date.now() > deadline) {
      await node.kill();
      throw new Error(`node ${name} did not start within ${NODE_START_TIMEOUT_MS} ms: ${stdout}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return node;
}

/** Waits until exactly one live node reports itself leader; returns it. */
export async function leaderOf(
  nodes: readonly BenchNode[],
  timeoutMs = 30_000,
): Promise<BenchNode> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const leaders = nodes.filter((n) => n.alive() && n.leader);
    if (leaders.length === 1) return leaders[0]!;
    if (Date.now() > deadline) {
      throw new Error(
        `no single live leader after ${timeoutMs} ms (leaders: ${leaders.map((n) => n.name).join(', ') || 'none'})`,
      );
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
