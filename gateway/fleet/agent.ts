/**
 * The gateway's fleet agent (docs/fleet.md): runs the version the server pushed, rolls back by
 * itself, publishes health and answers remote commands, over its own MQTT connection (client
 * id `{gatewayId}:fleet`, the enrolled credentials) so that the telemetry uplink is untouched.
 *
 * Applying a version: its files are written to the data folder, checked with the gateway's
 * start checks (VersionStore.check: schema, cross-checks, rules with GB/T 50493 setpoints);
 * a refused version leaves the running one alone and goes back with every error. An accepted
 * one replaces the running Gateway: the old one stops first (its alarm state is on disk in
 * alarm-state.json, its outbox in outbox.db), then the new one is built from the same data
 * folder and started, so alarm state and the backlog carry over. It is then on probation:
 * if it cannot be built or started, if none of its devices comes online within
 * `acquisitionStartMs`, or if its uplink stays down longer than `uplinkLossLimitMs`, the
 * previous version is started again and the outcome ('rolled-back', with why) is reported.
 * A version that failed is remembered, so its retained copy is not applied again on reconnect.
 *
 * Lifecycle: the constructor stores its options; start() runs the version on disk (if any),
 * connects and starts the timers; stop() stops the gateway, the timers and the connection.
 * Timers only call checkProbation() and publishHealth(), which tests call with a manual clock.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { Clock } from '../../common/clock.js';
import { monotonicOf, systemClock } from '../../common/clock.js';
import { createLogger, rootLogger } from '../../common/logger.js';
import {
  decodeFleetCommand,
  decodeFleetConfigDocument,
  type FleetCommand,
  type FleetCommandResult,
  type FleetConfigDocument,
  type FleetConfigState,
  type FleetConfigStatus,
  type FleetHealth,
  fleetClientId,
  fleetTopicFor,
  PROTOCOL_VERSION,
} from '../../protocol/index.js';
import type { GatewayConfig } from '../config/index.js';
import { dataDirOptions, Gateway } from '../gateway.js';
import { isTlsUrl, tlsConnectOptions } from '../uplink/tls.js';
import { HealthSampler } from './health.js';
import type { FleetIdentity } from './identity.js';
import { type LogControl, logControlOf } from './log-control.js';
import { type FleetState, VersionStore } from './version-store.js';

const log = createLogger('gateway.fleet');

export const FLEET_AGENT_DEFAULTS = {
  healthIntervalMs: 60_000, // 60 s, the heartbeat period of the city-level interface in BRIEF
  acquisitionStartMs: 60_000, // 60 s for a new version to bring one device online
  uplinkLossLimitMs: 60_000, // 60 s of uplink down during probation: roll back
  probationMs: 300_000, // 5 min on probation after an apply
  checkIntervalMs: 1_000, // probation checks
  reconnectPeriodMs: 5_000, // fleet connection retry (the uplink reconnects on its own)
  rememberedFailures: 50, // failed versions remembered so a retained copy is not re-applied
  logTailLines: 100,
} as const;

/** What the agent needs of a running gateway (the Gateway class; benches may bring a lighter one). */
export type RunningGateway = Pick<Gateway, 'start' | 'stop' | 'observe' | 'uplink' | 'config'> &
  Partial<Pick<Gateway, 'reloadRulesInBackground'>>;

export interface FleetAgentOptions {
  identity: FleetIdentity;
  dataDir: string;
  clock?: Clock;
  software?: string;
  /** Builds the gateway of a checked config (default: a Gateway on the data folder's files). */
  createGateway?: (config: GatewayConfig) => RunningGateway;
  healthIntervalMs?: number;
  acquisitionStartMs?: number;
  uplinkLossLimitMs?: number;
  probationMs?: number;
  /** false: no timers (tests drive checkProbation/publishHealth). */
  timers?: boolean;
  /** Every status reported, for tests and the process's own log. */
  onStatus?(status: FleetConfigStatus): void;
}

interface Probation {
  version: number;
  since: number;
  uplinkDownSince: number | null;
}

export class FleetAgent {
  private client: MqttClient | null = null;
  private gateway: RunningGateway | null = null;
  private state: FleetState = { running: null, previous: null, failed: [] };
  private probation: Probation | null = null;
  private queue: Promise<void> = Promise.resolve();
  private timers: NodeJS.Timeout[] = [];
  private readonly versions: VersionStore;
  private readonly clock: Clock;
  private readonly monotonic: () => number;
  private readonly sampler: HealthSampler;
  private readonly logs: LogControl;
  private readonly topics: Record<'config' | 'command' | 'status' | 'health' | 'result', string>;
  private readonly settings: Required<
    Pick<
      FleetAgentOptions,
      'healthIntervalMs' | 'acquisitionStartMs' | 'uplinkLossLimitMs' | 'probationMs'
    >
  >;

  constructor(private readonly options: FleetAgentOptions) {
    this.clock = options.clock ?? systemClock;
    this.monotonic = monotonicOf(this.clock);
    this.versions = new VersionStore(options.dataDir);
    this.sampler = new HealthSampler(this.clock, options.dataDir);
    this.logs = logControlOf(rootLogger);
    const { enterpriseId, gatewayId } = options.identity;
    this.topics = {
      config: fleetTopicFor(enterpriseId, gatewayId, 'config'),
      command: fleetTopicFor(enterpriseId, gatewayId, 'fleet-command'),
      status: fleetTopicFor(enterpriseId, gatewayId, 'config-status'),
      health: fleetTopicFor(enterpriseId, gatewayId, 'health'),
      result: fleetTopicFor(enterpriseId, gatewayId, 'fleet-result'),
    };
    this.settings = {
      healthIntervalMs: options.healthIntervalMs ?? FLEET_AGENT_DEFAULTS.healthIntervalMs,
      acquisitionStartMs: options.acquisitionStartMs ?? FLEET_AGENT_DEFAULTS.acquisitionStartMs,
      uplinkLossLimitMs: options.uplinkLossLimitMs ?? FLEET_AGENT_DEFAULTS.uplinkLossLimitMs,
      probationMs: options.probationMs ?? FLEET_AGENT_DEFAULTS.probationMs,
    };
  }

  /** The version running now (null: none yet, waiting for a push). */
  get runningVersion(): number | null {
    return this.state.running;
  }

  /** The gateway running now. */
  get current(): RunningGateway | null {
    return this.gateway;
  }

  async start(): Promise<void> {
    const saved = this.versions.state();
    this.state = { ...saved, running: null };
    // The version that ran last, else the one before it (a local edit may have broken it).
    for (const version of [saved.running, saved.previous]) {
      if (version === null) continue;
      const problem = await this.run(version);
      if (problem === null) {
        this.state.running = version;
        break;
      }
      log.error({ version, problem }, 'stored version does not start');
    }
    this.connect();
    if (this.options.timers !== false) {
      this.timers.push(
        setInterval(() => void this.checkProbation(), FLEET_AGENT_DEFAULTS.checkIntervalMs),
        setInterval(() => this.publishHealth(), this.settings.healthIntervalMs),
      );
    }
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    await this.queue;
    await this.stopGateway();
    this.logs.stop();
    // Forced: a revoked or unreachable gateway holds queued QoS 1 messages that would never be
    // acknowledged, and a graceful end would wait for them forever.
    await this.client?.endAsync(true);
    this.client = null;
  }

  /** Queues a pushed version; resolves with its outcome once handled. */
  apply(document: FleetConfigDocument): Promise<FleetConfigStatus> {
    const done = this.queue.then(() => this.applyNow(document));
    this.queue = done.then(
      () => undefined,
      () => undefined,
    );
    return done;
  }

  /** Rolls back a version on probation that cannot acquire or has lost its uplink. */
  async checkProbation(): Promise<FleetConfigStatus | null> {
    const probation = this.probation;
    const gateway = this.gateway;
    if (!probation || !gateway) return null;
    const now = this.monotonic();
    const deviceIds = gateway.config.devices.map((d) => d.id);
    const connected = gateway.uplink.health?.().connected ?? true;
    if (connected) probation.uplinkDownSince = null;
    else probation.uplinkDownSince ??= now;
    let why: string | null = null;
    if (
      deviceIds.length > 0 &&
      !this.sampler.anyOnline(deviceIds) &&
      now - probation.since >= this.settings.acquisitionStartMs
    ) {
      const problem = this.sampler.lastProblem();
      why = `acquisition did not start: none of devices ${deviceIds.join(', ')} came online within ${this.settings.acquisitionStartMs} ms${problem ? ` (last reading problem: ${problem})` : ''}`;
    } else if (
      probation.uplinkDownSince !== null &&
      now - probation.uplinkDownSince >= this.settings.uplinkLossLimitMs
    ) {
      why = `uplink lost for ${Math.round((now - probation.uplinkDownSince) / 1000)} s (limit ${this.settings.uplinkLossLimitMs} ms)`;
    }
    if (why === null) {
      if (now - probation.since >= this.settings.probationMs) this.probation = null;
      return null;
    }
    this.probation = null;
    const work = this.queue.then(() => this.rollBack(probation.version, [why]));
    this.queue = work.then(
      () => undefined,
      () => undefined,
    );
    return work;
  }

  /** Samples and publishes health; returns what was sent. */
  publishHealth(): FleetHealth {
    const gateway = this.gateway;
    const health = this.sampler.sample({
      intervalMs: this.settings.healthIntervalMs,
      uplink: gateway?.uplink.health?.(),
      deviceIds: gateway?.config.devices.map((d) => d.id) ?? [],
      software: this.options.software ?? 'hazardwatch-gateway',
      configVersion: this.state.running,
      drift: this.state.running === null ? [] : this.versions.drift(this.state.running),
      logLevel: this.logs.level,
    });
    this.publish(this.topics.health, health);
    return health;
  }

  /** Runs a remote command; the result goes back on `fleet-result`. */
  async handleCommand(command: FleetCommand): Promise<FleetCommandResult> {
    let ok = true;
    let output: string[];
    try {
      output = await this.runCommand(command);
    } catch (err) {
      ok = false;
      output = [(err as Error).message];
    }
    const result: FleetCommandResult = {
      v: PROTOCOL_VERSION,
      commandId: command.commandId,
      ok,
      ts: this.clock.now(),
      output,
    };
    log.info(
      { commandId: command.commandId, type: command.type, by: command.by, ok },
      'remote command',
    );
    this.publish(this.topics.result, result);
    return result;
  }

  /** Reloads the running gateway's rule files (SIGHUP); local edits show as drift. */
  async reloadRules(): Promise<
    { ok: true; rules: number } | { ok: false; problems: readonly string[] }
  > {
    const reload = this.gateway?.reloadRulesInBackground;
    if (!reload || !this.gateway) return { ok: false, problems: ['no version is running'] };
    return reload.call(this.gateway);
  }

  private async runCommand(command: FleetCommand): Promise<string[]> {
    switch (command.type) {
      case 'restart-acquisition': {
        const version = this.state.running;
        if (version === null) throw new Error('no version is running');
        await this.stopGateway();
        const problem = await this.run(version);
        if (problem !== null) throw new Error(`version ${version} did not restart: ${problem}`);
        return [`acquisition restarted on version ${version}`];
      }
      case 'log-level': {
        const level = command.level ?? 'info';
        const ms = this.logs.setLevel(level, command.durationMs);
        return [`log level ${level} until ${new Date(this.clock.now() + ms).toISOString()}`];
      }
      case 'log-tail':
        return this.logs.tail(command.lines ?? FLEET_AGENT_DEFAULTS.logTailLines);
      case 'rule-check': {
        const version = this.state.running;
        if (version === null) throw new Error('no version is running');
        const check = this.versions.check(version, this.options.identity);
        const drift = this.versions.drift(version);
        const lines = check.ok
          ? [`version ${version}: configuration and rules pass the start checks`]
          : check.errors;
        if (drift.length > 0) lines.push(`drift from the pushed version: ${drift.join(', ')}`);
        if (!check.ok) throw new Error(lines.join('\n'));
        return lines;
      }
    }
  }

  private connect(): void {
    const { identity } = this.options;
    const client = mqtt.connect(identity.mqttUrl, {
      clientId: fleetClientId(identity.gatewayId),
      username: identity.username,
      password: identity.password,
      clean: true,
      reconnectPeriod: FLEET_AGENT_DEFAULTS.reconnectPeriodMs,
      // The enrolment's CA (and client certificate): a private CA is otherwise unknown here.
      ...(isTlsUrl(identity.mqttUrl) ? tlsConnectOptions(identity.tls) : {}),
    });
    this.client = client;
    client.on('connect', () => {
      client.subscribe([this.topics.config, this.topics.command], { qos: 1 }, (err) => {
        if (err) log.warn({ err: err.message }, 'cannot subscribe to the fleet channels');
      });
      this.publishHealth();
    });
    client.on('error', (err) => log.warn({ err: err.message }, 'fleet connection error'));
    client.on('message', (topic, payload) => {
      if (topic === this.topics.config) {
        if (payload.length === 0) return; // withdrawn (revocation)
        const decoded = decodeFleetConfigDocument(payload);
        if (!decoded.ok) {
          log.warn({ errors: decoded.errors }, 'ignoring an invalid configuration document');
          return;
        }
        void this.apply(decoded.value);
      } else if (topic === this.topics.command) {
        const decoded = decodeFleetCommand(payload);
        if (!decoded.ok) {
          log.warn({ errors: decoded.errors }, 'ignoring an invalid remote command');
          return;
        }
        void this.handleCommand(decoded.value);
      }
    });
  }

  private async applyNow(document: FleetConfigDocument): Promise<FleetConfigStatus> {
    const known = this.versions.document(document.version);
    const same = known?.hash === document.hash;
    if (same && this.state.running === document.version)
      return this.report(document.version, 'applied', []); // a retained copy after reconnect
    if (same && this.state.failed.includes(document.version))
      return this.report(document.version, 'refused', [
        `version ${document.version} failed here before; push a new version`,
      ]);
    this.versions.write(document);
    const check = this.versions.check(document.version, this.options.identity);
    if (!check.ok) {
      this.remember(document.version);
      log.error({ version: document.version, errors: check.errors }, 'pushed version refused');
      return this.report(document.version, 'refused', check.errors);
    }
    const previous = this.state.running;
    await this.stopGateway();
    // The version was just checked: it runs from that check, not from a second read and parse.
    const problem = await this.run(document.version, check.config);
    if (problem !== null) return this.rollBack(document.version, [problem], previous);
    this.state = { ...this.state, running: document.version, previous };
    this.versions.saveState(this.state);
    // Down until seen connected: a new uplink that never connects counts from the apply.
    const since = this.monotonic();
    this.probation = { version: document.version, since, uplinkDownSince: since };
    log.info(
      { version: document.version, by: document.by, reason: document.reason },
      'version applied',
    );
    return this.report(document.version, 'applied', []);
  }

  /** Stops `failed` (if it runs) and starts the previous version again. */
  private async rollBack(
    failed: number,
    errors: string[],
    previous: number | null = this.state.previous,
  ): Promise<FleetConfigStatus> {
    this.remember(failed);
    if (this.state.running === failed || this.gateway !== null) await this.stopGateway();
    const back = previous !== null && previous !== failed ? previous : null;
    if (back !== null) {
      const problem = await this.run(back);
      if (problem !== null)
        errors.push(`previous version ${back} did not start either: ${problem}`);
      this.state = { ...this.state, running: problem === null ? back : null, previous: null };
    } else {
      errors.push('no previous version to return to: acquisition stopped');
      this.state = { ...this.state, running: null, previous: null };
    }
    this.versions.saveState(this.state);
    log.error({ version: failed, back, errors }, 'version rolled back');
    return this.report(failed, 'rolled-back', errors);
  }

  /**
   * Builds and starts the gateway of a stored version (from `checked`, its config as a check
   * just made it, else checked here); returns why not, or null.
   */
  private async run(version: number, checked?: GatewayConfig): Promise<string | null> {
    let config = checked;
    if (!config) {
      const check = this.versions.check(version, this.options.identity);
      if (!check.ok) return check.errors.join('; ');
      config = check.config;
    }
    const create =
      this.options.createGateway ??
      ((config: GatewayConfig) =>
        new Gateway(config, {
          ...dataDirOptions(this.options.dataDir),
          ...(this.options.clock ? { clock: this.options.clock } : {}),
          software: this.options.software ?? 'hazardwatch-gateway',
        }));
    let gateway: RunningGateway | null = null;
    try {
      gateway = create(config);
      this.sampler.resetDevices();
      gateway.observe({ onReadings: (readings) => this.sampler.onReadings(readings) });
      await gateway.start();
      this.gateway = gateway;
      return null;
    } catch (err) {
      await gateway?.stop().catch(() => undefined);
      return `acquisition did not start: ${(err as Error).message}`;
    }
  }

  private async stopGateway(): Promise<void> {
    const gateway = this.gateway;
    this.gateway = null;
    this.probation = null;
    await gateway?.stop();
  }

  private remember(version: number): void {
    const failed = [...this.state.failed.filter((v) => v !== version), version];
    this.state = { ...this.state, failed: failed.slice(-FLEET_AGENT_DEFAULTS.rememberedFailures) };
    this.versions.saveState(this.state);
  }

  private report(version: number, state: FleetConfigState, errors: string[]): FleetConfigStatus {
    const status: FleetConfigStatus = {
      v: PROTOCOL_VERSION,
      version,
      state,
      runningVersion: this.state.running,
      errors: errors.map((e) => e.slice(0, 2_000)).slice(0, 1_000),
      ts: this.clock.now(),
    };
    this.publish(this.topics.status, status);
    this.options.onStatus?.(status);
    return status;
  }

  private publish(topic: string, payload: object): void {
    this.client?.publish(topic, JSON.stringify(payload), { qos: 1 }, (err) => {
      if (err) log.debug({ err: err.message, topic }, 'fleet message not published');
    });
  }
}
