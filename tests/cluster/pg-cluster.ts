/**
 * Cluster-mode test parts with shared state: one real PostgreSQL 15 (tests/support/postgres.ts)
 * holding every node's platform state, server nodes in external mode as child processes
 * (pg-node-child.ts) that can be killed with SIGKILL or stopped and restarted, and queries on
 * the shared database. The emergency centre that counts the pages is tests/support/page-receiver.ts.
 * Telemetry stays in one SQLite file per node (the cluster's InfluxDB stand-in is not needed to
 * count readings: `storedAcross` in harness.ts reads every node's file).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServerConfig } from '../../server/config/index.js';
import { type Cleanup, SERVICE, SERVICE_PASSWORD, waitUntil } from './harness.js';
import { clusterNodeConfig } from './node-config.js';

const here = path.dirname(fileURLToPath(import.meta.url));

export const CENTRE_SECRET = 'centre-secret-for-tests-only';

export interface PgNodeSettings {
  brokerUrl: string;
  databaseUrl: string;
  receiverUrl: string;
  /** ms after arrival at which an unacknowledged alarm escalates to county, city, province. */
  acknowledgeWithinMs: readonly number[];
}

/**
 * The config of one cluster node: external broker, PostgreSQL state (a pool of 4 connections),
 * one county emergency centre, the test's escalation deadlines. The shape comes from
 * node-config.ts, shared with harness.ts and the cluster bench; this adds only the choices of
 * this test.
 */
export function pgNodeConfig(
  settings: PgNodeSettings,
  nodeId: string,
  storePath: string,
): ServerConfig {
  return clusterNodeConfig({
    nodeId,
    brokerUrl: settings.brokerUrl,
    service: SERVICE,
    servicePassword: SERVICE_PASSWORD,
    storePath,
    database: { url: settings.databaseUrl, poolSize: 4 },
    emergencyCentre: {
      id: 'ecc-1',
      name: 'County emergency centre',
      url: settings.receiverUrl,
      secret: CENTRE_SECRET,
    },
    acknowledgeWithinMs: settings.acknowledgeWithinMs,
  });
}

export interface PgNode {
  readonly nodeId: string;
  readonly storePath: string;
  child: ChildProcess;
  exited: Promise<unknown>;
  /** Whether the node last reported itself leader. */
  leader: boolean;
  /** What the node printed (started, elected, deposed, stopped). */
  output(): string;
}

/** A node in its own process (pg-node-child.ts); resolves once it consumes from the broker. */
export async function spawnPgNode(
  cleanups: Cleanup[],
  settings: PgNodeSettings,
  nodeId: string,
  storePath: string,
  dir: string,
): Promise<PgNode> {
  const configFile = path.join(dir, `${nodeId}.json`);
  writeFileSync(configFile, JSON.stringify(pgNodeConfig(settings, nodeId, storePath)));
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(here, 'pg-node-child.ts'), configFile],
    {
      cwd: path.resolve(here, '../..'),
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LOG_LEVEL: 'silent' },
    },
  );
  let stdout = '';
  let stderr = '';
  const node: PgNode = {
    nodeId,
    storePath,
    child,
    exited: new Promise((resolve) => child.once('exit', resolve)),
    leader: false,
    output: () => stdout,
  };
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    for (const line of chunk.toString().split('\n')) {
      if (line === 'elected') node.leader = true;
      if (line === 'deposed') node.leader = false;
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  await waitUntil(
    () => {
      if (child.exitCode !== null) throw new Error(`node ${nodeId} exited: ${stderr.slice(-2000)}`);
      return stdout.includes('started');
    },
    `node ${nodeId} to start`,
    30_000,
  );
  return node;
}

/** SIGTERM (a clean stop: last StoreAcks, claims released) and wait for the exit. */
export async function stopPgNode(node: PgNode): Promise<void> {
  if (node.child.exitCode !== null || node.child.signalCode !== null) return;
  node.child.kill('SIGTERM');
  await node.exited;
}

export async function killPgNode(node: PgNode): Promise<void> {
  node.child.kill('SIGKILL');
  await node.exited;
  node.leader = false;
}

/** Counts per key, and the keys seen more than once. */
export function duplicatesOf(keys: readonly string[]): string[] {
  const counts = new Map<string, number>();
  for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1);
  return [...counts].filter(([, n]) => n > 1).map(([k, n]) => `${k}×${n}`);
}
