/**
 * The gateway process: acquisition → edge alarm engine → uplink.
 *
 * Local alarms never wait on the uplink: readings are evaluated in the same tick
 * they arrive, and the uplink only queues. A rule file that does not compile
 * against the sensor catalogue stops startup with every problem listed.
 */

import path from 'node:path';
import type { Clock } from '../common/clock.js';
import { systemClock } from '../common/clock.js';
import { createLogger } from '../common/logger.js';
import {
  type AlarmEngine,
  type EdgeAlarmTransition,
  FileAlarmStateStore,
  LinkageRunner,
  RuleRuntime,
} from '../edge/index.js';
import type { GatewayCommand, Reading, SensorInfo } from '../protocol/index.js';
import { Acquisition } from './acquisition/index.js';
import type { GatewayConfig } from './config/index.js';
import {
  DIAGNOSTIC_SENSOR_IDS,
  GatewayDiagnostics,
  gatewaySensors,
  type StorageFault,
} from './diagnostics.js';
import { describeStorageFault } from './outbox/outbox.js';
import { withAlarmLimits } from './sensor-limits.js';
import { MqttUplink, type OutboxEvent } from './uplink/mqtt-uplink.js';
import type { Uplink } from './uplink/uplink.js';

const log = createLogger('gateway');

export const GATEWAY_DEFAULTS = {
  tickMs: 100, // 0.1 s: precision of on/off-delays between readings
  bytesPerReading: 60, // ≈ JSON size of one reading in a batch, for the outbox capacity estimate
} as const;

export interface GatewayOptions {
  clock?: Clock;
  /** Replaces the MQTT uplink (tests, or a future transport). */
  uplink?: Uplink;
  /** Folder for the OPC UA client's certificate store. */
  opcuaPkiDir?: string;
  software?: string;
  /** Outbox file; overrides uplink.outbox.path of the config (the demo puts it beside its store). */
  outboxPath?: string;
  /**
   * File that keeps ISA-18.2 alarm state (acknowledged, shelved, latched...) across
   * restarts; without it the state lives in memory only.
   */
  alarmStatePath?: string;
}

/**
 * The files a gateway keeps in its data folder: the outbox, the alarm state and
 * the OPC UA client's certificates.
 */
export function dataDirOptions(
  dataDir: string,
): Pick<GatewayOptions, 'outboxPath' | 'alarmStatePath' | 'opcuaPkiDir'> {
  return {
    outboxPath: path.join(dataDir, 'outbox.db'),
    alarmStatePath: path.join(dataDir, 'alarm-state.json'),
    opcuaPkiDir: path.join(dataDir, 'pki'),
  };
}

/** Observers for tests and benchmarks; called synchronously, must not throw. */
export interface GatewayObserver {
  onReadings?(readings: readonly Reading[]): void;
  onAlarm?(transition: EdgeAlarmTransition): void;
}

/**
 * Lifecycle: the constructor loads and compiles the rules (throws on a bad rule
 * file, naming file, line and key path), loads saved alarm state, and creates
 * the parts without I/O;
 * start() connects the uplink and starts acquisition (never waits for devices or
 * the server); stop() stops acquisition first, then flushes and closes the uplink.
 */
export class Gateway {
  readonly sensors: readonly SensorInfo[];
  readonly rules: RuleRuntime;
  readonly uplink: Uplink;
  readonly linkage: LinkageRunner;
  private readonly acquisition: Acquisition;
  private readonly diagnostics: GatewayDiagnostics;
  /** The outbox file, for storage-fault messages ('in memory' when there is none). */
  private readonly outboxPath: string;
  /** Storage faults found before start() (the alarm-state file is read in the constructor). */
  private readonly pendingStorageFaults: StorageFault[] = [];
  private readonly clock: Clock;
  private readonly observers: GatewayObserver[] = [];
  private tickTimer: NodeJS.Timeout | null = null;
  private started = false;

  constructor(
    readonly config: GatewayConfig,
    options: GatewayOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    // Field sensors, then the gateway's own status points: each device's
    // `<deviceId>.online` and the uplink outbox, so rules can alarm on them.
    const sensors = gatewaySensors(config);
    this.diagnostics = new GatewayDiagnostics(config.gateway.id, this.clock);
    this.outboxPath = options.outboxPath ?? config.uplink.outbox?.path ?? 'the in-memory outbox';
    const catalogue = new Map(sensors.map((s) => [s.sensorId, s]));
    // Acquisition first (its constructor does no I/O): it is also the one writer of every
    // device, which local linkage writes through (one owner per device, per bus).
    this.acquisition = new Acquisition(config.devices, (readings) => this.onReadings(readings), {
      clock: this.clock,
      statusReadings: true,
      ...(options.opcuaPkiDir ? { opcuaPkiDir: options.opcuaPkiDir } : {}),
    });
    const stateStore = options.alarmStatePath
      ? new FileAlarmStateStore(options.alarmStatePath, {
          // A garbled state file is moved aside and the engine starts fresh: the gateway keeps
          // acquiring and alarming, and says so (issue 13 item 4).
          onLoadProblem: (problem) => {
            if (problem.kind === 'invalid-points') return; // dropped entries are logged by the store
            this.pendingStorageFaults.push({
              what: 'alarm state',
              path: problem.path,
              movedTo: problem.movedTo,
              error: problem.message,
            });
          },
        })
      : undefined;
    this.rules = new RuleRuntime({
      files: [...config.rules.files],
      sensors: catalogue,
      clock: this.clock,
      drill: config.rules.drill,
      gatewayId: config.gateway.id,
      // OPC UA readings carry the device's source timestamp: a step of the gateway clock must
      // not move their newest time (Modbus readings are stamped by the gateway and must).
      deviceStampedSensors: new Set(
        config.devices.flatMap((d) =>
          d.protocol === 'opcua' ? d.tags.map((t) => t.sensorId) : [],
        ),
      ),
      ...(stateStore ? { store: stateStore } : {}),
      // Every start and every reload refuses outputs naming a device this gateway lacks.
      load: { outputDevices: { ids: config.devices.map((d) => d.id), writers: this.acquisition } },
      onClockStep: (step) => {
        log.warn({ stepMs: step.stepMs, at: step.at }, 'wall clock stepped');
        this.queueReadings([this.diagnostics.clockStep(step.stepMs, step.at)]);
      },
    });
    // The birth message tells the server each sensor's setpoints (as of start; a reload's new
    // setpoints reach the server with the alarms that use them and at the next birth).
    this.sensors = withAlarmLimits(sensors, this.engine.compiled);
    // Local linkage runs at the edge, so it works while the uplink is down; its
    // failure alarms travel like any other transition. Writes go through the acquisition's
    // device writers, serialised with the polls on the same connection or bus.
    this.linkage = new LinkageRunner(this.engine.compiled, this.acquisition, {
      clock: this.clock,
      onTransition: (transition) => this.emit([transition]),
    });
    this.uplink = options.uplink ?? this.createUplink(config, options);
  }

  private createUplink(config: GatewayConfig, options: GatewayOptions): MqttUplink {
    const { uplink } = config;
    const outbox = uplink.outbox ?? {};
    const mib = 1024 * 1024;
    const path = options.outboxPath ?? outbox.path;
    return new MqttUplink({
      url: uplink.url,
      gatewayId: config.gateway.id,
      enterpriseId: config.gateway.enterpriseId,
      sensors: this.sensors,
      clock: this.clock,
      username: uplink.username,
      password: uplink.password,
      ...(uplink.tls ? { tls: uplink.tls } : {}),
      publishIntervalMs: uplink.publishIntervalMs,
      keepaliveS: uplink.keepaliveS,
      software: options.software,
      outbox: {
        ...(path !== undefined ? { path } : {}),
        ...(outbox.telemetryMaxMB ? { telemetryMaxBytes: outbox.telemetryMaxMB * mib } : {}),
        ...(outbox.alarmReserveMB ? { alarmReserveBytes: outbox.alarmReserveMB * mib } : {}),
        ...(outbox.highWaterPct ? { highWaterPct: outbox.highWaterPct } : {}),
        ...(outbox.telemetrySync ? { telemetrySync: outbox.telemetrySync } : {}),
      },
      ...(uplink.ackTimeoutMs ? { ackTimeoutMs: uplink.ackTimeoutMs } : {}),
      ...(uplink.replayReadingsPerS ? { replayReadingsPerS: uplink.replayReadingsPerS } : {}),
      ...(uplink.maxInFlight ? { maxInFlight: uplink.maxInFlight } : {}),
      onOutboxEvent: (event) => this.onOutboxEvent(event),
      onCommand: (command) => this.applyCommand(command),
    });
  }

  get engine(): AlarmEngine {
    return this.rules.engine;
  }

  /**
   * Reads the rule files again. A refused set leaves the running rules in force
   * and returns every problem; an accepted one keeps all alarm state.
   */
  reloadRules(): { ok: true; rules: number } | { ok: false; problems: readonly string[] } {
    const result = this.rules.reload();
    if (!result.ok) return { ok: false, problems: result.problems };
    this.linkage.setRules(this.engine.compiled);
    this.emit(result.transitions);
    return { ok: true, rules: result.rules };
  }

  /**
   * reloadRules() off the alarm path: the files are read and checked in a worker thread and
   * the new rules swapped in at once, so evaluation never stalls for the whole load (SIGHUP).
   */
  async reloadRulesInBackground(): Promise<
    { ok: true; rules: number } | { ok: false; problems: readonly string[] }
  > {
    const result = await this.rules.reloadInBackground();
    if (!result.ok) return { ok: false, problems: result.problems };
    this.linkage.setRules(this.engine.compiled);
    this.emit(result.transitions);
    return { ok: true, rules: result.rules };
  }

  /** An operator action relayed by the server; the resulting transitions go back up. */
  applyCommand(command: GatewayCommand): void {
    const { alarmId, by } = command;
    const transitions =
      command.type === 'acknowledge'
        ? this.engine.acknowledge(alarmId, by)
        : command.type === 'shelve'
          ? this.engine.shelve(
              alarmId,
              by,
              command.durationMs ? { durationMs: command.durationMs } : { oneShot: true },
            )
          : this.engine.unshelve(alarmId, by);
    log.info(
      {
        commandId: command.commandId,
        type: command.type,
        alarmId,
        by,
        transitions: transitions.length,
      },
      'operator command applied',
    );
    this.emit(transitions);
  }

  /** Readings per second the configured devices produce (poll or sampling interval × tags). */
  configuredReadingsPerS(): number {
    let rate = 0;
    for (const device of this.config.devices) {
      const d = device as { pollIntervalMs?: number; samplingIntervalMs?: number };
      const interval = d.pollIntervalMs ?? d.samplingIntervalMs;
      if (interval && interval > 0) rate += (device.tags.length * 1000) / interval;
    }
    return rate;
  }

  observe(observer: GatewayObserver): void {
    this.observers.push(observer);
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.uplink.start();
    // The diagnostic points have a value from the first second, and a storage fault found while
    // loading (before the uplink existed) is announced now that it can travel.
    this.queueReadings([this.diagnostics.storageFaultCount()]);
    for (const fault of this.pendingStorageFaults.splice(0)) this.reportStorageFault(fault);
    await this.acquisition.start();
    this.tickTimer = setInterval(() => this.emit(this.engine.tick()), GATEWAY_DEFAULTS.tickMs);
    const health = this.uplink.health?.();
    const rate = this.configuredReadingsPerS();
    log.info(
      {
        gatewayId: this.config.gateway.id,
        devices: this.config.devices.length,
        sensors: this.sensors.length,
        ...(health && rate > 0
          ? {
              readingsPerS: Math.round(rate),
              outboxDurable: health.durable,
              // The configured bound as hours of data at the configured rate.
              outboxHours:
                Math.round(
                  (health.telemetryMaxBytes / GATEWAY_DEFAULTS.bytesPerReading / rate / 3600) * 10,
                ) / 10,
            }
          : {}),
      },
      'gateway started',
    );
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.tickTimer = null;
    this.linkage.stop();
    await this.acquisition.stop();
    await this.uplink.stop();
    log.info({ gatewayId: this.config.gateway.id }, 'gateway stopped');
  }

  /** Outbox events become readings of the gateway's status sensors, evaluated by the edge. */
  private onOutboxEvent(event: OutboxEvent): void {
    if (!this.started) return;
    const ts = this.clock.now();
    const backlog: Reading = {
      sensorId: DIAGNOSTIC_SENSOR_IDS.uplinkBacklog,
      value: event.stats.fillPct,
      quality: 'good',
      ts,
    };
    const dropped: Reading = {
      sensorId: DIAGNOSTIC_SENSOR_IDS.uplinkDropped,
      value: event.stats.dropped.readings,
      quality: 'good',
      ts,
    };
    switch (event.type) {
      case 'high-water':
        this.queueReadings([backlog]);
        break;
      case 'shed':
        this.queueReadings([dropped]);
        break;
      case 'stats':
        this.queueReadings([backlog, dropped]);
        break;
      case 'storage-fault':
        this.reportStorageFault({
          what: 'outbox',
          path: event.fault.path,
          movedTo: event.fault.movedTo,
          error: describeStorageFault(event.fault),
        });
        break;
      case 'quarantined':
        log.warn(
          { seq: event.seq, lane: event.lane, reason: event.reason },
          'outbox item quarantined',
        );
        // A lost telemetry batch is a gap the heartbeat counts; a lost alarm transition is an
        // alarm the server never sees (raised and never cleared, or never raised): say so.
        if (event.lane === 'alarm') {
          this.reportStorageFault({
            what: 'outbox alarm item',
            path: this.outboxPath,
            error: event.reason,
            lost: `alarm transition seq ${event.seq} could not be read back and was not sent; check the alarm list at the gateway`,
          });
        }
        break;
    }
  }

  private reportStorageFault(fault: StorageFault): void {
    log.error({ ...fault }, 'local storage fault: file moved aside, started with a fresh one');
    const { transitions, reading } = this.diagnostics.storageFault(fault);
    // Deferred: the fault may be reported from inside the uplink's own open or append.
    queueMicrotask(() => {
      this.emit(transitions);
      this.onReadings([reading]);
    });
  }

  /** Readings the gateway makes itself, evaluated like field values, after the current call. */
  private queueReadings(readings: Reading[]): void {
    queueMicrotask(() => this.onReadings(readings));
  }

  private onReadings(readings: Reading[]): void {
    if (!this.started) return;
    // Alarms first: they leave ahead of the telemetry that carried them.
    this.emit(this.engine.evaluate(readings));
    this.uplink.publishReadings(readings);
    for (const o of this.observers) o.onReadings?.(readings);
  }

  private emit(transitions: readonly EdgeAlarmTransition[]): void {
    if (transitions.length === 0) return;
    // Local linkage first (ventilation, shut-off valve): it only queues its writes and returns,
    // and it must not wait for anything upstream.
    this.linkage.handle(transitions);
    // Then the uplink: one outbox commit (one fsync) for every transition of this evaluation,
    // sent highest level first. Logging and observers come after, off the alarm's way.
    if (this.uplink.publishAlarms) this.uplink.publishAlarms(transitions);
    else for (const transition of transitions) this.uplink.publishAlarm(transition);
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
      for (const o of this.observers) o.onAlarm?.(transition);
    }
  }
}
