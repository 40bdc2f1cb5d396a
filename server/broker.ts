/**
 * The MQTT broker gateways connect to: aedes 1.x on a plain TCP listener.
 *
 * Every PUBLISH that reaches the broker (from clients, last wills, the
 * server's own publishes) is handed to `onPublish` through aedes's `published`
 * hook. aedes waits for the hook before it processes the client's next packet,
 * so ingest applies backpressure per connection. Note that aedes has already
 * sent the QoS 1 PUBACK by then: a PUBACK means "received", never "stored"
 * (the application-level ack on `.../ack` will mean stored).
 */
import net from 'node:net';
import { Aedes, type Client } from 'aedes';
import { createLogger } from '../common/logger.js';
import { isAddressInUse, PortInUseError } from '../common/net.js';

const log = createLogger('server.broker');

export const MQTT_BROKER_DEFAULTS = {
  host: '127.0.0.1',
  port: 1883, // IANA MQTT port
  connectTimeoutMs: 30_000, // 30 s for CONNECT after the TCP connect (aedes default)
  heartbeatIntervalMs: 60_000, // 60 s $SYS heartbeat (aedes default)
} as const;

/** One PUBLISH as ingest sees it. */
export interface InboundMessage {
  topic: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
  retain: boolean;
  /** MQTT client id of the publisher; null for broker-originated messages (server publishes, $SYS). */
  clientId: string | null;
}

/** Must resolve (not reject) once the message is handled; rejections are logged and swallowed. */
export type PublishHandler = (message: InboundMessage) => Promise<void>;

export interface MqttBrokerOptions {
  host?: string;
  /** 0 asks the OS for a free port; read `port` after start(). */
  port?: number;
  onPublish?: PublishHandler;
}

/**
 * Lifecycle: `start()` resolves when the TCP listener accepts connections and
 * throws {@link PortInUseError} when the port is taken. `stop()` disconnects
 * every client at once (their last wills are published and handed to
 * `onPublish` before it resolves), closes the listener; safe to call twice.
 */
export class MqttBroker {
  private aedes: Aedes | null = null;
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  private actualPort = 0;

  constructor(private readonly options: MqttBrokerOptions = {}) {}

  /** The port the broker listens on (0 before start). */
  get port(): number {
    return this.actualPort;
  }

  get connectedClients(): number {
    return this.aedes?.connectedClients ?? 0;
  }

  async start(): Promise<void> {
    if (this.server) return;
    const onPublish = this.options.onPublish;
    const aedes = await Aedes.createBroker({
      connectTimeout: MQTT_BROKER_DEFAULTS.connectTimeoutMs,
      heartbeatInterval: MQTT_BROKER_DEFAULTS.heartbeatIntervalMs,
      published: (packet, client: Client | null, callback) => {
        if (!onPublish) return callback();
        const payload =
          typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
        onPublish({
          topic: packet.topic,
          payload: Buffer.isBuffer(payload) ? payload : Buffer.from(payload),
          qos: packet.qos,
          retain: packet.retain,
          clientId: client?.id ?? null,
        }).then(
          () => callback(),
          (err: unknown) => {
            log.error({ err, topic: packet.topic }, 'publish handler failed');
            callback();
          },
        );
      },
    });
    aedes.on('clientError', (client, err) => {
      log.debug({ clientId: client.id, err: err.message }, 'mqtt client error');
    });
    aedes.on('connectionError', (_client, err) => {
      log.debug({ err: err.message }, 'mqtt connection error');
    });

    const server = net.createServer((socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      aedes.handle(socket);
    });
    const port = this.options.port ?? MQTT_BROKER_DEFAULTS.port;
    const host = this.options.host ?? MQTT_BROKER_DEFAULTS.host;
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      if (isAddressInUse(err)) {
        throw new PortInUseError('MQTT broker', port, '--mqtt-port or HAZARDWATCH_MQTT_PORT', {
          cause: err,
        });
      }
      throw new Error(`MQTT broker cannot listen on ${host}:${port}`, { cause: err });
    }
    server.on('error', (err) => log.error({ err }, 'MQTT listener error'));
    const address = server.address();
    this.actualPort = typeof address === 'object' && address ? address.port : port;
    this.aedes = aedes;
    this.server = server;
    log.info({ host, port: this.actualPort }, 'MQTT broker listening');
  }

  /** Publishes as the server (e.g. acknowledgements to a gateway). */
  async publish(
    topic: string,
    payload: string | Buffer,
    options: { qos?: 0 | 1; retain?: boolean } = {},
  ): Promise<void> {
    const aedes = this.aedes;
    if (!aedes) throw new Error('MQTT broker is not started');
    await new Promise<void>((resolve, reject) => {
      aedes.publish(
        {
          cmd: 'publish',
          topic,
          payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
          qos: options.qos ?? 1,
          retain: options.retain ?? false,
          dup: false,
        },
        (err) => (err ? reject(err) : resolve()),
      );
    });
  }

  async stop(): Promise<void> {
    const server = this.server;
    const aedes = this.aedes;
    this.server = null;
    this.aedes = null;
    if (!server || !aedes) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // aedes closes the clients it knows (publishing their wills) ...
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    // ... and sockets that never sent CONNECT are ours to end.
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    await closed;
    log.info({ port: this.actualPort }, 'MQTT broker stopped');
  }
}
