/**
 * The e2e benchmark's plant, laid out as it is deployed: the central server in
 * its own process (bench/e2e-server.ts, started like server/main.ts from a
 * generated config on free ports in a temp dir); the gateway under test in its
 * own process (bench/e2e-gateway.ts); in this process the field (Modbus gas
 * detector, OPC UA tank farm simulators) and the emergency centre's receiver;
 * background telemetry from other gateways in a fourth process
 * (bench/e2e-load-child.ts).
 *
 * The receiver shares this process with the simulators, so "changed" and
 * "centre received" are read on one clock, as the in-memory baseline's are.
 *
 * Lifecycle: start() starts the receiver and tank farm, the server process, the
 * gas detector and the gateway; stop() stops them in reverse and is safe after a
 * failed start.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { demoGatewayYaml } from '../bin/demo-gateway-yaml.js';
import { stopPlant } from '../bin/plant-stop.js';
import { EmergencyReceiver } from '../simulators/emergency-receiver.js';
import {
  DEMO_GAS_CHANNELS,
  ModbusGasDetectorSimulator,
} from '../simulators/modbus-gas-detector.js';
import { DEMO_TANKS, OpcuaTankSimulator } from '../simulators/opcua-tank.js';
import { benchChildEnv } from './child-env.js';
import type { GatewayMessage, GatewayStart } from './e2e-gateway.js';
import type { BackgroundTelemetry } from './e2e-load.js';
import type { LoadMessage } from './e2e-load-child.js';
import type { ServerHop, ServerMessage, ServerStats } from './e2e-server.js';
import type { GcPause } from './e2e-stalls.js';
import type { EdgeHop } from './e2e-trace.js';

const HOST = '127.0.0.1';
const demoServerConfig = fileURLToPath(new URL('../config/demo-server.yaml', import.meta.url));
const demoGatewayConfig = fileURLToPath(new URL('../config/demo-gateway.yaml', import.meta.url));

/** A forked bench child (run through tsx) with an IPC channel; stdout goes to our stderr. */
class BenchChild<M extends { type: string }> {
  readonly child: ChildProcess;
  private readonly waiting: {
    type: string;
    resolve: (m: M) => void;
    reject: (e: Error) => void;
  }[] = [];
  private exited: Error | null = null;

  constructor(script: string, args: string[], onMessage: (m: M) => void) {
    this.child = fork(fileURLToPath(new URL(script, import.meta.url)), args, {
      // HW_E2E_CHILD_EXEC_ARGS adds node flags to the children (e.g. --cpu-prof).
      execArgv: [
        '--import',
        'tsx',
        ...(process.env.HW_E2E_CHILD_EXEC_ARGS?.split(' ').filter(Boolean) ?? []),
      ],
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
      env: benchChildEnv(),
    });
    // EPIPE on a channel the child closed meanwhile (no one waits then): its exit is what matters.
    this.child.on('error', (err) => {
      for (const w of this.waiting.splice(0)) w.reject(err);
    });
    // Metric lines own our stdout: whatever a child prints goes to stderr.
    this.child.stdout?.pipe(process.stderr);
    this.child.on('message', (m: M) => {
      if (m.type === 'failed') {
        const err = new Error(`${script}: ${(m as unknown as { error: string }).error}`);
        for (const w of this.waiting.splice(0)) w.reject(err);
        return;
      }
      const i = this.waiting.findIndex((w) => w.type === m.type);
      if (i >= 0) this.waiting.splice(i, 1)[0]!.resolve(m);
      else onMessage(m);
    });
    this.child.on('exit', (code, signal) => {
      this.exited = new Error(`${script} exited (code ${code}, signal ${signal})`);
      for (const w of this.waiting.splice(0)) w.reject(this.exited);
    });
  }

  /** The next message of this type. */
  next<T extends M['type']>(type: T, timeoutMs = 30_000): Promise<Extract<M, { type: T }>> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`no '${type}' from the child within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.push({
        type,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m as Extract<M, { type: T }>);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
  }

  send(m: object): void {
    // A child that already disconnected (it does after its last answer) gets nothing.
    if (!this.exited && this.child.connected) this.child.send(m, (err) => err && undefined);
  }

  /** Sends `stop` (if still connected), waits for the exit; SIGKILL after 15 s. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.send({ type: 'stop' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }
}

/** The central server's process; its alarm hops arrive through onHop. */
export class E2eServerProcess {
  private readonly proc: BenchChild<ServerMessage>;
  mqttPort = 0;
  httpPort = 0;

  constructor(configFile: string, onHop: (hop: ServerHop) => void, onGc: (pause: GcPause) => void) {
    this.proc = new BenchChild<ServerMessage>('./e2e-server.ts', ['--config', configFile], (m) => {
      if (m.type === 'hop') onHop(m);
      else if (m.type === 'gc') onGc(m);
    });
  }

  get pid(): number | undefined {
    return this.proc.child.pid;
  }

  async ready(): Promise<void> {
    const m = await this.proc.next('ready', 60_000);
    this.mqttPort = m.mqttPort;
    this.httpPort = m.httpPort;
  }

  /** Readings stored so far and memory of the server process. */
  async stats(): Promise<ServerStats> {
    const reply = this.proc.next('stats');
    this.proc.send({ type: 'stats' });
    return reply;
  }

  stop(): Promise<void> {
    return this.proc.stop();
  }
}

/** The gateway under test, in its own process; its edge hops arrive through onHop. */
export class E2eGatewayProcess {
  private readonly proc: BenchChild<GatewayMessage>;
  enterpriseId = '';

  constructor(onHop: (hop: EdgeHop) => void, onGc: (pause: GcPause) => void) {
    this.proc = new BenchChild<GatewayMessage>('./e2e-gateway.ts', [], (m) => {
      if (m.type === 'hop') onHop(m);
      else if (m.type === 'gc') onGc(m);
    });
  }

  get pid(): number | undefined {
    return this.proc.child.pid;
  }

  async start(start: Omit<GatewayStart, 'type'>): Promise<void> {
    const ready = this.proc.next('ready', 60_000);
    this.proc.send({ type: 'start', ...start });
    this.enterpriseId = (await ready).enterpriseId;
  }

  stop(): Promise<void> {
    return this.proc.stop();
  }
}

/** Background telemetry from other gateways, in its own process. */
export class E2eLoadProcess {
  private readonly proc = new BenchChild<LoadMessage>('./e2e-load-child.ts', [], () => {});

  async start(options: ConstructorParameters<typeof BackgroundTelemetry>[0]): Promise<void> {
    const started = this.proc.next('started');
    this.proc.send({ type: 'start', options });
    await started;
  }

  /** Stops the load; resolves with the points per second it actually sent. */
  async stop(): Promise<number> {
    const stopped = this.proc.next('stopped').catch(() => ({ rate: Number.NaN }));
    this.proc.send({ type: 'stop' });
    const { rate } = await stopped;
    await this.proc.stop();
    return rate;
  }
}

export interface E2ePlantOptions {
  dir: string;
  pollMs: number;
  ruleFiles: string[];
  onServerHop: (hop: ServerHop) => void;
  onServerGc: (pause: GcPause) => void;
  onEdgeHop: (hop: EdgeHop) => void;
  onGatewayGc: (pause: GcPause) => void;
}

export class E2ePlant {
  readonly receiver: EmergencyReceiver;
  readonly gasDetector: ModbusGasDetectorSimulator;
  readonly tankFarm: OpcuaTankSimulator;
  server: E2eServerProcess | null = null;
  gateway: E2eGatewayProcess | null = null;
  private readonly demoServer: Record<string, unknown> & {
    emergencyCentres: { secret: string; url: string }[];
  };

  constructor(private readonly options: E2ePlantOptions) {
    this.demoServer = parseYaml(readFileSync(demoServerConfig, 'utf8'));
    const centre = this.demoServer.emergencyCentres[0];
    if (!centre) throw new Error('demo server config: emergencyCentres[0] is required');
    this.receiver = new EmergencyReceiver({ host: HOST, port: 0, secret: centre.secret });
    this.gasDetector = new ModbusGasDetectorSimulator({
      host: HOST,
      port: 0,
      channels: DEMO_GAS_CHANNELS,
    });
    this.tankFarm = new OpcuaTankSimulator({
      host: HOST,
      port: 0,
      tanks: DEMO_TANKS,
      pkiDir: path.join(options.dir, 'pki', 'server'),
      // Grants the gateway's requested 10 ms publishing interval (node-opcua's floor is 50 ms,
      // up to 40 ms more on the change → reading hop); docs/benchmarks.md gives both.
      minPublishingIntervalMs: 10,
    });
  }

  async start(): Promise<void> {
    try {
      await this.receiver.start();
      await this.tankFarm.start();
      this.server = new E2eServerProcess(
        await this.writeServerConfig(),
        this.options.onServerHop,
        this.options.onServerGc,
      );
      await this.server.ready();
      await this.gasDetector.start();
      this.gateway = new E2eGatewayProcess(this.options.onEdgeHop, this.options.onGatewayGc);
      await this.gateway.start({
        yaml: this.gatewayConfig(),
        file: demoGatewayConfig,
        outboxPath: path.join(this.options.dir, 'gateway-outbox.db'),
        pkiDir: path.join(this.options.dir, 'pki', 'client'),
      });
    } catch (err) {
      await this.stop().catch(() => {});
      throw err;
    }
  }

  stop(): Promise<void> {
    return stopPlant(this, 'e2e plant');
  }

  /** The demo server's config on free ports, its files in the temp dir, paging our receiver. */
  private async writeServerConfig(): Promise<string> {
    const raw = structuredClone(this.demoServer) as Record<string, unknown> & {
      emergencyCentres: { url: string }[];
      platform?: { workbench?: { reportsDir?: string } };
    };
    raw.http = { host: HOST, port: 0 };
    raw.mqtt = { host: HOST, port: 0 };
    raw.store = { type: 'sqlite', path: path.join(this.options.dir, 'hazardwatch.db') };
    raw.emergencyCentres = raw.emergencyCentres.map((c) => ({
      ...c,
      url: this.receiver.notifyUrl,
    }));
    if (raw.platform?.workbench)
      raw.platform.workbench.reportsDir = path.join(this.options.dir, 'reports');
    const file = path.join(this.options.dir, 'server.yaml');
    await writeFile(file, stringifyYaml(raw));
    return file;
  }

  /** The demo gateway at the bench's poll/sampling interval and rules, on this run's ports. */
  private gatewayConfig(): string {
    return demoGatewayYaml(demoGatewayConfig, {
      host: HOST,
      mqttPort: this.server!.mqttPort,
      modbusPort: this.gasDetector.port,
      opcuaEndpointUrl: this.tankFarm.endpointUrl,
      ruleFiles: this.options.ruleFiles,
      modbusPollIntervalMs: this.options.pollMs,
      opcuaSamplingIntervalMs: this.options.pollMs,
    });
  }
}
