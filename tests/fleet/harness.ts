/**
 * A real central server (aedes broker with password authentication, SQLite in a temp folder,
 * the HTTP API on a free port) with an administrator and an enterprise operator, and helpers
 * to enrol and run fleet agents against it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Clock, MonotonicClock } from '../../common/clock.js';
import { FleetAgent, type FleetAgentOptions } from '../../gateway/fleet/agent.js';
import { enrolGateway } from '../../gateway/fleet/identity.js';
import type { MqttUplinkTls } from '../../gateway/uplink/tls.js';
import { hashPassword } from '../../server/auth/password.js';
import { CentralServer } from '../../server/central-server.js';
import { parseServerConfig } from '../../server/config/index.js';
import {
  DEMO_GAS_CHANNELS,
  ModbusGasDetectorSimulator,
} from '../../simulators/modbus-gas-detector.js';

export const PASSWORD = 'correct horse battery';

/** Real time, plus a wall offset (a wrong clock) and a monotonic jump tests make by hand. */
export class ShiftedClock implements MonotonicClock {
  private wallMs = 0;
  private monoMs = 0;
  constructor(wallOffsetMs = 0) {
    this.wallMs = wallOffsetMs;
  }
  now(): number {
    return Date.now() + this.wallMs;
  }
  monotonic(): number {
    return performance.now() + this.monoMs;
  }
  /** Time passing faster than real: both clocks jump by `ms`. */
  advance(ms: number): void {
    this.wallMs += ms;
    this.monoMs += ms;
  }
}

export interface FleetHarness {
  server: CentralServer;
  /** The server's clock: real time that a test can move ahead (token expiry). */
  serverClock: ShiftedClock;
  baseUrl: string;
  dir: string;
  api<T = unknown>(
    method: string,
    url: string,
    body?: unknown,
    user?: string,
  ): Promise<{ status: number; body: T }>;
  token(enterpriseId: string, gatewayId?: string, ttlMs?: number): Promise<string>;
  /** Enrols like a new gateway (only the address and the token) and starts its agent. */
  enrolAndStart(
    token: string,
    options?: Partial<FleetAgentOptions> & { clock?: Clock; tls?: MqttUplinkTls },
  ): Promise<{ agent: FleetAgent; dataDir: string }>;
  stop(): Promise<void>;
}

export interface FleetServerOptions {
  /** A TLS listener for MQTT (the fleet's mqttUrl becomes mqtts://). */
  mqttTls?: { certFile: string; keyFile: string };
}

export async function startFleetServer(options: FleetServerOptions = {}): Promise<FleetHarness> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hw-fleet-'));
  const serverClock = new ShiftedClock();
  const server = new CentralServer(
    parseServerConfig({
      http: { port: 0 },
      // server/config refuses password mode without a static user: one monitoring client.
      mqtt: {
        port: 0,
        auth: {
          mode: 'password',
          users: [
            {
              username: 'monitor',
              role: 'client',
              passwordHash: await hashPassword(PASSWORD),
              subscribe: ['hazardwatch/v1/ent-a/gw-x/status'],
            },
          ],
        },
        ...(options.mqttTls ? { tls: options.mqttTls } : {}),
      },
      store: { path: path.join(dir, 'server.db') },
      enterprises: [
        { id: 'ent-a', name: 'A 化工', province: 'P1', city: 'C1', county: 'K1' },
        { id: 'ent-b', name: 'B 化工', province: 'P1', city: 'C1', county: 'K2' },
      ],
      platform: {
        users: [
          { username: 'admin', role: 'admin', password: PASSWORD },
          { username: 'op-a', role: 'enterprise', enterpriseId: 'ent-a', password: PASSWORD },
          { username: 'op-b', role: 'enterprise', enterpriseId: 'ent-b', password: PASSWORD },
        ],
      },
    }),
    { dashboard: false, clock: serverClock },
  );
  await server.start();
  const baseUrl = `http://127.0.0.1:${server.httpPort}`;
  const sessions = new Map<string, string>();
  const login = async (username: string) => {
    const known = sessions.get(username);
    if (known) return known;
    const response = await fetch(`${baseUrl}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password: PASSWORD }),
    });
    const { token } = (await response.json()) as { token: string };
    sessions.set(username, token);
    return token;
  };
  const agents: FleetAgent[] = [];
  const harness: FleetHarness = {
    server,
    serverClock,
    baseUrl,
    dir,
    async api(method, url, body, user = 'admin') {
      const response = await fetch(`${baseUrl}${url}`, {
        method,
        headers: {
          authorization: `Bearer ${await login(user)}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: response.status, body: (await response.json()) as never };
    },
    async token(enterpriseId, gatewayId, ttlMs) {
      const made = await harness.api<{ token: string }>('POST', '/api/v1/fleet/tokens', {
        enterpriseId,
        ...(gatewayId ? { gatewayId } : {}),
        ...(ttlMs ? { ttlMs } : {}),
      });
      if (made.status !== 200) throw new Error(`token: ${JSON.stringify(made.body)}`);
      return made.body.token;
    },
    async enrolAndStart(token, { tls, ...options } = {}) {
      const dataDir = await mkdtemp(path.join(dir, 'gw-'));
      const { identity, config } = await enrolGateway({
        serverUrl: baseUrl,
        token,
        dataDir,
        ...(tls ? { tls } : {}),
      });
      const agent = new FleetAgent({ identity, dataDir, timers: false, ...options });
      agents.push(agent);
      await agent.start();
      if (config) await agent.apply(config);
      return { agent, dataDir };
    },
    async stop() {
      for (const agent of agents.splice(0)) await agent.stop();
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return harness;
}

/**
 * A Modbus gas detector for a managed gateway to read, its first channel at `value` (%LEL) when
 * given; stopped by the test's cleanups.
 */
export async function startDetector(
  cleanups: (() => Promise<unknown>)[],
  value?: number,
): Promise<ModbusGasDetectorSimulator> {
  const sim = new ModbusGasDetectorSimulator({ port: 0, channels: DEMO_GAS_CHANNELS });
  await sim.start();
  cleanups.push(() => sim.stop());
  if (value !== undefined) sim.setValue(0, value);
  return sim;
}

/** Resolves when `check` returns a value other than undefined (polls every 20 ms, up to 10 s). */
export async function until<T>(
  check: () => T | undefined | Promise<T | undefined>,
  what: string,
): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A gateway.yaml for pushing: identity and uplink url/credentials are written in by the gateway. */
export function gatewayYaml(
  devices: { id: string; port: number; sensorId: string }[],
  rules: string[] = [],
): string {
  return `gateway: { id: set-by-enrolment, enterpriseId: set-by-enrolment }
uplink: { url: 'mqtt://set-by-enrolment', publishIntervalMs: 100 }
rules: { files: [${rules.map((r) => `'rules/${r}'`).join(', ')}] }
devices:
${devices
  .map(
    (d) => `  - id: ${d.id}
    protocol: modbus-tcp
    host: 127.0.0.1
    port: ${d.port}
    pollIntervalMs: 50
    tags:
      - { sensorId: ${d.sensorId}, name: Methane ${d.sensorId}, kind: gas, gas: methane, unit: '%LEL', rangeMin: 0, rangeMax: 100, register: { table: input, address: 0, type: float32 } }
`,
  )
  .join('')}`;
}

/** Methane rules: level 1 and 2 within GB/T 50493-2019 §5.5.3 (<= 25 and <= 50 %LEL). */
export function methaneRules(sensorId: string, level1 = 20, level2 = 40): string {
  return `version: 1
rules:
  - { id: ${sensorId}-gas, sensor: ${sensorId}, type: gas, gas: methane, measure: LEL, level1: ${level1}, level2: ${level2}, deadband: 2 }
`;
}
