/**
 * Cluster-mode test parts: Debian's mosquitto 2 started on a free port with the password and
 * ACL files generated from a users file (server/auth/mosquitto-files.ts) in a temporary
 * directory, server nodes in external mode (in this process, or as a child process that can be
 * killed with SIGKILL), a real gateway (gateway/gateway.ts with its disk outbox), and the count
 * of stored readings across every node's store.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { systemClock } from '../../common/clock.js';
import { freePort } from '../../common/net.js';
import { parseGatewayConfig } from '../../gateway/config/index.js';
import { Gateway } from '../../gateway/gateway.js';
import type { MqttUser } from '../../server/auth/config.js';
import { serviceIdentity } from '../../server/auth/mosquitto-files.js';
import { hashPassword } from '../../server/auth/password.js';
import { CentralServer } from '../../server/central-server.js';
import { parseServerConfig, type ServerConfig } from '../../server/config/index.js';
import { createTelemetryStore } from '../../server/store/index.js';
import {
  type MosquittoBroker,
  startMosquitto as startMosquittoBroker,
} from '../support/mosquitto.js';
import { clusterNodeConfig } from './node-config.js';

const here = path.dirname(fileURLToPath(import.meta.url));

export type Cleanup = () => Promise<void> | void;

export const SERVICE = serviceIdentity();
export const SERVICE_PASSWORD = 'node-secret-for-tests-only';
/** Plaintext credentials of the test identities (what hash-password.ts printed once). */
export const PASSWORDS: Record<string, string> = {
  'gw-01': 'gw-01-secret',
  'gw-02': 'gw-02-secret',
  'ecc-1': 'ecc-1-secret',
  [SERVICE.username]: SERVICE_PASSWORD,
};
export const NOTIFICATIONS = 'hazardwatch/v1/emergency/notifications';

/** The users file of the tests: two gateways of two enterprises and an emergency centre. */
export async function testUsers(): Promise<MqttUser[]> {
  return [
    {
      username: 'gw-01',
      role: 'gateway',
      enterpriseId: 'ent-01',
      passwordHash: await hashPassword(PASSWORDS['gw-01']!),
    },
    {
      username: 'gw-02',
      role: 'gateway',
      enterpriseId: 'ent-02',
      passwordHash: await hashPassword(PASSWORDS['gw-02']!),
    },
    {
      username: 'ecc-1',
      role: 'client',
      passwordHash: await hashPassword(PASSWORDS['ecc-1']!),
      subscribe: [NOTIFICATIONS],
      publish: [`${NOTIFICATIONS}/receipts`],
    },
  ];
}

export function tempDir(cleanups: Cleanup[], prefix = 'hw-cluster-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export async function waitUntil(
  predicate: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export type ClusterBroker = MosquittoBroker;

/** mosquitto on a free port with the files generated from `users` and {@link PASSWORDS}. */
export async function startMosquitto(
  cleanups: Cleanup[],
  users: readonly MqttUser[],
): Promise<ClusterBroker> {
  const broker = await startMosquittoBroker({ users, credentials: PASSWORDS, service: SERVICE });
  cleanups.push(broker.stop);
  return broker;
}

/**
 * The config of one server node in external mode with the test identity, its telemetry and
 * state in its own SQLite file (the builder, node-config.ts, is shared with the bench).
 */
export function nodeConfig(brokerUrl: string, nodeId: string, storePath: string): ServerConfig {
  return clusterNodeConfig({
    nodeId,
    brokerUrl,
    service: SERVICE,
    servicePassword: SERVICE_PASSWORD,
    storePath,
  });
}

export async function startNode(
  cleanups: Cleanup[],
  brokerUrl: string,
  nodeId: string,
  storePath: string,
): Promise<CentralServer> {
  const server = new CentralServer(nodeConfig(brokerUrl, nodeId, storePath), { dashboard: false });
  cleanups.push(() => server.stop());
  await server.start();
  return server;
}

/** A node in a child process (node-child.ts), for kill -9. */
export async function spawnNode(
  cleanups: Cleanup[],
  brokerUrl: string,
  nodeId: string,
  storePath: string,
): Promise<{ child: ChildProcess; exited: Promise<unknown> }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(here, 'node-child.ts'), brokerUrl, nodeId, storePath],
    {
      cwd: path.resolve(here, '../..'),
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LOG_LEVEL: 'silent' },
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  await waitUntil(
    () => {
      if (child.exitCode !== null) throw new Error(`node ${nodeId} exited: ${stderr}`);
      return stdout.includes('started');
    },
    `node ${nodeId} to start`,
    30_000,
  );
  return { child, exited };
}

export const SENSORS = ['S000', 'S001', 'S002', 'S003', 'S004'];

/**
 * A real gateway (gw-01 of ent-01) whose uplink connects to `brokerUrl` with its password.
 * Its Modbus device is not there (acquisition keeps retrying); the test feeds readings of its
 * catalogued sensors through the gateway's own uplink and outbox.
 */
export async function startGateway(
  cleanups: Cleanup[],
  brokerUrl: string,
  dir: string,
  ackTimeoutMs: number,
): Promise<Gateway> {
  const modbusPort = await freePort();
  const tags = SENSORS.map(
    (id, i) =>
      `      - { sensorId: ${id}, name: ${id}, kind: gas, gas: methane, unit: '%LEL', rangeMin: 0, rangeMax: 100, register: { table: input, address: ${i * 2}, type: float32 } }`,
  ).join('\n');
  const yaml = `
gateway: { id: gw-01, enterpriseId: ent-01 }
uplink:
  url: ${brokerUrl}
  username: gw-01
  password: ${PASSWORDS['gw-01']}
  publishIntervalMs: ${GATEWAY_PUBLISH_INTERVAL_MS}
  ackTimeoutMs: ${ackTimeoutMs}
  outbox: { path: ${path.join(dir, 'outbox.db')} }
devices:
  - id: dev-1
    protocol: modbus-tcp
    host: 127.0.0.1
    port: ${modbusPort}
    tags:
${tags}
`;
  const config = parseGatewayConfig(yaml, 'gateway.yaml', { env: {}, baseDir: dir });
  const gateway = new Gateway(config);
  cleanups.push(() => gateway.stop());
  await gateway.start();
  return gateway;
}

/** Readings k = 0..perSensor-1 of every sensor, ts = t0 + k, value k. */
export function readingsFor(t0: number, from: number, to: number) {
  const readings = [];
  for (let k = from; k < to; k++) {
    for (const sensorId of SENSORS)
      readings.push({ sensorId, value: k, quality: 'good' as const, ts: t0 + k });
  }
  return readings;
}

/** The test gateway batches its readings for this long before they enter its outbox. */
const GATEWAY_PUBLISH_INTERVAL_MS = 50;

/** Items in the gateway's outbox (readings still waiting for their batch are not counted). */
export function backlog(gateway: Gateway): number {
  const health = gateway.uplink.health!();
  return health.backlog.telemetry.items + health.backlog.alarms.items;
}

/**
 * Waits until everything the test handed the gateway is acknowledged: first a few publish
 * intervals, so readings buffered for the next batch are in the outbox, then an empty outbox.
 * Waiting for the empty outbox alone raced the last batch: with acknowledgements quick enough,
 * the outbox was empty while the final tick's readings still sat in the batch buffer, and the
 * stores were read without them (the rolling-restart test's "missing 40", the last tick).
 */
export async function drained(gateway: Gateway, what: string, timeoutMs?: number): Promise<void> {
  await new Promise((r) => setTimeout(r, 4 * GATEWAY_PUBLISH_INTERVAL_MS));
  await waitUntil(() => backlog(gateway) === 0, what, timeoutMs);
}

/**
 * What the stores of all nodes hold together, per sensor: readings k in [0, expected) missing
 * from every store, readings stored more than once (across nodes), and readings per node.
 * Each store is opened afresh from its file, so a killed node's store counts too.
 */
export async function storedAcross(
  storePaths: readonly string[],
  t0: number,
  expected: number,
): Promise<{
  missing: number;
  duplicates: number;
  extra: number;
  perNode: number[];
  seqs: number;
}> {
  const seen = new Map<string, number>();
  const perNode: number[] = [];
  const seqs = new Set<number>();
  let extra = 0;
  for (const storePath of storePaths) {
    const store = createTelemetryStore(
      parseServerConfig({ store: { path: storePath } }).store,
      systemClock,
    );
    await store.start();
    let count = 0;
    try {
      for (const sensorId of SENSORS) {
        const rows = await store.queryRange({
          gatewayId: 'gw-01',
          sensorId,
          from: t0,
          to: t0 + 1_000_000, // the gateway's own readings of its absent device are an hour later
          limit: 10_000_000,
        });
        for (const row of rows) {
          const k = row.ts - t0;
          if (row.value !== k || k >= expected) extra++;
          const key = `${sensorId}/${k}`;
          seen.set(key, (seen.get(key) ?? 0) + 1);
          seqs.add(row.seq);
          count++;
        }
      }
    } finally {
      await store.stop();
    }
    perNode.push(count);
  }
  let missing = 0;
  let duplicates = 0;
  for (const sensorId of SENSORS) {
    for (let k = 0; k < expected; k++) {
      const n = seen.get(`${sensorId}/${k}`) ?? 0;
      if (n === 0) missing++;
      if (n > 1) duplicates += n - 1;
    }
  }
  return { missing, duplicates, extra, perNode, seqs: seqs.size };
}
