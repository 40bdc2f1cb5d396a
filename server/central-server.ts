/**
 * The central server: an ordered list of services, each with `start` and `stop` (zigbee2mqtt's
 * controller and extensions are the model), started in order and stopped in reverse, each stop
 * in its own try/catch so one failing step does not keep the rest open.
 *
 * Order: database → event relay → audit → telemetry store → alarm ledger → notifier → StoreAcks → fleet → platform →
 * supervision → ingest → MQTT (the embedded aedes broker, or the external broker in cluster
 * mode) → leader jobs (presence, escalation, anchors, supervision passes) → ledger anchor →
 * operator commands → HTTP. Nothing is accepted before the
 * place it goes to is open. In reverse, ingest drains the last messages (including the last
 * wills the embedded broker publishes as it disconnects clients) before the stores close, and
 * the ledger anchor reaches the witness while MQTT still runs.
 *
 * `mqtt.mode: external` (docs/cluster.md) swaps only the MQTT service: the node consumes gateway
 * traffic from an MQTT 5 broker cluster through shared subscriptions (server/cluster) and
 * publishes StoreAcks and commands back through it; everything else is the same code.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { FastifyInstance } from 'fastify';
import type { Clock } from '../common/clock.js';
import { systemClock } from '../common/clock.js';
import { createLogger } from '../common/logger.js';
import { isAddressInUse, PortInUseError } from '../common/net.js';
import { describeAlarm } from './alarms/identity.js';
import { AlarmLedger } from './alarms/ledger.js';
import { loadLedgerKey } from './alarms/ledger-key.js';
import { buildApp } from './api/app.js';
import { brokerHookAccess } from './api/broker-auth-routes.js';
import {
  type AuditLog,
  brokerSecurityOptions,
  createAuditLog,
  ingestSecurityOptions,
} from './auth/index.js';
import { type InboundMessage, MqttBroker } from './broker.js';
import { EXTERNAL_BROKER_DEFAULTS, mqttMode } from './cluster/config.js';
import { EventRelay } from './cluster/event-relay.js';
import { ExternalBroker, type MqttTransport } from './cluster/external-broker.js';
import { LeaderJobs } from './cluster/leader-jobs.js';
import { PresenceShare } from './cluster/presence-share.js';
import type { ServerConfig } from './config/index.js';
import type { DatabaseConfig } from './db/config.js';
import { Database } from './db/database.js';
import { upgradeEmbeddedFile } from './db/embedded-upgrade.js';
import { EventHub } from './events.js';
import { FleetService } from './fleet/fleet-service.js';
import { GatewayPresenceMonitor, GatewayRegistry } from './gateways.js';
import { type AfterCommitHook, Ingest, StoreAckPublisher } from './ingest.js';
import { EmergencyNotifier } from './linkage/emergency-notifier.js';
import { MQTT_LINKAGE_DEFAULTS } from './linkage/mqtt-linkage.js';
import { OperatorCommandRelay } from './operator-commands.js';
import { Platform } from './platform/platform.js';
import { createTelemetryStore } from './store/index.js';
import type { TelemetryStore } from './store/telemetry-store.js';
import { defaultSupervisionConfig } from './supervision/config.js';
import { SupervisionService } from './supervision/service.js';

const log = createLogger('server');

/**
 * One part of the server with a lifecycle. `start` may do I/O and throws when the part cannot
 * run; `stop` undoes it, is safe after a failed or missing start, and is always called (in
 * reverse order) once the server stops.
 */
export interface ServerService {
  readonly name: string;
  start(): Promise<void> | void;
  stop(): Promise<void> | void;
}

export interface CentralServerOptions {
  clock?: Clock;
  /** HTTP client for emergency linkage (global fetch by default). */
  fetch?: typeof fetch;
  /** Serve the dashboard at / (default true). */
  dashboard?: boolean;
  /** Runs after each telemetry batch or alarm event is committed (the ack goes here). */
  afterCommit?: AfterCommitHook;
  /** Told when this node becomes leader (true) and stops being one (false): logs, tests. */
  onLeadership?: (leader: boolean) => void;
}

/**
 * Lifecycle: `start()` resolves when MQTT and HTTP accept connections (external mode: when
 * the node consumes from the broker); a taken port throws {@link PortInUseError} (and
 * whatever had started is stopped). `stop()` closes everything, is safe to call twice and
 * after a failed start.
 */
export class CentralServer {
  /**
   * The platform state (server/db): the embedded SQLite file at store.path, or the cluster's
   * PostgreSQL (`database` section). One per process; the stores receive it, none opens its own.
   */
  readonly database: Database;
  readonly store: TelemetryStore;
  readonly ledger: AlarmLedger;
  readonly notifier: EmergencyNotifier;
  /** Stops the notifier's follow-ups (cleared, closed) from the event hub. */
  private unfollowNotifier: (() => void) | undefined;
  readonly gateways: GatewayRegistry;
  readonly events: EventHub;
  readonly ingest: Ingest;
  /** The MQTT side: the embedded broker, or the external broker (mqtt.mode external). */
  readonly transport: MqttTransport;
  private readonly embeddedBroker: MqttBroker | null;
  /** Refused connections, publishes, subscriptions and rejected payloads (JSONL). */
  readonly audit: AuditLog;
  /** StoreAcks to gateways after each commit (store-and-forward). */
  readonly acks: StoreAckPublisher;
  /** Staleness after missed heartbeats, gateway-offline alarms. */
  readonly presence: GatewayPresenceMonitor;
  /**
   * What runs once per cluster (presence, escalation, the ledgers' anchors and self-checks,
   * supervision passes): on the node elected through the database (server/cluster/leader-jobs.ts).
   * A lone embedded server wins at once, so it runs them as it always did.
   */
  readonly leaderJobs: LeaderJobs;
  /** Cluster mode: every node's sightings of every gateway, merged into each node's registry. */
  readonly presenceShare: PresenceShare;
  /** Live streams on every node: other nodes' committed events for this node's SSE clients. */
  readonly relay: EventRelay;
  /** Operator acknowledgements relayed to the gateways' alarm engines. */
  readonly commands: OperatorCommandRelay;
  /** Regulator platform: registry, access, disposal ledger, escalation, MQTT linkage. */
  readonly platform: Platform;
  /** Fleet management: enrolled gateways, pushed versions, health, remote commands (docs/fleet.md). */
  readonly fleet: FleetService;
  /** Supervision by data: hazard ledger, screening, data quality, live grading (issue 16). */
  readonly supervision: SupervisionService;
  /** Started in this order, stopped in reverse. */
  readonly services: readonly ServerService[];
  private app: FastifyInstance | null = null;
  private actualHttpPort = 0;
  private readonly clock: Clock;
  private startedAt = 0;
  /** The chain key (disposal and hazard ledgers); the embedded upgrade replays with it. */
  private readonly ledgerKey: Buffer;

  constructor(
    readonly config: ServerConfig,
    private readonly options: CentralServerOptions = {},
  ) {
    const clock = options.clock ?? systemClock;
    this.clock = clock;
    const path = config.store.path;
    this.database = new Database(platformDatabaseConfig(config));
    this.store = createTelemetryStore(config.store, clock);
    this.ledger = new AlarmLedger({
      database: this.database,
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
    const nodeId = nodeIdOf(config);
    const notifierOptions: ConstructorParameters<typeof EmergencyNotifier>[0] = {
      database: this.database,
      nodeId,
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
      clock,
    };
    this.acks = new StoreAckPublisher({
      publish: (topic, payload) => this.transport.publish(topic, payload, { qos: 1 }),
    });
    ingestOptions.acks = this.acks;
    // Cluster mode: what each node saw of every gateway, so presence is judged on all of it.
    this.presenceShare = new PresenceShare({
      database: this.database,
      nodeId,
      registry: this.gateways,
      events: this.events,
      clock,
    });
    this.presence = new GatewayPresenceMonitor({
      view: this.presenceShare,
      registry: this.gateways,
      ledger: this.ledger,
      events: this.events,
      clock,
      // A gateway applying a pushed configuration restarts: no nuisance offline alarm for that.
      expectedRestart: (gatewayId) => this.fleet.applyExpected(gatewayId),
    });
    if (options.afterCommit) ingestOptions.afterCommit = options.afterCommit;
    this.audit = createAuditLog(config.audit, path, clock, this.database, nodeId);
    Object.assign(ingestOptions, ingestSecurityOptions(config.plausibility, this.audit, clock));
    this.ingest = new Ingest(ingestOptions);
    this.fleet = new FleetService({
      database: this.database,
      clock,
      publish: (topic, payload, { retain }) =>
        this.transport.publish(topic, payload, { qos: 1, retain }),
      disconnect: (username) => this.transport.disconnectIdentity(username),
      audit: (record) => this.audit.record(record),
      staticUsers: config.mqtt.auth.users.map((u) => u.username),
      mqttUrl: (hostname) =>
        config.mqtt.url ??
        `${config.mqtt.tls ? 'mqtts' : 'mqtt'}://${hostname.includes(':') ? `[${hostname}]` : hostname}:${this.mqttPort}`,
    });
    const onPublish = async (message: InboundMessage) => {
      if (this.fleet.handleMqtt(message.topic, message.payload)) return;
      if (this.platform.handleMqtt(message.topic, message.payload)) return;
      await this.ingest.handle(message);
    };
    if (mqttMode(config.mqtt) === 'external') {
      this.embeddedBroker = null;
      this.transport = externalBroker(config, onPublish);
    } else {
      this.embeddedBroker = new MqttBroker({
        host: config.mqtt.host,
        port: config.mqtt.port,
        ...brokerSecurityOptions(config.mqtt, this.audit, this.fleet.directory),
        onPublish,
      });
      this.transport = this.embeddedBroker;
    }
    this.commands = new OperatorCommandRelay({
      events: this.events,
      ledger: this.ledger,
      publish: (topic, payload) => this.transport.publish(topic, payload, { qos: 1 }),
    });
    // One chain key for the disposal and the hazard ledgers (docs/ledger.md).
    const ledgerKey = loadLedgerKey({ keyFile: config.ledger.keyFile, storePath: path }).key;
    this.ledgerKey = ledgerKey;
    const minLevels = config.emergencyCentres.map((c) => c.minLevel);
    this.platform = new Platform({
      config: config.platform,
      enterprises: config.enterprises,
      path,
      database: this.database,
      nodeId,
      clock,
      events: this.events,
      ledger: this.ledger,
      gateways: this.gateways,
      store: this.store,
      publish: (topic, payload) => this.transport.publish(topic, payload, { qos: 1 }),
      // Ledger anchors: retained, so a witness that subscribes late still gets the newest.
      publishRetained: (topic, payload) =>
        this.transport.publish(topic, payload, { qos: 1, retain: true }),
      ledgerIntegrity: config.ledger,
      ledgerKey,
      mqttMinLevel: minLevels.length > 0 ? (Math.min(...minLevels) as 1 | 2) : 2,
      ownJobs: false,
    });
    this.supervision = new SupervisionService({
      config: config.platform.supervision ?? defaultSupervisionConfig(),
      path,
      database: this.database,
      key: ledgerKey,
      clock,
      events: this.events,
      registry: this.platform.registry,
      gateways: this.gateways,
      disposal: this.platform.disposal,
      ownJobs: false,
    });
    this.leaderJobs = new LeaderJobs({
      database: this.database,
      nodeId,
      jobs: [
        { name: 'presence', start: () => this.presence.start(), stop: () => this.presence.stop() },
        ...this.platform.jobs(),
        ...this.supervision.jobs(),
      ],
      onLeadership: (leader) => {
        log.info({ node: nodeId, leader }, leader ? 'elected leader' : 'no longer leader');
        options.onLeadership?.(leader);
      },
    });
    this.relay = new EventRelay({
      database: this.database,
      nodeId,
      events: this.events,
    });
    this.services = this.serviceList();
  }

  /** The embedded aedes broker; throws in external mode, where the node runs none. */
  get broker(): MqttBroker {
    if (!this.embeddedBroker) {
      throw new Error(
        "server.broker: this node uses an external broker (mqtt.mode 'external'); see server.transport",
      );
    }
    return this.embeddedBroker;
  }

  /** The HTTP port actually listened on (0 before start). */
  get httpPort(): number {
    return this.actualHttpPort;
  }

  /** The MQTT port actually listened on (0 before start, and in external mode). */
  get mqttPort(): number {
    return this.transport.port;
  }

  async start(): Promise<void> {
    this.startedAt = this.clock.now();
    try {
      for (const service of this.services) await service.start();
    } catch (err) {
      await this.stop();
      throw err;
    }
    log.info(
      {
        http: this.actualHttpPort,
        mqtt: this.config.mqtt.url ?? this.mqttPort,
        store: this.config.store.path,
        node: this.config.node?.id,
      },
      'HazardWatch server started',
    );
  }

  async stop(): Promise<void> {
    // Reverse start order; one failing step does not keep the rest open.
    for (const service of [...this.services].reverse()) {
      try {
        await service.stop();
      } catch (err) {
        log.error({ err, component: service.name }, 'error while stopping');
      }
    }
    this.actualHttpPort = 0;
  }

  /** The services in start order (the class doc says why this order). */
  private serviceList(): ServerService[] {
    const noop = () => {};
    const transport = this.transport;
    return [
      // First: every store below reads and writes through it.
      {
        name: 'database',
        start: async () => {
          // A file of an earlier release first gets the upgrade its stores used to run.
          const db = this.database.config;
          if (db.kind === 'sqlite') upgradeEmbeddedFile(db.path, this.ledgerKey);
          await this.database.start();
        },
        stop: () => this.database.stop(),
      },
      // Before anything emits: SSE clients of every node see what this node commits.
      { name: 'event relay', start: () => this.relay.start(), stop: () => this.relay.stop() },
      // Before ingest: every sighting is shared (cluster mode; off on SQLite).
      {
        name: 'presence share',
        start: () => this.presenceShare.start(),
        stop: () => this.presenceShare.stop(),
      },
      { name: 'audit', start: () => this.audit.start(), stop: () => this.audit.stop() },
      { name: 'store', start: () => this.store.start(), stop: () => this.store.stop() },
      { name: 'ledger', start: () => this.ledger.start(), stop: () => this.ledger.stop() },
      {
        name: 'notifier',
        start: async () => {
          await this.notifier.start();
          // Pages every committed raise (the first committed-alarm listener, so its page
          // leaves before the platform's bookkeeping); follow-ups tell the centre that an
          // alarm it was paged for cleared or was closed.
          this.unfollowNotifier = this.notifier.follow(this.events);
        },
        stop: async () => {
          this.unfollowNotifier?.();
          this.unfollowNotifier = undefined;
          await this.notifier.stop();
        },
      },
      // Ready on construction; its stop drops what is pending once MQTT is gone.
      { name: 'acks', start: noop, stop: () => this.acks.stop() },
      // Before the broker: it asks the fleet's directory for enrolled gateways on CONNECT.
      { name: 'fleet', start: () => this.fleet.start(), stop: () => this.fleet.stop() },
      { name: 'platform', start: () => this.platform.start(), stop: () => this.platform.stop() },
      {
        name: 'supervision',
        start: () => this.supervision.start(),
        stop: () => this.supervision.stop(),
      },
      // Ready on construction; its stop waits for the messages being handled.
      { name: 'ingest', start: noop, stop: () => this.ingest.stop() },
      transport instanceof ExternalBroker
        ? {
            name: 'external broker',
            start: () => transport.start(),
            // A clean stop acknowledges what was committed before it leaves the broker.
            stop: () => transport.stop({ beforeDisconnect: () => this.acks.flush() }),
          }
        : { name: 'broker', start: () => transport.start(), stop: () => transport.stop() },
      // After MQTT (a job that publishes finds it up); stopped before it.
      this.leaderJobs,
      {
        // The witness gets the last head while MQTT still runs; only from the leader, which
        // anchors (another node's anchor would fork the witness's chain of anchors).
        name: 'ledger anchor',
        start: noop,
        stop: async () => {
          if (!this.leaderJobs.isLeader) return;
          await this.platform.integrity.anchorNow();
          await this.platform.integrity.published();
        },
      },
      { name: 'commands', start: () => this.commands.start(), stop: () => this.commands.stop() },
      {
        name: 'http',
        start: () => this.startHttp(),
        stop: async () => {
          const app = this.app;
          this.app = null;
          await app?.close();
        },
      },
    ];
  }

  private async startHttp(): Promise<void> {
    const { mqtt } = this.config;
    this.app = buildApp({
      store: this.store,
      ledger: this.ledger,
      gateways: this.gateways,
      notifier: this.notifier,
      ingest: this.ingest,
      // The live streams: this node's events and every other node's (the relay's own hub).
      events: this.relay.live,
      clock: this.clock,
      startedAt: this.startedAt,
      dashboard: this.options.dashboard ?? true,
      platform: this.platform,
      supervision: this.supervision,
      fleet: this.fleet,
      // EMQX asks these routes at CONNECT, publish and subscribe (docs/cluster.md).
      ...(mqttMode(mqtt) === 'external' && mqtt.authHookSecret
        ? {
            brokerAuth: {
              access: brokerHookAccess(
                mqtt.auth,
                {
                  shareGroup: mqtt.shareGroup ?? EXTERNAL_BROKER_DEFAULTS.shareGroup,
                  emergencyTopic: this.config.platform.emergencyTopic,
                  anchorTopic: this.config.ledger.anchorTopic,
                },
                this.fleet.directory,
              ),
              secret: mqtt.authHookSecret,
              onRefusal: (e) => this.audit.record({ category: 'broker', ...e }),
            },
          }
        : {}),
    });
    await this.listen(this.app);
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

/**
 * The platform database of a config: its `database` section, or the embedded SQLite file the
 * stores have always shared (store.path), which server/db adopts as it is (tests/db/adoption).
 */
export function platformDatabaseConfig(config: ServerConfig): DatabaseConfig {
  return config.database ?? { kind: 'sqlite', path: config.store.path };
}

/**
 * This node's id (delivery claims, leader election, the relay, the presence share): node.id; without one, in the
 * embedded default (one process per SQLite file) a fixed id, so a restarted server takes back
 * its own unfinished claims at once instead of after their lease; on a shared PostgreSQL one
 * made up per process, since two nodes under one id would each think the other's claims theirs.
 */
function nodeIdOf(config: ServerConfig): string {
  if (config.node?.id) return config.node.id;
  if (platformDatabaseConfig(config).kind === 'sqlite') return 'embedded';
  return `${hostname()}-${randomUUID().slice(0, 8)}`;
}

/** The external-broker transport of a config in mqtt.mode external (checked by the config). */
function externalBroker(
  config: ServerConfig,
  onPublish: (message: InboundMessage) => Promise<void>,
): ExternalBroker {
  const { mqtt } = config;
  return new ExternalBroker({
    url: mqtt.url!,
    username: mqtt.username!,
    password: mqtt.password!,
    nodeId: config.node!.id!,
    onPublish,
    // Emergency centres' receipts reach the platform through the same group.
    extraTopics: [`${config.platform.emergencyTopic}${MQTT_LINKAGE_DEFAULTS.receiptsSuffix}`],
    ...(mqtt.shareGroup ? { shareGroup: mqtt.shareGroup } : {}),
    ...(mqtt.sessionExpirySeconds !== undefined
      ? { sessionExpirySeconds: mqtt.sessionExpirySeconds }
      : {}),
    ...(mqtt.maxInFlight !== undefined ? { maxInFlight: mqtt.maxInFlight } : {}),
    ...(mqtt.brokerTls ? { tls: mqtt.brokerTls } : {}),
  });
}
