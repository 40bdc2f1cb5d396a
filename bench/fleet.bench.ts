/**
 * Fleet: one configuration version pushed to 100 gateways at once, measured from the push
 * (100 concurrent POSTs to the API) to each gateway having applied it (checked, old gateway
 * stopped, new one built on the same data folder and started; its uplink reconnects).
 *
 * The server runs in a child process (this file with --fleet-server-child), so its CPU is its
 * own: read from /proc/<pid>/stat over the push window. The 100 gateways run in this process:
 * real FleetAgents and real Gateways (real MQTT uplink and fleet connections to the server's
 * aedes broker with password authentication, one Modbus tag each on a shared simulator).
 *
 * Target: fleet.push_to_applied_ms_p99 < 5,000 ms. Only JSON lines go to stdout.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { rootLogger } from '../common/logger.js';
import { FleetAgent } from '../gateway/fleet/agent.js';
import { enrolGateway } from '../gateway/fleet/identity.js';
import { hashPassword } from '../server/auth/password.js';
import { CentralServer } from '../server/central-server.js';
import { parseServerConfig } from '../server/config/index.js';
import {
  DEMO_GAS_CHANNELS,
  ModbusGasDetectorSimulator,
} from '../simulators/modbus-gas-detector.js';
import { type Benchmark, type Metric, percentile, round } from './metric.js';

const SETTINGS = {
  gateways: 100,
  targetP99Ms: 5_000,
  adminPassword: 'bench-admin-password',
  settleMs: 2_000, // after version 1: uplinks connected, first polls done
};

const CHILD_FLAG = '--fleet-server-child';

/** The server child: starts a CentralServer from the JSON config given, prints its ports. */
async function serverChild(configJson: string): Promise<void> {
  const server = new CentralServer(parseServerConfig(JSON.parse(configJson)), { dashboard: false });
  await server.start();
  process.stdout.write(`${JSON.stringify({ http: server.httpPort, mqtt: server.mqttPort })}\n`);
  process.on('SIGTERM', () => {
    void server.stop().then(() => process.exit(0));
  });
}

if (process.argv.includes(CHILD_FLAG)) {
  await serverChild(process.argv[process.argv.indexOf(CHILD_FLAG) + 1] ?? '{}');
}

function cpuTicks(pid: number): number {
  // /proc/<pid>/stat fields 14 and 15: utime and stime in clock ticks (USER_HZ, 100 on Linux).
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return Number(line?.split(/\s+/)[1] ?? 0) / 1024;
}

async function startServerChild(dir: string): Promise<{ child: ChildProcess; http: number }> {
  const config = {
    http: { port: 0 },
    mqtt: {
      port: 0,
      auth: {
        mode: 'password',
        users: [
          {
            username: 'bench-monitor',
            role: 'client',
            passwordHash: await hashPassword('unused-monitor-password'),
            subscribe: ['hazardwatch/v1/ent-bench/none/status'],
          },
        ],
      },
    },
    store: { path: path.join(dir, 'server.db') },
    enterprises: [{ id: 'ent-bench', name: 'Bench 化工', province: 'P', city: 'C', county: 'K' }],
    platform: { users: [{ username: 'admin', role: 'admin', password: SETTINGS.adminPassword }] },
  };
  const child = spawn(
    process.execPath,
    [...process.execArgv, import.meta.filename, CHILD_FLAG, JSON.stringify(config)],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, LOG_LEVEL: 'warn' } },
  );
  const ports = await new Promise<{ http: number }>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n').find((l) => l.startsWith('{"http"'));
      if (line) resolve(JSON.parse(line) as { http: number });
    });
    child.once('exit', (code) => reject(new Error(`fleet server child exited with ${code}`)));
  });
  return { child, http: ports.http };
}

function gatewayYaml(modbusPort: number): string {
  return `gateway: { id: set-by-enrolment, enterpriseId: set-by-enrolment }
uplink: { url: 'mqtt://set-by-enrolment', publishIntervalMs: 500 }
rules: { files: ['rules/gas.yaml'] }
devices:
  - id: det-1
    protocol: modbus-tcp
    host: 127.0.0.1
    port: ${modbusPort}
    pollIntervalMs: 1000
    tags:
      - { sensorId: GT-101, name: Methane, kind: gas, gas: methane, unit: '%LEL', rangeMin: 0, rangeMax: 100, register: { table: input, address: 0, type: float32 } }
`;
}

/** GB/T 50493-2019 §5.5.3 item 1: methane level 1 <= 25 %LEL, level 2 <= 50 %LEL. */
const rules = (level1: number) => `version: 1
rules:
  - { id: GT-101-gas, sensor: GT-101, type: gas, gas: methane, measure: LEL, level1: ${level1}, level2: 40, deadband: 2 }
`;

const bench: Benchmark = {
  name: 'fleet',
  async *run(): AsyncIterable<Metric> {
    const level = rootLogger.level;
    rootLogger.level = 'warn';
    const dir = await mkdtemp(path.join(os.tmpdir(), 'hw-bench-fleet-'));
    const detector = new ModbusGasDetectorSimulator({ port: 0, channels: DEMO_GAS_CHANNELS });
    await detector.start();
    detector.setValue(0, 3);
    const { child, http } = await startServerChild(dir);
    const base = `http://127.0.0.1:${http}`;
    const agents: FleetAgent[] = [];
    try {
      const login = await fetch(`${base}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'admin', password: SETTINGS.adminPassword }),
      });
      const { token: session } = (await login.json()) as { token: string };
      const api = async (url: string, body: unknown) => {
        const response = await fetch(`${base}${url}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${session}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        if (!response.ok) throw new Error(`${url}: ${response.status} ${await response.text()}`);
        return response.json() as Promise<Record<string, unknown>>;
      };

      const applied = new Map<string, { version: number; at: number }>();
      for (let i = 0; i < SETTINGS.gateways; i++) {
        const gatewayId = `gw-bench-${String(i).padStart(3, '0')}`;
        const made = await api('/api/v1/fleet/tokens', { enterpriseId: 'ent-bench', gatewayId });
        const dataDir = path.join(dir, gatewayId);
        const { identity } = await enrolGateway({
          serverUrl: base,
          token: String(made.token),
          dataDir,
        });
        const agent = new FleetAgent({
          identity,
          dataDir,
          timers: false,
          onStatus: (status) => {
            if (status.state === 'applied')
              applied.set(gatewayId, { version: status.version, at: performance.now() });
          },
        });
        await agent.start();
        agents.push(agent);
      }
      const push = (version: number, level1: number) =>
        Promise.all(
          agents.map((_, i) =>
            api(`/api/v1/fleet/gateways/gw-bench-${String(i).padStart(3, '0')}/versions`, {
              config: gatewayYaml(detector.port),
              rules: [{ file: 'gas.yaml', text: rules(level1) }],
              reason: `bench version ${version}: level 1 at ${level1} %LEL`,
            }),
          ),
        );
      const allApplied = async (version: number, timeoutMs: number) => {
        const deadline = performance.now() + timeoutMs;
        while ([...applied.values()].filter((a) => a.version === version).length < agents.length) {
          if (performance.now() > deadline) break;
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      };

      await push(1, 20);
      await allApplied(1, 60_000);
      await new Promise((resolve) => setTimeout(resolve, SETTINGS.settleMs));

      const ticks0 = cpuTicks(child.pid!);
      const started = performance.now();
      await push(2, 18);
      await allApplied(2, 60_000);
      const windowMs = performance.now() - started;
      const ticks1 = cpuTicks(child.pid!);
      const latencies = [...applied.values()]
        .filter((a) => a.version === 2)
        .map((a) => a.at - started)
        .sort((a, b) => a - b);
      const serverCpuPct = (((ticks1 - ticks0) * 10) / windowMs) * 100; // 10 ms per tick
      const context = {
        gateways: agents.length,
        applied: latencies.length,
        target_ms: SETTINGS.targetP99Ms,
        server_cpu_pct_of_one_core: round(serverCpuPct, 1),
        server_rss_mb: round(rssMb(child.pid!), 1),
        window_ms: Math.round(windowMs),
        // Broker load in the window: 100 retained documents out, 100 statuses in, and each
        // gateway's uplink reconnecting (disconnect, CONNECT with scrypt check, birth).
        broker_connections: agents.length * 2,
        document_bytes: JSON.stringify({ config: gatewayYaml(detector.port), rules: rules(18) })
          .length,
      };
      yield {
        metric: 'fleet.push_to_applied_ms_p99',
        value: round(percentile(latencies, 99), 0),
        unit: 'ms',
        ...context,
      };
      yield {
        metric: 'fleet.push_to_applied_ms_p50',
        value: round(percentile(latencies, 50), 0),
        unit: 'ms',
        ...context,
      };
      yield {
        metric: 'fleet.server_cpu_pct',
        value: round(serverCpuPct, 1),
        unit: '% of one core',
        ...context,
      };
    } finally {
      for (const agent of agents) await agent.stop();
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
      await detector.stop();
      await rm(dir, { recursive: true, force: true });
      rootLogger.level = level;
    }
  },
};

export default bench;
