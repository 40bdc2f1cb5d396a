/**
 * The whole demo plant in one process: simulated field devices and emergency
 * centre (peers from outside), the central server, and one gateway. Used by
 * `npm start`, the end-to-end test and the benchmarks.
 *
 * Lifecycle: start() starts the receiver and tank farm, the server, the gas
 * detector (whose scenario clock starts then), and the gateway (so the first
 * readings already have somewhere to go), each on its configured
 * port (0 picks a free one); stop() stops them in reverse and is safe to call
 * twice or after a failed start.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type GatewayConfig, parseGatewayConfig } from '../gateway/config/index.js';
import { Gateway } from '../gateway/gateway.js';
import { CentralServer } from '../server/central-server.js';
import { loadServerConfig, type ServerConfig } from '../server/config/index.js';
import { EmergencyReceiver } from '../simulators/emergency-receiver.js';
import {
  DEMO_GAS_CHANNELS,
  ModbusGasDetectorSimulator,
} from '../simulators/modbus-gas-detector.js';
import { DEMO_TANKS, OpcuaTankSimulator } from '../simulators/opcua-tank.js';
import { bundledScenarioPath, parseScenario, type Scenario } from '../simulators/scenario.js';
import { demoGatewayYaml } from './demo-gateway-yaml.js';
import { stopPlant } from './plant-stop.js';

const repoRoot = path.resolve(fileURLToPath(new URL('..', import.meta.url)));

export const DEMO_PLANT_DEFAULTS = {
  host: '127.0.0.1',
  httpPort: 8080,
  mqttPort: 1883,
  modbusPort: 5020,
  opcuaPort: 4840,
  receiverPort: 8090,
  gatewayConfig: path.join(repoRoot, 'config/demo-gateway.yaml'),
  serverConfig: path.join(repoRoot, 'config/demo-server.yaml'),
  scenario: bundledScenarioPath('demo-leak'),
  timeScale: 1,
} as const;

export interface DemoPlantOptions {
  host?: string;
  httpPort?: number;
  mqttPort?: number;
  modbusPort?: number;
  opcuaPort?: number;
  receiverPort?: number;
  /** SQLite file, or ':memory:'; default data/hazardwatch.db under the repo. */
  storePath?: string;
  gatewayConfig?: string;
  serverConfig?: string;
  /** Scenario file, a parsed scenario, or null for none (noise only). */
  scenario?: string | Scenario | null;
  timeScale?: number;
  /** Overrides the Modbus poll interval of the gas controller (bench: 100 ms). */
  modbusPollIntervalMs?: number;
  /** Replaces the gateway's rule files (absolute paths); the benchmarks use rules without on-delay. */
  ruleFiles?: string[];
  /** Overrides the gateway's telemetry batching interval. */
  publishIntervalMs?: number;
  /** Folder for OPC UA certificates of the simulator and the gateway; default in os.tmpdir(). */
  pkiDir?: string;
}

export class DemoPlant {
  readonly receiver: EmergencyReceiver;
  readonly gasDetector: ModbusGasDetectorSimulator;
  readonly tankFarm: OpcuaTankSimulator;
  server: CentralServer | null = null;
  gateway: Gateway | null = null;
  private readonly options: DemoPlantOptions;
  private readonly host: string;
  private readonly pkiDir: string;
  private readonly baseServerConfig: ServerConfig;

  constructor(options: DemoPlantOptions = {}) {
    this.options = options;
    this.host = options.host ?? DEMO_PLANT_DEFAULTS.host;
    this.pkiDir = options.pkiDir ?? path.join(os.tmpdir(), 'hazardwatch-demo-pki');
    this.baseServerConfig = loadServerConfig(
      options.serverConfig ?? DEMO_PLANT_DEFAULTS.serverConfig,
    );
    const centre = this.baseServerConfig.emergencyCentres[0];
    if (!centre) throw new Error('demo server config: emergencyCentres[0] is required');
    this.receiver = new EmergencyReceiver({
      host: this.host,
      port: options.receiverPort ?? DEMO_PLANT_DEFAULTS.receiverPort,
      secret: centre.secret,
    });
    const scenarioOption =
      options.scenario === undefined ? DEMO_PLANT_DEFAULTS.scenario : options.scenario;
    const scenario =
      typeof scenarioOption === 'string'
        ? parseScenario(readFileSync(scenarioOption, 'utf8'), scenarioOption)
        : scenarioOption;
    this.gasDetector = new ModbusGasDetectorSimulator({
      host: this.host,
      port: options.modbusPort ?? DEMO_PLANT_DEFAULTS.modbusPort,
      channels: DEMO_GAS_CHANNELS,
      ...(scenario ? { scenario } : {}),
      timeScale: options.timeScale ?? DEMO_PLANT_DEFAULTS.timeScale,
    });
    this.tankFarm = new OpcuaTankSimulator({
      host: this.host,
      port: options.opcuaPort ?? DEMO_PLANT_DEFAULTS.opcuaPort,
      tanks: DEMO_TANKS,
      pkiDir: path.join(this.pkiDir, 'server'),
    });
  }

  get dashboardUrl(): string {
    return `http://${this.host}:${this.server?.httpPort ?? 0}/`;
  }

  async start(): Promise<void> {
    try {
      await this.receiver.start();
      await this.tankFarm.start();
      const serverConfigPath = this.options.serverConfig ?? DEMO_PLANT_DEFAULTS.serverConfig;
      const storePath = this.options.storePath ?? path.join(repoRoot, 'data/hazardwatch.db');
      if (storePath !== ':memory:') mkdirSync(path.dirname(storePath), { recursive: true });
      const serverConfig = loadServerConfig(serverConfigPath, {
        http: { host: this.host, port: this.options.httpPort ?? DEMO_PLANT_DEFAULTS.httpPort },
        mqtt: { host: this.host, port: this.options.mqttPort ?? DEMO_PLANT_DEFAULTS.mqttPort },
        store: { type: 'sqlite', path: storePath },
        // Every centre of the demo config is the one simulated receiver, wherever it listens.
        emergencyCentres: this.baseServerConfig.emergencyCentres.map((centre) => ({
          ...centre,
          url: this.receiver.notifyUrl,
        })),
      });
      this.server = new CentralServer(serverConfig);
      await this.server.start();
      // Last before the gateway: the scenario's clock starts with the simulator, so the
      // scripted leak begins when someone is polling, however long the rest took to start.
      await this.gasDetector.start();
      this.gateway = new Gateway(this.gatewayConfig(), {
        // The disk outbox sits beside the server's store: what the gateway accepted
        // survives a restart of the demo until the server has stored it.
        ...(storePath !== ':memory:'
          ? { outboxPath: path.join(path.dirname(storePath), 'gateway-outbox.db') }
          : {}),
        opcuaPkiDir: path.join(this.pkiDir, 'client'),
        software: 'hazardwatch-demo',
      });
      await this.gateway.start();
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  stop(): Promise<void> {
    return stopPlant(this, 'demo plant');
  }

  /** The demo gateway config with the real ports of this run's peers and server. */
  private gatewayConfig(): GatewayConfig {
    const file = this.options.gatewayConfig ?? DEMO_PLANT_DEFAULTS.gatewayConfig;
    const yaml = demoGatewayYaml(file, {
      host: this.host,
      mqttPort: this.server!.mqttPort,
      modbusPort: this.gasDetector.port,
      opcuaEndpointUrl: this.tankFarm.endpointUrl,
      ruleFiles: this.options.ruleFiles,
      publishIntervalMs: this.options.publishIntervalMs,
      modbusPollIntervalMs: this.options.modbusPollIntervalMs,
    });
    // The demo's own ports win over HAZARDWATCH_MQTT_URL: the embedded broker is the uplink.
    return parseGatewayConfig(yaml, file, {
      env: {},
      baseDir: path.dirname(path.resolve(file)),
    });
  }
}
