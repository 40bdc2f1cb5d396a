/**
 * Shared parts of bench/ingest.bench.ts and bench/broker.bench.ts: the
 * server under test (password-authenticated MQTT, SQLite or InfluxDB store),
 * a VictoriaMetrics process on a free port with a temporary data directory,
 * and the simulated gateways in a child process (ingest-gateways.ts).
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../common/net.js';
import type { MqttUser } from '../server/auth/config.js';
import { generateSecret, hashPassword } from '../server/auth/password.js';
import { CentralServer } from '../server/central-server.js';
import { parseServerConfig } from '../server/config/index.js';
import type { GatewayLoadMessage, GatewayLoadSpec } from './ingest-gateways.js';

export interface BenchGateway {
  id: string;
  enterpriseId: string;
  password: string;
}

/** Gateways with real per-gateway secrets and scrypt hashes (default cost, as in production). */
export async function makeGateways(
  count: number,
): Promise<{ gateways: BenchGateway[]; users: MqttUser[] }> {
  const gateways = Array.from({ length: count }, (_, i) => ({
    id: `bench-gw-${i}`,
    enterpriseId: `bench-ent-${i % 50}`,
    password: generateSecret(),
  }));
  const users = await Promise.all(
    gateways.map(
      async (g): Promise<MqttUser> => ({
        username: g.id,
        role: 'gateway',
        enterpriseId: g.enterpriseId,
        passwordHash: await hashPassword(g.password),
      }),
    ),
  );
  return { gateways, users };
}

export async function startServer(options: {
  users: MqttUser[];
  influxUrl?: string;
}): Promise<{ server: CentralServer; dir: string; stop(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hw-bench-'));
  const store = options.influxUrl
    ? {
        type: 'influxdb',
        path: path.join(dir, 'ledger.db'),
        influxdb: { url: options.influxUrl, bucket: 'telemetry' },
      }
    : { type: 'sqlite', path: path.join(dir, 'hazardwatch.db') };
  const server = new CentralServer(
    parseServerConfig({
      http: { port: 0 },
      mqtt: { port: 0, auth: { mode: 'password', users: options.users } },
      store,
    }),
    { dashboard: false },
  );
  await server.start();
  return {
    server,
    dir,
    async stop() {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** VictoriaMetrics (Debian's victoria-metrics) on a free port, unlimited retention. */
export async function startVictoriaMetrics(): Promise<{ url: string; stop(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hw-bench-vm-'));
  const port = await freePort();
  let child: ChildProcess;
  try {
    child = spawn(
      'victoria-metrics',
      [
        `-storageDataPath=${dir}`,
        `-httpListenAddr=127.0.0.1:${port}`,
        '-retentionPeriod=100y',
        '-loggerLevel=ERROR',
      ],
      { stdio: 'ignore' },
    );
  } catch (err) {
    throw new Error("cannot start 'victoria-metrics' (apt-get install -y victoria-metrics)", {
      cause: err,
    });
  }
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (err) =>
      reject(
        new Error(
          `'victoria-metrics' failed to start: ${err.message} (apt-get install -y victoria-metrics)`,
        ),
      ),
    );
  });
  const url = `http://127.0.0.1:${port}`;
  const ready = (async () => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        if ((await fetch(`${url}/health`)).ok) return;
      } catch {
        // not yet
      }
      if (Date.now() > deadline) throw new Error('victoria-metrics did not become ready');
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  await Promise.race([ready, failed]);
  return {
    url,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The simulated gateways in a child process (ingest-gateways.ts, run through tsx). */
export class GatewayLoad {
  private readonly child: ChildProcess;
  private readonly waiting: ((m: GatewayLoadMessage) => void)[] = [];

  constructor(spec: GatewayLoadSpec) {
    this.child = fork(fileURLToPath(new URL('./ingest-gateways.ts', import.meta.url)), [], {
      // HW_LOAD_EXEC_ARGS adds node flags to the gateway process (e.g. --cpu-prof).
      execArgv: [
        '--import',
        'tsx',
        ...(process.env.HW_LOAD_EXEC_ARGS?.split(' ').filter(Boolean) ?? []),
      ],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child.on('message', (m: GatewayLoadMessage) => this.waiting.shift()?.(m));
    this.child.send({ type: 'spec', spec });
  }

  private next(): Promise<GatewayLoadMessage> {
    return new Promise((resolve, reject) => {
      const exited = () => reject(new Error('the gateway load process exited'));
      this.child.once('exit', exited);
      this.waiting.push((m) => {
        this.child.off('exit', exited);
        resolve(m);
      });
    });
  }

  /** Resolves when every gateway is connected and subscribed to its acks. */
  async connected(): Promise<{ gateways: number; connectMs: number }> {
    const m = await this.next();
    if (m.type !== 'connected') throw new Error('gateway load: expected connected');
    return m;
  }

  go(): void {
    this.child.send({ type: 'go' });
  }

  /** Acknowledged readings and latencies since the previous sample. */
  async sample(): Promise<Extract<GatewayLoadMessage, { type: 'stats' }>> {
    const reply = this.next();
    this.child.send({ type: 'sample' });
    const m = await reply;
    if (m.type !== 'stats') throw new Error('gateway load: expected stats');
    return m;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.send({ type: 'stop' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
