/**
 * The central server: wires the telemetry store, alarm ledger, emergency
 * notifier, MQTT broker with ingest, and the HTTP API with the dashboard.
 *
 * Start order: store → ledger → notifier → broker (+ ingest) → HTTP, so
 * nothing is accepted before the place it goes to is open. Stop runs in
 * reverse; ingest drains the last messages (including the last wills the
 * broker publishes as it disconnects clients) before the stores close.
 */
import type { FastifyInstance } from 'fastify';
import type { Clock } from '../common/clock.js';
import { systemClock } from '../common/clock.js';
import { createLogger } from '../common/logger.js';
import { isAddressInUse, PortInUseError } from '../common/net.js';
import { describeAlarm } from './alarms/identity.js';
import { AlarmLedger } from './alarms/ledger.js';
import { loadLedgerKey } from './alarms/ledger-key.js';
import { buildApp } from './api/app.js';
import {
  type AuditLog,
  brokerSecurityOptions,
  createAuditLog,
  ingestSecurityOptions,
} from './auth/index.js';
import { MqttBroker } from './broker.js';
import type { ServerConfig } from './config/index.js';
import { EventHub } from './events.js';
import { FleetService } from './fleet/fleet-service.js';
import { GatewayPresenceMonitor, GatewayRegistry } from './gateways.js';
import { type AfterCommitHook, Ingest, StoreAckPublisher } from './ingest.js';
import { EmergencyNotifier } from './linkage/emergency-notifier.js';
import { OperatorCommandRelay } from './operator-commands.js';
import { Platform } from './platform/platform.js';
import { createTelemetryStore } from './store/index.js';
import type { TelemetryStore } from './store/telemetry-store.js';
import { defaultSupervisionConfig } from './supervision/config.js';
import { SupervisionService } from './supervision/service.js';

const log = createLogger('server');

export interface CentralServerOptions {
  clock?: Clock;
  /** HTTP client for emergency linkage (global fetch by default). */
  fetch?: typeof fetch;
  /** Serve the dashboard at / (default true). */
  dashboard?: boolean;
  /** Runs after each telemetry batch or alarm event is committed (the ack goes here). */
  afterCommit?: AfterCommitHook;
}

/**
 * Lifecycle: `start()` resolves when MQTT and HTTP accept connections; a taken
 * port throws {@link PortInUseError} (and whatever had started is stopped).
 * `stop()` closes everything, is safe to call twice and after a failed start.
 */
export class CentralServer {
  readonly store: TelemetryStore;
  readonly ledger: AlarmLedger;
  readonly notifier: EmergencyNotifier;
  /** Stops the notifier's follow-ups (cleared, closed) from the event hub. */
  private unfollowNotifier: (() => void) | undefined;
  readonly gateways: GatewayRegistry;
  readonly events: EventHub;
  readonly ingest: Ingest;
  readonly broker: MqttBroker;
  /** Refused connections, publishes, subscriptions and rejected payloads (JSONL). */
  readonly audit: AuditLog;
  /** StoreAcks to gateways after each commit (store-and-forward). */
  readonly acks: StoreAckPublisher;
  /** Staleness after missed heartbeats, gateway-offline alarms. */
  readonly presence: GatewayPresenceMonitor;
  /** Operator acknowledgements relayed to the gateways' alarm engines. */
  readonly commands: OperatorCommandRelay;
  /** Regulator platform: registry, access, disposal ledger, escalation, MQTT linkage. */
  readonly platform: Platform;
  /** Fleet management: enrolled gateways, pushed versions, health, remote commands (docs/fleet.md). */
  readonly fleet: FleetService;
  /** Supervision by data: hazard ledger, screening, data quality, live grading (issue 16). */
  readonly supervision: SupervisionService;
  private app: FastifyInstance | null = null;
  private actualHttpPort = 0;
  private readonly clock: Clock;

  constructor(
    readonly config: ServerConfig,
    private readonly options: CentralServerOptions = {},
  ) {
    const clock = options.clock ?? systemClock;
    this.clock = clock;
    const path = config.store.path;
    this.store = createTelemetryStore(config.store, clock);
    this.ledger = new AlarmLedger({
      path,
      clock,
      // A conflict never refuses an alarm (issue 13), but it is evidence: audited.
      onConflict: (conflict) =>
        this.audit.record({
          category: 'ingest',
          event: 'alarm-conflict',
          reason: `alarm identity already held by rule '${conflict.known.ruleId}' / sensor '${conflict.known.sensorId}'`,
          gatewayId: conflict.key.gatewayId,
          detail: `${describeAlarm(conflict.key)} ${conflict.got.transition} (seq ${conflict.got.seq}, rule '${conflict.got.ruleId}', sensor '${conflict.got.sensorId}') recorded as '${conflict.recordedAs}'`,
        }),
    });
    const notifierOptions: ConstructorParameters<typeof EmergencyNotifier>[0] = {
      path,
      clock,
      centres: config.emergencyCentres,
      enterprises: config.enterprises,
      retryInitialMs: config.linkage.retryInitialMs,
      retryMaxMs: config.linkage.retryMaxMs,
    };
    if (options.fetch) notifierOptions.fetch = options.fetch;
    this.notifier = new EmergencyNotifier(notifierOptions);
    this.gateways = new GatewayRegistry(clock);
    this.events = new EventHub();
    const ingestOptions: ConstructorParameters<typeof Ingest>[0] = {
      store: this.store,
      ledger: this.ledger,
      gateways: this.gateways,
      events: this.events,
      notifier: this.notifier,
      clock,
    };
    this.acks = new StoreAckPublisher({
      publish: (topic, payload) => this.broker.publish(topic, payload, { qos: 1 }),
    });
    ingestOptions.acks = this.acks;
    this.presence = new GatewayPresenceMonitor({
      registry: this.gateways,
      ledger: this.ledger,
      events: this.events,
      clock,
      // A gateway applying a pushed configuration restarts: no nuisance offline alarm for that.
      expectedRestart: (gatewayId) => this.fleet.applyExpected(gatewayId),
    });
    if (options.afterCommit) ingestOptions.afterCommit = options.afterCommit;
    this.audit = createAuditLog(config.audit, path, clock);
    Object.assign(ingestOptions, ingestSecurityOptions(config.plausibility, this.audit, clock));
    this.ingest = new Ingest(ingestOptions);
    this.fleet = new FleetService({
      path,
      clock,
      publish: (topic, payload, { retain }) =>
        this.broker.publish(topic, payload, { qos: 1, retain }),
      disconnect: (username) => this.broker.disconnectIdentity(username),
      audit: (record) => this.audit.record(record),
      staticUsers: config.mqtt.auth.users.map((u) => u.username),
      mqttUrl: (hostname) =>
        `${config.mqtt.tls ? 'mqtts' : 'mqtt'}://${hostname.includes(':') ? `[${hostname}]` : hostname}:${this.mqttPort}`,
    });
    this.broker = new MqttBroker({
      host: config.mqtt.host,
      port: config.mqtt.port,
      ...brokerSecurityOptions(config.mqtt, this.audit, this.fleet.directory),
      onPublish: async (message) => {
        if (this.fleet.handleMqtt(message.topic, message.payload)) return;
        if (this.platform.handleMqtt(message.topic, message.payload)) return;
        await this.ingest.handle(message);
      },
    });
    this.commands = new OperatorCommandRelay({
      events: this.events,
      ledger: this.ledger,
      publish: (topic, payload) => this.broker.publish(topic, payload, { qos: 1 }),
    });
    // One chain key for the disposal and the hazard ledgers (docs/ledger.md).
    const ledgerKey = loadLedgerKey({ keyFile: config.ledger.keyFile, storePath: path }).key;
    const minLevels = config.emergencyCentres.map((c) => c.minLevel);
    this.platform = new Platform({
      config: config.platform,
      enterprises: config.enterprises,
      path,
      clock,
      events: this.events,
      ledger: this.ledger,
      gateways: this.gateways,
      store: this.store,
      publish: (topic, payload) => this.broker.publish(topic, payload, { qos: 1 }),
      // Ledger anchors: retained, so a witness that subscribes late still gets the newest.
      publishRetained: (topic, payload) =>
        this.broker.publish(topic, payload, { qos: 1, retain: true }),
      ledgerIntegrity: config.ledger,
      ledgerKey,
      mqttMinLevel: minLevels.length > 0 ? (Math.min(...minLevels) as 1 | 2) : 2,
    });
    this.supervision = new SupervisionService({
      config: config.platform.supervision ?? defaultSupervisionConfig(),
      path,
      key: ledgerKey,
      clock,
      events: this.events,
      registry: this.platform.registry,
      gateways: this.gateways,
      disposal: this.platform.disposal,
    });
  }

  /** The HTTP port actually listened on (0 before start). */
  get httpPort(): number {
    return this.actualHttpPort;
  }

  /** The MQTT port actually listened on (0 before start). */
  get mqttPort(): number {
    return this.broker.port;
  }

  async start(): Promise<void> {
    const startedAt = this.clock.now();
    try {
      await this.audit.start();
      await this.store.start();
      await this.ledger.start();
      await this.notifier.start();
      // Follow-ups: the centre learns that an alarm it was paged for cleared or was closed.
      this.unfollowNotifier = this.notifier.follow(this.events);
      await this.platform.start();
      await this.supervision.start();
      // Before the broker: it asks the fleet's directory for enrolled gateways on CONNECT.
      this.fleet.start();
      await this.broker.start();
      this.presence.start();
      this.commands.start();
      this.app = buildApp({
        store: this.store,
        ledger: this.ledger,
        gateways: this.gateways,
        notifier: this.notifier,
        ingest: this.ingest,
        events: this.events,
        clock: this.clock,
        startedAt,
        dashboard: this.options.dashboard ?? true,
        platform: this.platform,
        supervision: this.supervision,
        fleet: this.fleet,
      });
      await this.listen(this.app);
    } catch (err) {
      await this.stop();
      throw err;
    }
    log.info(
      { http: this.actualHttpPort, mqtt: this.mqttPort, store: this.config.store.path },
      'HazardWatch server started',
    );
  }

  async stop(): Promise<void> {
    const app = this.app;
    this.app = null;
    // Reverse start order; one failing step does not keep the rest open.
    const steps: [string, () => Promise<void>][] = [
      ['http', async () => app?.close()],
      ['presence', async () => this.presence.stop()],
      ['commands', async () => this.commands.stop()],
      // The witness gets the last head while the broker still runs.
      [
        'ledger anchor',
        async () => {
          this.platform.integrity.anchorNow();
          await this.platform.integrity.published();
        },
      ],
      ['broker', () => this.broker.stop()],
      ['ingest', () => this.ingest.stop()],
      ['supervision', () => this.supervision.stop()],
      ['platform', () => this.platform.stop()],
      ['fleet', async () => this.fleet.stop()],
      ['acks', () => this.acks.stop()],
      [
        'notifier',
        async () => {
          this.unfollowNotifier?.();
          this.unfollowNotifier = undefined;
          await this.notifier.stop();
        },
      ],
      ['ledger', () => this.ledger.stop()],
      ['store', () => this.store.stop()],
      ['audit', () => this.audit.stop()],
    ];
    for (const [name, step] of steps) {
      try {
        await step();
      } catch (err) {
        log.error({ err, component: name }, 'error while stopping');
      }
    }
    this.actualHttpPort = 0;
  }

  private async listen(app: FastifyInstance): Promise<void> {
    const { host, port } = this.config.http;
    try {
      await app.listen({ host, port });
    } catch (err) {
      if (isAddressInUse(err)) {
        throw new PortInUseError('HTTP API', port, '--http-port or HAZARDWATCH_HTTP_PORT', {
          cause: err,
        });
      }
      throw new Error(`HTTP API cannot listen on ${host}:${port}`, { cause: err });
    }
    const address = app.server.address();
    this.actualHttpPort = typeof address === 'object' && address ? address.port : port;
  }
}
