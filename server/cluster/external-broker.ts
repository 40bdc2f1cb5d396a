/**
 * The external-broker transport (cluster mode, docs/cluster.md): instead of running aedes, the
 * server node connects to an MQTT 5 broker cluster (EMQX; Debian's mosquitto 2 in the tests) as
 * the nodes' service identity and consumes gateway traffic through shared subscriptions,
 * `$share/<group>/hazardwatch/v1/+/+/<channel>` [MQTT-4.8.2]: the broker gives each message to
 * one node of the group.
 *
 * What each message becomes is exactly what the embedded broker hands ingest (an
 * {@link InboundMessage}); StoreAcks, operator commands and every other server publication go
 * back through the broker at QoS 1. The publisher's identity: in this mode the broker
 * authenticates gateways and enforces the ACL (generated from the same users file,
 * server/auth/mosquitto-files.ts, or EMQX's hook), so a message on
 * `hazardwatch/v1/<enterprise>/<gateway>/…` can only have come from `<gateway>`; the node takes
 * the topic's gateway id as the publisher's client id.
 *
 * Delivery:
 * - The session survives the node (clean start off, Session Expiry `sessionExpirySeconds`), so
 *   QoS 1 messages the broker queued for this node while it restarts wait for it.
 * - A message is PUBACKed when ingest takes it, not when the store committed it (mqtt.js sends
 *   the PUBACK when its message handler calls back, and it reads nothing else meanwhile: waiting
 *   for the commit would serialise every gateway behind one store write). Durability is the
 *   StoreAck's job, as with aedes: a node killed between the PUBACK and the commit never sends
 *   the StoreAck, and the gateway resends from its outbox to whichever node the broker picks.
 * - Messages of one gateway are handed to ingest one after the other, in order (aedes does the
 *   same per connection); different gateways go in parallel. At `maxInFlight` messages in
 *   ingest the node stops reading from the broker until one finishes (TCP backpressure), and
 *   Receive Maximum tells an MQTT 5 broker not to send more unacknowledged ones [MQTT-3.1.2.11.3].
 * - `stop()` reads nothing more (what arrives is never PUBACKed, so the broker keeps it for the
 *   session), waits for the messages in ingest, then disconnects cleanly. A stop that is not
 *   clean (kill -9) leaves the broker's unacknowledged messages in the session and the
 *   gateways' unacknowledged items in their outboxes.
 *
 * Lifecycle: the constructor stores its options; `start()` reads the TLS files, connects and
 * subscribes, and resolves once the subscriptions are granted (it throws, naming the broker and
 * the reason, when the broker refuses the identity or a subscription); later connection losses
 * reconnect by themselves. `stop()` is safe twice and after a failed start.
 */
import { readFileSync } from 'node:fs';
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { createLogger } from '../../common/logger.js';
import { sendMqttWithoutDelay } from '../../common/mqtt-no-delay.js';
import {
  FLEET_GATEWAY_CHANNELS,
  GATEWAY_CHANNELS,
  parseTopic,
  TOPIC_ROOT,
} from '../../protocol/index.js';
import type { InboundMessage, PublishHandler } from '../broker.js';
import { EXTERNAL_BROKER_DEFAULTS, type ExternalBrokerTlsConfig } from './config.js';

const log = createLogger('server.cluster.broker');

/**
 * What the central server needs of a broker, embedded (server/broker.ts, MqttBroker) or
 * external: publish as the server, and drop an identity's sessions.
 */
export interface MqttTransport {
  start(): Promise<void>;
  stop(): Promise<void>;
  publish(
    topic: string,
    payload: string | Buffer,
    options?: { qos?: 0 | 1; retain?: boolean },
  ): Promise<void>;
  /** Closes the sessions of `username`; returns how many. */
  disconnectIdentity(username: string): number;
  /** The port listened on (embedded), 0 when the node listens on none (external). */
  readonly port: number;
}

export interface ExternalBrokerOptions {
  /** mqtt://host:1883 or mqtts://host:8883. */
  url: string;
  /** The service identity (the same on every node). */
  username: string;
  password: string;
  /** Makes the client id `<username>-<nodeId>`: one session per node. */
  nodeId: string;
  shareGroup?: string;
  /** Gateway channels consumed (default: telemetry, alarm, status and the fleet channels). */
  channels?: readonly string[];
  /** More topics consumed through the same shared group (e.g. emergency receipts). */
  extraTopics?: readonly string[];
  sessionExpirySeconds?: number;
  maxInFlight?: number;
  keepaliveSeconds?: number;
  reconnectPeriodMs?: number;
  connectTimeoutMs?: number;
  tls?: ExternalBrokerTlsConfig;
  onPublish: PublishHandler;
}

/**
 * Handed to mqtt.js's handleMessage callback for a message the node will not take (it is
 * stopping): mqtt.js then sends no PUBACK, so the broker keeps the message for this session,
 * and goes on reading the next packets (mqtt.js 5 handlers/publish.ts passes the error to its
 * packet pump, which ignores it), so the PUBACKs of the node's last StoreAcks still arrive.
 */
const NOT_TAKEN = new Error('the node is stopping: not taken, left to the broker session');

export interface ExternalBrokerMetrics {
  /** Messages handed to ingest since start. */
  received: number;
  /** Handed to ingest and not finished. */
  inFlight: number;
  /** Times reading paused at maxInFlight. */
  paused: number;
  reconnects: number;
  connected: boolean;
}

/** `$share/<group>/<topic>` [MQTT-4.8.2]. */
export function sharedFilter(group: string, topic: string): string {
  return `$share/${group}/${topic}`;
}

/** The filters a node subscribes to: every gateway's `channel` through the shared group. */
export function gatewayFilters(group: string, channels: readonly string[]): string[] {
  return channels.map((channel) => sharedFilter(group, `${TOPIC_ROOT}/v1/+/+/${channel}`));
}

export class ExternalBroker implements MqttTransport {
  private client: MqttClient | null = null;
  private stopping = false;
  private inFlight = 0;
  private readonly waitingForRoom: (() => void)[] = [];
  /** The last message of each gateway still in ingest: the next one waits for it. */
  private readonly tails = new Map<string, Promise<void>>();
  private readonly idle: (() => void)[] = [];
  private readonly counters = { received: 0, paused: 0, reconnects: 0 };
  private revocationWarned = false;

  constructor(private readonly options: ExternalBrokerOptions) {}

  get port(): number {
    return 0;
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  get clientId(): string {
    return `${this.options.username}-${this.options.nodeId}`;
  }

  /** The shared-subscription filters this node consumes. */
  get filters(): string[] {
    const group = this.options.shareGroup ?? EXTERNAL_BROKER_DEFAULTS.shareGroup;
    const channels = this.options.channels ?? [...GATEWAY_CHANNELS, ...FLEET_GATEWAY_CHANNELS];
    return [
      ...gatewayFilters(group, channels),
      ...(this.options.extraTopics ?? []).map((topic) => sharedFilter(group, topic)),
    ];
  }

  metrics(): ExternalBrokerMetrics {
    return { ...this.counters, inFlight: this.inFlight, connected: this.connected };
  }

  async start(): Promise<void> {
    if (this.client) return;
    this.stopping = false;
    const o = this.options;
    const clientOptions: IClientOptions = {
      protocolVersion: 5,
      clientId: this.clientId,
      username: o.username,
      password: o.password,
      // Keep the session (subscriptions, queued QoS 1 messages) across a restart of this node.
      clean: false,
      properties: {
        sessionExpiryInterval:
          o.sessionExpirySeconds ?? EXTERNAL_BROKER_DEFAULTS.sessionExpirySeconds,
        receiveMaximum: o.maxInFlight ?? EXTERNAL_BROKER_DEFAULTS.maxInFlight,
      },
      keepalive: o.keepaliveSeconds ?? EXTERNAL_BROKER_DEFAULTS.keepaliveSeconds,
      reconnectPeriod: o.reconnectPeriodMs ?? EXTERNAL_BROKER_DEFAULTS.reconnectPeriodMs,
      connectTimeout: o.connectTimeoutMs ?? EXTERNAL_BROKER_DEFAULTS.connectTimeoutMs,
      // The session is kept by the broker; mqtt.js resubscribes anyway (harmless, and needed
      // when the broker lost the session, e.g. it expired or the broker restarted without one).
      resubscribe: true,
      ...this.readTls(o.tls),
    };
    const client = mqtt.connect(o.url, { ...clientOptions, manualConnect: true });
    client.handleMessage = (packet, callback) => this.take(packet, callback);
    sendMqttWithoutDelay(client); // StoreAcks and PUBACKs must not wait for Nagle (issue 19)
    client.on('reconnect', () => {
      this.counters.reconnects++;
    });
    client.on('offline', () => log.warn({ url: o.url }, 'external broker connection lost'));
    client.on('connect', (connack) => {
      log.info(
        { url: o.url, clientId: this.clientId, sessionPresent: connack.sessionPresent },
        'connected to the external broker',
      );
    });
    client.on('error', (err) =>
      log.warn({ err: err.message, url: o.url }, 'external broker error'),
    );
    this.client = client;
    try {
      await this.connectAndSubscribe(client);
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  async publish(
    topic: string,
    payload: string | Buffer,
    options: { qos?: 0 | 1; retain?: boolean } = {},
  ): Promise<void> {
    const client = this.client;
    if (!client) throw new Error('external broker transport is not started');
    await client.publishAsync(topic, payload, {
      qos: options.qos ?? 1,
      retain: options.retain ?? false,
    });
  }

  /**
   * The broker holds the gateways' sessions in this mode, not the node: a revoked gateway is
   * dropped by the broker's own auth (regenerated files, or EMQX's hook refusing it).
   */
  disconnectIdentity(username: string): number {
    if (!this.revocationWarned) {
      this.revocationWarned = true;
      log.warn(
        { username },
        'cannot disconnect a gateway from an external broker: revoke it in the broker (docs/cluster.md)',
      );
    }
    return 0;
  }

  /**
   * `beforeDisconnect` runs once the messages in ingest are finished, while the connection is
   * still up (the server flushes its pending StoreAcks there).
   */
  async stop(options: { beforeDisconnect?: () => Promise<void> } = {}): Promise<void> {
    const client = this.client;
    if (!client) return;
    // Read nothing more: what arrives now stays unacknowledged in this node's session.
    this.stopping = true;
    for (const resume of this.waitingForRoom.splice(0)) resume();
    await this.drained();
    try {
      await options.beforeDisconnect?.();
    } catch (err) {
      log.warn({ err }, 'before-disconnect step failed');
    }
    this.client = null;
    // Sends DISCONNECT after the outgoing QoS 1 publishes (StoreAcks) are acknowledged; the
    // Session Expiry set on CONNECT stays, so the broker keeps the session for the restart.
    await Promise.race([
      client.endAsync(false),
      new Promise((resolve) => setTimeout(resolve, 5_000).unref()),
    ]);
    if (!client.disconnected) await client.endAsync(true);
    log.info(
      { url: this.options.url, clientId: this.clientId },
      'external broker transport stopped',
    );
  }

  /**
   * Called by mqtt.js for each incoming PUBLISH; mqtt.js sends the PUBACK, and reads the next
   * packet, only when `callback` runs.
   */
  private take(packet: IPublishPacket, callback: (err?: Error) => void): void {
    if (this.stopping) {
      callback(NOT_TAKEN);
      return;
    }
    const topic = packet.topic.toString();
    const payload = Buffer.isBuffer(packet.payload)
      ? packet.payload
      : Buffer.from(packet.payload as string);
    const gatewayId = parseTopic(topic)?.gatewayId ?? null;
    const message: InboundMessage = {
      topic,
      payload,
      qos: packet.qos,
      retain: packet.retain,
      // The broker's ACL allows `hazardwatch/v1/<ent>/<gw>/…` only to <gw> (see the module doc).
      clientId: gatewayId,
    };
    this.counters.received++;
    this.inFlight++;
    const key = gatewayId ?? topic;
    const previous = this.tails.get(key) ?? Promise.resolve();
    const run = previous.then(() => this.handle(message));
    this.tails.set(key, run);
    void run.finally(() => {
      if (this.tails.get(key) === run) this.tails.delete(key);
      this.inFlight--;
      const resume = this.waitingForRoom.shift();
      if (resume) resume();
      if (this.inFlight === 0) for (const done of this.idle.splice(0)) done();
    });
    const max = this.options.maxInFlight ?? EXTERNAL_BROKER_DEFAULTS.maxInFlight;
    if (this.inFlight < max) {
      callback();
      return;
    }
    this.counters.paused++;
    this.waitingForRoom.push(() => callback(this.stopping ? NOT_TAKEN : undefined));
  }

  private async handle(message: InboundMessage): Promise<void> {
    try {
      await this.options.onPublish(message);
    } catch (err) {
      log.error({ err, topic: message.topic }, 'publish handler failed');
    }
  }

  private drained(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private async connectAndSubscribe(client: MqttClient): Promise<void> {
    const { url } = this.options;
    // The first connection decides: a refusal (CONNACK reason code) or a broker that cannot
    // be reached fails start() by name; later losses reconnect by themselves.
    await new Promise<void>((resolve, reject) => {
      const settle = (err: Error | null) => {
        client.off('connect', ok);
        client.off('error', refused);
        client.off('close', unreachable);
        if (err) reject(err);
        else resolve();
      };
      const ok = () => settle(null);
      const refused = (err: Error & { code?: unknown }) =>
        settle(
          new Error(
            // A CONNACK refusal carries a numeric reason code; a socket error a string one.
            typeof err.code === 'number'
              ? `external broker ${url} refused the service identity '${this.options.username}': ${err.message}`
              : `external broker ${url} cannot be reached: ${err.message}`,
            { cause: err },
          ),
        );
      const unreachable = () =>
        settle(
          new Error(`external broker ${url} cannot be reached (connection closed before CONNACK)`),
        );
      client.once('connect', ok);
      client.once('error', refused);
      client.once('close', unreachable);
      client.connect();
    });
    try {
      // A refused filter (SUBACK reason code >= 0x80, [MQTT-3.9.3]) rejects the whole call.
      await client.subscribeAsync(this.filters, { qos: 1 });
    } catch (err) {
      throw new Error(
        `external broker ${url} refused the subscriptions of '${this.options.username}' (${this.filters.join(', ')}): ${(err as Error).message}`,
        { cause: err },
      );
    }
    log.info(
      { url, filters: this.filters.length },
      'consuming gateway traffic through shared subscriptions',
    );
  }

  private readTls(files: ExternalBrokerTlsConfig | undefined): Partial<IClientOptions> {
    if (!files) return {};
    const read = (what: string, path: string) => {
      try {
        return readFileSync(path);
      } catch (err) {
        throw new Error(
          `cannot read the external broker's TLS ${what} '${path}': ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      }
    };
    const tls: Partial<IClientOptions> = { rejectUnauthorized: true };
    if (files.caFile) tls.ca = read('CA', files.caFile);
    if (files.certFile) tls.cert = read('certificate', files.certFile);
    if (files.keyFile) tls.key = read('key', files.keyFile);
    return tls;
  }
}
