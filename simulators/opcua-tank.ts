/**
 * A simulated tank farm served over OPC UA (node-opcua OPCUAServer). A peer from outside: the
 * product never imports this file.
 *
 * Address space: Objects/Tanks (folder) / <tank id> (object) / Temperature, Pressure, Level,
 * each an AnalogItem (Double) with EURange and EngineeringUnits, read-only, with string NodeIds in
 * our own namespace TANK_NAMESPACE_URI, which is index 1 (the server's default own namespace is
 * skipped so ours is the first):
 *   ns=1;s=Tank1.Temperature   °C
 *   ns=1;s=Tank1.Pressure      MPa (gauge)
 *   ns=1;s=Tank1.Level         %
 * Security: None only and anonymous access by default (set explicitly: it is the simulator's job
 * to be easy to reach; the product's own endpoints must not be configured like this). The
 * `security` option serves Sign / SignAndEncrypt with Basic256Sha256 and username/password users,
 * to test clients that must check the server certificate against their trust list.
 */
import os from 'node:os';
import path from 'node:path';
import {
  DataType,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAServer,
  SecurityPolicy,
  StatusCodes,
  Subscription,
  standardUnits,
  type UAVariable,
  Variant,
} from 'node-opcua';
import { type Clock, systemClock } from '../common/clock.js';
import { createLogger } from '../common/logger.js';
import { isAddressInUse, PortInUseError } from '../common/net.js';
import { clamp, DriftingNoise, seededRandom } from './noise.js';

const log = createLogger('simulators.opcua');

const DEFAULTS = {
  host: '127.0.0.1',
  tickMs: 1000, // 1 s between drift updates: tank variables move slowly
  seed: 0x7a2c,
  driftPersistence: 0.95, // per tick; slower wander than the gas heads
  /** Shared PKI folder (server certificate generated once, ~1 s, then reused). Never the repo. */
  pkiDir: path.join(os.tmpdir(), 'hazardwatch-pki'),
  shutdownGraceMs: 0, // stop() closes sessions at once
};

export const TANK_NAMESPACE_URI = 'urn:hazardwatch:simulators:tanks';
/** Index of TANK_NAMESPACE_URI on this server; start() checks it really is 1. */
export const TANK_NAMESPACE_INDEX = 1;

export type TankVariable = 'Temperature' | 'Pressure' | 'Level';
export const TANK_VARIABLE_NAMES: readonly TankVariable[] = ['Temperature', 'Pressure', 'Level'];

/** How one tank variable rests and moves. */
export interface TankVariableSpec {
  baseline: number;
  /** Standard deviation of the drift around the baseline. */
  noise: number;
  /** EURange: the value is clamped to it (except through setValue()). */
  min: number;
  max: number;
}

/** Units and defaults per variable. */
export const TANK_VARIABLES: Readonly<
  Record<TankVariable, { unit: string; defaults: TankVariableSpec }>
> = {
  Temperature: { unit: '°C', defaults: { baseline: 25, noise: 0.05, min: -40, max: 200 } },
  Pressure: { unit: 'MPa', defaults: { baseline: 0.35, noise: 0.002, min: 0, max: 2.5 } },
  Level: { unit: '%', defaults: { baseline: 62, noise: 0.1, min: 0, max: 100 } },
};

const ENGINEERING_UNITS = {
  Temperature: standardUnits.degree_celsius,
  Pressure: standardUnits.megapascal,
  Level: standardUnits.percent,
} as const;

/** One tank. `id` becomes the NodeId prefix (`ns=1;s=<id>.Temperature`): letters, digits, _ -. */
export interface TankSpec {
  id: string;
  /** Display name; default the id. */
  name?: string;
  temperature?: Partial<TankVariableSpec>;
  pressure?: Partial<TankVariableSpec>;
  level?: Partial<TankVariableSpec>;
}

/** Two demo tanks: a propylene sphere (pressurised) and a methanol tank (near atmospheric). */
export const DEMO_TANKS: readonly TankSpec[] = Object.freeze([
  {
    id: 'Tank1',
    name: 'Propylene sphere V-101',
    temperature: { baseline: 18 },
    pressure: { baseline: 0.95, noise: 0.003 },
    level: { baseline: 64 },
  },
  {
    id: 'Tank2',
    name: 'Methanol tank T-201',
    temperature: { baseline: 22 },
    pressure: { baseline: 0.004, noise: 0.0002, max: 0.1 },
    level: { baseline: 48 },
  },
]);

/** The NodeId string of a tank variable, e.g. `ns=1;s=Tank1.Temperature`. */
export function tankNodeId(tankId: string, variable: TankVariable): string {
  return `ns=${TANK_NAMESPACE_INDEX};s=${tankId}.${variable}`;
}

/** NodeIds of DEMO_TANKS, for configs and tests. */
export const DEMO_TANK_NODE_IDS: Readonly<Record<string, Record<TankVariable, string>>> =
  Object.fromEntries(
    DEMO_TANKS.map((tank) => [
      tank.id,
      {
        Temperature: tankNodeId(tank.id, 'Temperature'),
        Pressure: tankNodeId(tank.id, 'Pressure'),
        Level: tankNodeId(tank.id, 'Level'),
      },
    ]),
  );

export interface OpcuaTankOptions {
  /** Interface to bind; default 127.0.0.1 (also the host name in the endpoint URL). */
  host?: string;
  /** TCP port; 0 picks a free one (read `port` / `endpointUrl` after start()). */
  port: number;
  tanks: readonly TankSpec[];
  clock?: Clock;
  /** Milliseconds between drift updates; default 1000. 0: no timer, call tick() yourself. */
  tickMs?: number;
  seed?: number;
  /** PKI folder for the server certificate; default os.tmpdir()/hazardwatch-pki. */
  pkiDir?: string;
  /** Secure endpoints and users; default None only, anonymous. */
  security?: OpcuaTankSecurity;
  /**
   * The fastest publishing interval the server grants, ms; default node-opcua's 50. A server
   * may revise a requested interval to its own constraints (OPC 10000-4 §5.13.2,
   * CreateSubscription, revisedPublishingInterval; the clause text was not checked here), and
   * servers differ: the e2e bench grants the 10 ms the gateway asks for, to measure our path
   * rather than the simulator's floor. node-opcua keeps this per process (a static), so it
   * applies to every server this process starts afterwards.
   */
  minPublishingIntervalMs?: number;
}

export interface OpcuaTankSecurity {
  /** Message security modes offered; None means no security. Default ['None']. */
  modes: readonly ('None' | 'Sign' | 'SignAndEncrypt')[];
  /** Username/password pairs accepted; anonymous is refused when users are given. */
  users?: readonly { username: string; password: string }[];
}

interface VariableState {
  tankId: string;
  variable: TankVariable;
  spec: TankVariableSpec;
  noise: DriftingNoise;
  value: number;
  held: boolean;
  node: UAVariable | undefined;
}

const TANK_ID_PATTERN = /^[A-Za-z0-9_-]+$/;

/**
 * Simulated OPC UA tank farm.
 *
 * Lifecycle: the constructor checks the tank list and does no I/O; start() builds a fresh server
 * and address space and resolves once it listens (about 1 s; the first run on a machine also
 * generates the server certificate in pkiDir, about 1 s more); stop() shuts the server down at
 * once (sessions are closed, no grace period), clears the timer, and is safe to call twice.
 * start() after stop() listens on the same port again with a new address space, like a restarted
 * PLC: clients must recreate their subscriptions. Values are kept across a restart.
 */
export class OpcuaTankSimulator {
  private readonly host: string;
  private readonly clock: Clock;
  private readonly tickMs: number;
  private readonly pkiDir: string;
  private readonly tanks: readonly TankSpec[];
  private readonly security: OpcuaTankSecurity | undefined;
  private readonly minPublishingIntervalMs: number | undefined;
  /** node-opcua's floor before start() lowered it, put back by stop(). */
  private previousMinPublishingIntervalMs: number | undefined;
  private readonly variables = new Map<string, VariableState>();
  private server: OPCUAServer | undefined;
  private timer: NodeJS.Timeout | undefined;
  private boundPort: number;
  private url = '';

  constructor(options: OpcuaTankOptions) {
    this.host = options.host ?? DEFAULTS.host;
    this.clock = options.clock ?? systemClock;
    this.tickMs = options.tickMs ?? DEFAULTS.tickMs;
    this.pkiDir = options.pkiDir ?? DEFAULTS.pkiDir;
    this.boundPort = options.port;
    this.tanks = options.tanks;
    this.security = options.security;
    this.minPublishingIntervalMs = options.minPublishingIntervalMs;
    if (options.tanks.length === 0) throw new Error('tanks: at least one tank needed');
    const random = seededRandom(options.seed ?? DEFAULTS.seed);
    for (const tank of options.tanks) {
      if (!TANK_ID_PATTERN.test(tank.id)) {
        throw new Error(`tank '${tank.id}': id must use letters, digits, '_' or '-' only`);
      }
      for (const variable of TANK_VARIABLE_NAMES) {
        const key = `${tank.id}.${variable}`;
        if (this.variables.has(key)) throw new Error(`tank '${tank.id}': defined twice`);
        const overrides = tank[variable.toLowerCase() as 'temperature' | 'pressure' | 'level'];
        const spec = { ...TANK_VARIABLES[variable].defaults, ...overrides };
        if (!(spec.max > spec.min)) throw new Error(`${key}: max must exceed min`);
        this.variables.set(key, {
          tankId: tank.id,
          variable,
          spec,
          noise: new DriftingNoise(random, spec.noise, DEFAULTS.driftPersistence),
          value: clamp(spec.baseline, spec.min, spec.max),
          held: false,
          node: undefined,
        });
      }
    }
  }

  /** The bound TCP port (the real one after start() with port 0). */
  get port(): number {
    return this.boundPort;
  }

  /** `opc.tcp://host:port` after start(); '' before. */
  get endpointUrl(): string {
    return this.url;
  }

  /** The NodeId string of a tank variable on this server. */
  nodeId(tankId: string, variable: TankVariable): string {
    this.state(tankId, variable);
    return tankNodeId(tankId, variable);
  }

  /** Builds the address space and listens. Rejects with PortInUseError when the port is taken. */
  async start(): Promise<void> {
    if (this.server) return;
    const wildcard = this.host === '0.0.0.0' || this.host === '::';
    const security = this.security;
    const users = security?.users ?? [];
    const secure = (security?.modes ?? ['None']).some((m) => m !== 'None');
    if (this.minPublishingIntervalMs !== undefined) {
      if (!(Number.isInteger(this.minPublishingIntervalMs) && this.minPublishingIntervalMs >= 1)) {
        throw new Error(
          `minPublishingIntervalMs must be a whole number of ms ≥ 1 (got ${this.minPublishingIntervalMs})`,
        );
      }
      this.previousMinPublishingIntervalMs = Subscription.minimumPublishingInterval;
      Subscription.minimumPublishingInterval = this.minPublishingIntervalMs;
    }
    const server = new OPCUAServer({
      port: this.boundPort,
      host: this.host,
      ...(wildcard ? {} : { hostname: this.host }),
      allowAnonymous: users.length === 0,
      // None stays offered for discovery (GetEndpoints), as on most real servers; with users
      // configured, anonymous sessions are refused on every endpoint.
      securityModes: [...new Set(['None', ...(security?.modes ?? [])] as const)].map(
        (m) => MessageSecurityMode[m],
      ),
      securityPolicies: secure
        ? [SecurityPolicy.None, SecurityPolicy.Basic256Sha256]
        : [SecurityPolicy.None],
      ...(users.length > 0
        ? {
            userManager: {
              isValidUser: (username: string, password: string) =>
                users.some((u) => u.username === username && u.password === password),
            },
          }
        : {}),
      // Keep the server's default own namespace out so TANK_NAMESPACE_URI gets index 1.
      skipOwnNamespace: true,
      disableDiscovery: true,
      serverCertificateManager: new OPCUACertificateManager({
        rootFolder: this.pkiDir,
        automaticallyAcceptUnknownCertificate: true,
      }),
      serverInfo: {
        applicationUri: 'urn:hazardwatch:simulators:opcua-tank',
        productUri: 'urn:hazardwatch:simulators',
        applicationName: { text: 'HazardWatch tank simulator', locale: 'en' },
      },
      buildInfo: { productName: 'HazardWatch tank simulator', manufacturerName: 'HazardWatch' },
    });
    try {
      await server.initialize();
      this.buildAddressSpace(server);
      await server.start();
    } catch (cause) {
      await server.shutdown(0).catch(() => {});
      if (isAddressInUse(cause)) {
        throw new PortInUseError('OPC UA tank simulator', this.boundPort, 'the port option', {
          cause,
        });
      }
      throw new Error(`OPC UA tank simulator: cannot start on ${this.host}:${this.boundPort}`, {
        cause,
      });
    }
    this.server = server;
    const endpoint = server.endpoints[0];
    if (endpoint) this.boundPort = endpoint.port;
    this.url = server.getEndpointUrl();
    if (this.tickMs > 0) {
      this.timer = setInterval(() => this.tick(), this.tickMs);
      this.timer.unref();
    }
    log.info({ endpointUrl: this.url }, 'tank simulator listening');
  }

  /** Shuts the server down (no grace period). Safe to call twice. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const state of this.variables.values()) state.node = undefined;
    await server.shutdown(DEFAULTS.shutdownGraceMs);
    if (this.previousMinPublishingIntervalMs !== undefined) {
      Subscription.minimumPublishingInterval = this.previousMinPublishingIntervalMs;
      this.previousMinPublishingIntervalMs = undefined;
    }
    log.info({ port: this.boundPort }, 'tank simulator stopped');
  }

  /** Moves every variable that is not held one drift step. Runs every tickMs after start(). */
  tick(): void {
    for (const state of this.variables.values()) {
      const offset = state.noise.next();
      if (state.held) continue;
      state.value = clamp(state.spec.baseline + offset, state.spec.min, state.spec.max);
      this.publish(state);
    }
  }

  /**
   * Sets a variable now (source timestamp = clock.now()) and holds it there, without drift or
   * clamping, until release().
   */
  setValue(tankId: string, variable: TankVariable, value: number): void {
    if (!Number.isFinite(value)) {
      throw new Error(`setValue(${tankId}.${variable}): value must be finite (got ${value})`);
    }
    const state = this.state(tankId, variable);
    state.value = value;
    state.held = true;
    this.publish(state);
  }

  /** Lets a held variable drift again from the next tick. */
  release(tankId: string, variable: TankVariable): void {
    this.state(tankId, variable).held = false;
  }

  getValue(tankId: string, variable: TankVariable): number {
    return this.state(tankId, variable).value;
  }

  private state(tankId: string, variable: TankVariable): VariableState {
    const state = this.variables.get(`${tankId}.${variable}`);
    if (!state) {
      throw new Error(
        `no variable '${tankId}.${variable}' (tanks: ${this.tanks.map((t) => t.id).join(', ')}; variables: ${TANK_VARIABLE_NAMES.join(', ')})`,
      );
    }
    return state;
  }

  private publish(state: VariableState): void {
    state.node?.setValueFromSource(
      new Variant({ dataType: DataType.Double, value: state.value }),
      StatusCodes.Good,
      new Date(this.clock.now()),
    );
  }

  private buildAddressSpace(server: OPCUAServer): void {
    const addressSpace = server.engine.addressSpace;
    if (!addressSpace) throw new Error('OPC UA tank simulator: server has no address space');
    const namespace = addressSpace.registerNamespace(TANK_NAMESPACE_URI);
    if (namespace.index !== TANK_NAMESPACE_INDEX) {
      throw new Error(
        `OPC UA tank simulator: namespace '${TANK_NAMESPACE_URI}' got index ${namespace.index}, expected ${TANK_NAMESPACE_INDEX}`,
      );
    }
    const folder = namespace.addFolder(addressSpace.rootFolder.objects, {
      browseName: 'Tanks',
      nodeId: 's=Tanks',
    });
    for (const tank of this.tanks) {
      const tankObject = namespace.addObject({
        organizedBy: folder,
        browseName: tank.id,
        displayName: tank.name ?? tank.id,
        nodeId: `s=${tank.id}`,
      });
      for (const variable of TANK_VARIABLE_NAMES) {
        const state = this.state(tank.id, variable);
        state.node = namespace.addAnalogDataItem({
          componentOf: tankObject,
          browseName: variable,
          nodeId: `s=${tank.id}.${variable}`,
          dataType: 'Double',
          accessLevel: 'CurrentRead',
          userAccessLevel: 'CurrentRead',
          // 0: report changes as they happen instead of sampling on a timer.
          minimumSamplingInterval: 0,
          engineeringUnitsRange: { low: state.spec.min, high: state.spec.max },
          engineeringUnits: ENGINEERING_UNITS[variable],
        });
        this.publish(state);
      }
    }
  }
}
