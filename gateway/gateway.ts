/**
 * The gateway process: acquisition → edge alarm engine → uplink.
 *
 * Local alarms never wait on the uplink: readings are evaluated in the same tick
 * they arrive, and the uplink only queues. A rule file that does not compile
 * against the sensor catalogue stops startup with every problem listed.
 */
import type { Clock } from '../common/clock.js';
import { systemClock } from '../common/clock.js';
import { createLogger } from '../common/logger.js';
import {
  AlarmEngine,
  compileRuleSet,
  type EdgeAlarmTransition,
  loadRuleFiles,
} from '../edge/index.js';
import type { Reading, SensorInfo } from '../protocol/index.js';
import { Acquisition } from './acquisition/index.js';
import { type GatewayConfig, sensorCatalogue } from './config/index.js';
import { MqttUplink } from './uplink/mqtt-uplink.js';
import type { Uplink } from './uplink/uplink.js';

const log = createLogger('gateway');

export const GATEWAY_DEFAULTS = {
  tickMs: 100, // 0.1 s: precision of on/off-delays between readings
} as const;

export interface GatewayOptions {
  clock?: Clock;
  /** Replaces the MQTT uplink (tests, or a future transport). */
  uplink?: Uplink;
  /** Folder for the OPC UA client's certificate store. */
  opcuaPkiDir?: string;
  software?: string;
}

/** Observers for tests and benchmarks; called synchronously, must not throw. */
export interface GatewayObserver {
  onReadings?(readings: readonly Reading[]): void;
  onAlarm?(transition: EdgeAlarmTransition): void;
}

/**
 * Lifecycle: the constructor loads and compiles the rules (throws on a bad rule
 * file, naming file, line and key path) and creates the parts without I/O;
 * start() connects the uplink and starts acquisition (never waits for devices or
 * the server); stop() stops acquisition first, then flushes and closes the uplink.
 */
export class Gateway {
  readonly sensors: readonly SensorInfo[];
  readonly engine: AlarmEngine;
  readonly uplink: Uplink;
  private readonly acquisition: Acquisition;
  private readonly clock: Clock;
  private readonly observers: GatewayObserver[] = [];
  private tickTimer: NodeJS.Timeout | null = null;
  private started = false;

  constructor(
    readonly config: GatewayConfig,
    options: GatewayOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.sensors = sensorCatalogue(config);
    const catalogue = new Map(this.sensors.map((s) => [s.sensorId, s]));
    const compiled = compileRuleSet(loadRuleFiles([...config.rules.files]), catalogue);
    this.engine = new AlarmEngine(compiled, { clock: this.clock, drill: config.rules.drill });
    this.uplink =
      options.uplink ??
      new MqttUplink({
        url: config.uplink.url,
        gatewayId: config.gateway.id,
        enterpriseId: config.gateway.enterpriseId,
        sensors: this.sensors,
        clock: this.clock,
        username: config.uplink.username,
        password: config.uplink.password,
        publishIntervalMs: config.uplink.publishIntervalMs,
        keepaliveS: config.uplink.keepaliveS,
        software: options.software,
      });
    this.acquisition = new Acquisition(config.devices, (readings) => this.onReadings(readings), {
      clock: this.clock,
      ...(options.opcuaPkiDir ? { opcuaPkiDir: options.opcuaPkiDir } : {}),
    });
  }

  observe(observer: GatewayObserver): void {
    this.observers.push(observer);
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.uplink.start();
    await this.acquisition.start();
    this.tickTimer = setInterval(() => this.emit(this.engine.tick()), GATEWAY_DEFAULTS.tickMs);
    log.info(
      {
        gatewayId: this.config.gateway.id,
        devices: this.config.devices.length,
        sensors: this.sensors.length,
      },
      'gateway started',
    );
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.tickTimer = null;
    await this.acquisition.stop();
    await this.uplink.stop();
    log.info({ gatewayId: this.config.gateway.id }, 'gateway stopped');
  }

  private onReadings(readings: Reading[]): void {
    if (!this.started) return;
    // Alarms first: they leave ahead of the telemetry that carried them.
    this.emit(this.engine.evaluate(readings));
    this.uplink.publishReadings(readings);
    for (const o of this.observers) o.onReadings?.(readings);
  }

  private emit(transitions: readonly EdgeAlarmTransition[]): void {
    for (const transition of transitions) {
      log.info(
        {
          alarmId: transition.alarmId,
          sensorId: transition.sensorId,
          level: transition.level,
          transition: transition.transition,
          value: transition.value,
        },
        `alarm ${transition.transition}`,
      );
      this.uplink.publishAlarm(transition);
      for (const o of this.observers) o.onAlarm?.(transition);
    }
  }
}
