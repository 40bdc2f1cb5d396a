/**
 * The MQTT broker gateways connect to: aedes 1.x on a TCP or TLS listener.
 *
 * Every PUBLISH that reaches the broker (from clients, last wills, the
 * server's own publishes) is handed to `onPublish` through aedes's `published`
 * hook. aedes waits for the hook before it processes the client's next packet,
 * so ingest applies backpressure per connection. Note that aedes has already
 * sent the QoS 1 PUBACK by then: a PUBACK means "received", never "stored"
 * (the application-level ack on `.../ack` will mean stored).
 *
 * Security (server/auth/mqtt-access.ts decides, this module enforces):
 * - CONNECT: per-identity passwords (scrypt hashes) or client certificates
 *   (mutual TLS, CN = username); the client id must be the identity.
 *   Refusals answer CONNACK 2, 4 or 5 and close the connection [MQTT-3.2.2-5].
 *   Failed authentications back off per (username, address), username and
 *   address (server/auth/throttle.ts): while blocked, a CONNECT is refused at
 *   once with CONNACK 5, before any password check (issue 13 item 6).
 * - PUBLISH outside the identity's own topics closes the connection (MQTT
 *   3.1.1 has no negative PUBACK); SUBSCRIBE outside them is answered 0x80
 *   (failure) in the SUBACK [MQTT-3.9.3]. Clients never publish to `$` topics.
 * - Packets larger than `maxPacketBytes` close the connection as soon as the
 *   fixed header announces them, before the body is buffered.
 * - A client that stops reading is dropped after `drainTimeoutMs` (aedes
 *   drainTimeout), so it cannot hold up deliveries to the others.
 * Every refusal is counted and reported through `onSecurityEvent` (the audit log).
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { Aedes, type AedesPublishPacket, type Client, type Subscription } from 'aedes';
import type { Clock } from '../common/clock.js';
import { createLogger } from '../common/logger.js';
import { isAddressInUse, PortInUseError } from '../common/net.js';
import type { MqttAuthMode, MqttUser } from './auth/config.js';
import {
  ConnectRefused,
  loadUsersFile,
  MqttAccess,
  type MqttIdentity,
  type MqttUserDirectory,
} from './auth/mqtt-access.js';
import { type FailureThrottle, mqttAuthThrottle } from './auth/throttle.js';

const log = createLogger('server.broker');

export const MQTT_BROKER_DEFAULTS = {
  host: '127.0.0.1',
  port: 1883, // IANA MQTT port (8883 for MQTT over TLS)
  connectTimeoutMs: 10_000, // 10 s from TCP (or TLS) connect to CONNECT
  heartbeatIntervalMs: 60_000, // 60 s $SYS heartbeat (aedes default)
  maxPacketBytes: 2 * 1024 * 1024, // 2 MiB: a full 10,000-reading batch fits
  drainTimeoutMs: 10_000, // 10 s: a client that does not read is dropped
  maxConnections: 20_000, // concurrent sockets
  maxClientIdLength: 64, // protocol ids are at most 64 characters (ID_PATTERN)
  concurrency: 10_000, // messages aedes routes in parallel (aedes default 100; a queue costs O(n) shifts)
  maxSyncDispatchDepth: 64, // see guardDispatchRecursion
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

export const SECURITY_EVENT_KINDS = [
  'connect-refused',
  'connect-throttled',
  'publish-refused',
  'subscribe-refused',
  'packet-too-large',
  'tls-refused',
  'drain-timeout',
] as const;
export type SecurityEventKind = (typeof SECURITY_EVENT_KINDS)[number];

/** A refusal or a dropped client, for the audit log. */
export interface SecurityEvent {
  kind: SecurityEventKind;
  reason: string;
  clientId?: string;
  username?: string;
  remoteAddress?: string;
  topic?: string;
}

export interface MqttBrokerOptions {
  host?: string;
  /** 0 asks the OS for a free port; read `port` after start(). */
  port?: number;
  onPublish?: PublishHandler;
  /** Default: mode 'none' (anyone; keep such a broker on loopback). */
  auth?: {
    mode: MqttAuthMode;
    users?: readonly MqttUser[];
    usersFile?: string;
    /** Enrolled gateways, asked after the static users (server/fleet). */
    directory?: MqttUserDirectory;
  };
  /** PEM files; when set the listener speaks TLS only. */
  tls?: { certFile: string; keyFile: string; caFile?: string };
  maxPacketBytes?: number;
  drainTimeoutMs?: number;
  connectTimeoutMs?: number;
  maxConnections?: number;
  onSecurityEvent?: (event: SecurityEvent) => void;
  /** Time for the authentication backoff; default the system clock. */
  clock?: Clock;
  /** Authentication backoff; default {@link mqttAuthThrottle}. */
  authThrottle?: FailureThrottle;
}

interface MqttPacketParser {
  packet: { length: number };
  _parseLength(): boolean;
  _emitError(err: Error): void;
}

/**
 * Closes a connection whose next packet announces more than `max` bytes, as
 * soon as its Remaining Length is parsed. aedes has no packet size limit and
 * mqtt-packet's parser would buffer the whole body first, so this wraps the
 * parser's length state of this one client (mqtt-packet 9 internals:
 * `_parseLength` sets `packet.length`; `_emitError` makes aedes close the client).
 */
function limitPacketSize(client: Client, max: number, tooLarge: (bytes: number) => void): void {
  const parser = (client as unknown as { _parser?: MqttPacketParser })._parser;
  if (!parser || typeof parser._parseLength !== 'function') {
    throw new Error('aedes client has no mqtt-packet parser: cannot enforce maxPacketBytes');
  }
  const parseLength = parser._parseLength;
  parser._parseLength = function limitedParseLength(this: MqttPacketParser): boolean {
    const complete = parseLength.call(this);
    if (complete && this.packet.length > max) {
      tooLarge(this.packet.length);
      this._emitError(new Error(`packet of ${this.packet.length} bytes exceeds ${max}`));
      return false;
    }
    return complete;
  };
}

interface MqEmitterInternals {
  _do(message: unknown, callback: unknown): unknown;
}

/**
 * mqemitter (aedes's message router) dispatches the next queued message from
 * the completion callback of the previous one. Messages nobody subscribes to
 * (all gateway telemetry) complete synchronously, so under load a full queue
 * is drained by recursion, one stack frame group per message, until
 * "Maximum call stack size exceeded" kills the server (seen here with 3,000
 * gateways; mcollina/mqemitter#204, unmerged). This breaks the recursion:
 * beyond `maxDepth` nested dispatches the next one starts from a fresh stack.
 */
function guardDispatchRecursion(aedes: Aedes, maxDepth: number): void {
  const mq = (aedes as unknown as { mq?: MqEmitterInternals }).mq;
  if (!mq || typeof mq._do !== 'function') {
    throw new Error('aedes has no mqemitter: cannot guard against dispatch recursion');
  }
  const dispatch = mq._do;
  let depth = 0;
  mq._do = function guardedDo(this: MqEmitterInternals, message: unknown, callback: unknown) {
    if (depth >= maxDepth) {
      setImmediate(() => dispatch.call(this, message, callback));
      return this;
    }
    depth++;
    try {
      return dispatch.call(this, message, callback);
    } finally {
      depth--;
    }
  };
}

function certificateCn(socket: unknown): string | undefined {
  if (!(socket instanceof tls.TLSSocket) || !socket.authorized) return undefined;
  const cn = socket.getPeerCertificate()?.subject?.CN;
  return typeof cn === 'string' ? cn : undefined;
}

/**
 * Lifecycle: `start()` reads the TLS and users files, then resolves when the
 * listener accepts connections; it throws {@link PortInUseError} when the port
 * is taken. `stop()` disconnects every client at once (their last wills are
 * published and handed to `onPublish` before it resolves), closes the
 * listener; safe to call twice.
 */
export class MqttBroker {
  private aedes: Aedes | null = null;
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  private readonly identities = new WeakMap<Client, MqttIdentity | null>();
  private readonly counts = Object.fromEntries(SECURITY_EVENT_KINDS.map((k) => [k, 0])) as Record<
    SecurityEventKind,
    number
  >;
  private actualPort = 0;
  /** Backoff after failed authentications (per pair, username and address). */
  readonly throttle: FailureThrottle;

  constructor(private readonly options: MqttBrokerOptions = {}) {
    this.throttle = options.authThrottle ?? mqttAuthThrottle(options.clock);
  }

  /** The port the broker listens on (0 before start). */
  get port(): number {
    return this.actualPort;
  }

  get connectedClients(): number {
    return this.aedes?.connectedClients ?? 0;
  }

  /** Refusals and drops since start, by kind. */
  securityCounts(): Record<SecurityEventKind, number> {
    return { ...this.counts };
  }

  async start(): Promise<void> {
    if (this.server) return;
    const o = this.options;
    const mode = o.auth?.mode ?? 'none';
    const users = [...(o.auth?.users ?? [])];
    if (o.auth?.usersFile) users.push(...loadUsersFile(o.auth.usersFile, mode));
    const access = new MqttAccess({
      mode,
      users,
      ...(o.auth?.directory ? { directory: o.auth.directory } : {}),
    });
    const throttle = this.throttle;
    const tlsOptions = o.tls ? this.readTls(o.tls, mode) : null;
    const maxPacketBytes = o.maxPacketBytes ?? MQTT_BROKER_DEFAULTS.maxPacketBytes;
    const connectTimeoutMs = o.connectTimeoutMs ?? MQTT_BROKER_DEFAULTS.connectTimeoutMs;

    const onPublish = o.onPublish;
    const aedes = await Aedes.createBroker({
      connectTimeout: connectTimeoutMs,
      heartbeatInterval: MQTT_BROKER_DEFAULTS.heartbeatIntervalMs,
      drainTimeout: o.drainTimeoutMs ?? MQTT_BROKER_DEFAULTS.drainTimeoutMs,
      maxClientsIdLength: MQTT_BROKER_DEFAULTS.maxClientIdLength,
      concurrency: MQTT_BROKER_DEFAULTS.concurrency,
      authenticate: (client, username, password, callback) => {
        const cn = certificateCn(client.conn);
        const account = (username ?? cn ?? client.id ?? '').slice(0, 64);
        const address = remote(client).remoteAddress ?? 'unknown';
        if (mode !== 'none') {
          const verdict = throttle.check(account, address);
          if (verdict.waitMs > 0) {
            this.security({
              kind: 'connect-throttled',
              reason: `too many failed authentications (${verdict.by}); retry in ${Math.ceil(verdict.waitMs / 1000)} s`,
              clientId: client.id,
              ...(username ? { username: username.slice(0, 64) } : {}),
              ...remote(client),
            });
            const error = Object.assign(new Error('not authorized (backing off)'), {
              returnCode: 5,
            });
            return callback(error, false);
          }
        }
        access.authenticate(client.id, username, password, cn).then(
          (identity) => {
            if (mode !== 'none') throttle.success(account, address);
            this.identities.set(client, identity);
            callback(null, true);
          },
          (err: unknown) => {
            if (mode !== 'none') throttle.failure(account, address);
            const refused = err instanceof ConnectRefused ? err : null;
            this.security({
              kind: 'connect-refused',
              reason: refused?.reason ?? `authentication failed: ${(err as Error).message}`,
              clientId: client.id,
              ...(username ? { username: username.slice(0, 64) } : {}),
              ...remote(client),
            });
            const error = Object.assign(new Error(refused?.reason ?? 'not authorized'), {
              returnCode: refused?.returnCode ?? 5,
            });
            callback(error, false);
          },
        );
      },
      authorizePublish: (client, packet, callback) => {
        if (!client) return callback(null); // the server's own publishes
        const identity = this.identities.get(client) ?? null;
        const topic = packet.topic;
        if (topic.startsWith('$') || !access.mayPublish(identity, topic)) {
          this.security({
            kind: 'publish-refused',
            reason: topic.startsWith('$')
              ? '$ topics are reserved for the broker [MQTT-4.7.2-1]'
              : 'topic outside the identity',
            clientId: client.id,
            topic: topic.slice(0, 256),
            ...remote(client),
          });
          return callback(new Error(`publish to '${topic.slice(0, 256)}' not authorised`));
        }
        callback(null);
      },
      authorizeSubscribe: (client, sub: Subscription, callback) => {
        const identity = this.identities.get(client) ?? null;
        if (!access.maySubscribe(identity, sub.topic)) {
          this.security({
            kind: 'subscribe-refused',
            reason: 'filter outside the identity',
            clientId: client.id,
            topic: sub.topic.slice(0, 256),
            ...remote(client),
          });
          return callback(null, null); // SUBACK 0x80 for this filter
        }
        callback(null, sub);
      },
      published: (packet: AedesPublishPacket, client: Client | null, callback) => {
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
    guardDispatchRecursion(aedes, MQTT_BROKER_DEFAULTS.maxSyncDispatchDepth);
    aedes.on('clientError', (client, err) => {
      if (err.message === 'drain timeout') {
        this.security({
          kind: 'drain-timeout',
          reason: 'client stopped reading',
          clientId: client.id,
          ...remote(client),
        });
      }
      log.debug({ clientId: client.id, err: err.message }, 'mqtt client error');
    });
    aedes.on('connectionError', (_client, err) => {
      log.debug({ err: err.message }, 'mqtt connection error');
    });

    const handle = (socket: net.Socket) => {
      // Small packets (PUBACKs, StoreAcks) must not wait for Nagle + delayed ACK (~40 ms).
      socket.setNoDelay(true);
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      const client = aedes.handle(socket);
      limitPacketSize(client, maxPacketBytes, (bytes) =>
        this.security({
          kind: 'packet-too-large',
          reason: `packet of ${bytes} bytes exceeds ${maxPacketBytes}`,
          ...(client.id ? { clientId: client.id } : {}),
          ...remote(client),
        }),
      );
    };
    let server: net.Server;
    if (tlsOptions) {
      const tlsServer = tls.createServer(
        { ...tlsOptions, handshakeTimeout: connectTimeoutMs },
        handle,
      );
      tlsServer.on('tlsClientError', (err, socket) => {
        this.security({
          kind: 'tls-refused',
          reason: err.message.slice(0, 200),
          ...(socket.remoteAddress ? { remoteAddress: socket.remoteAddress } : {}),
        });
      });
      server = tlsServer;
    } else {
      server = net.createServer(handle);
    }
    server.maxConnections = o.maxConnections ?? MQTT_BROKER_DEFAULTS.maxConnections;
    const port = o.port ?? MQTT_BROKER_DEFAULTS.port;
    const host = o.host ?? MQTT_BROKER_DEFAULTS.host;
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
    log.info(
      { host, port: this.actualPort, tls: tlsOptions !== null, auth: mode, users: users.length },
      'MQTT broker listening',
    );
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

  /** Closes every open session of `username` (a revoked gateway); returns how many. */
  disconnectIdentity(username: string): number {
    // aedes keeps its connected clients by id (aedes.js `this.clients`); not in its typings.
    const byId = (this.aedes as unknown as { clients?: Record<string, Client> } | null)?.clients;
    const clients = Object.values(byId ?? {});
    const own = clients.filter((client) => this.identities.get(client)?.username === username);
    for (const client of own) client.close();
    return own.length;
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

  private readTls(
    files: NonNullable<MqttBrokerOptions['tls']>,
    mode: MqttAuthMode,
  ): tls.TlsOptions {
    const read = (what: string, path: string) => {
      try {
        return readFileSync(path);
      } catch (err) {
        throw new Error(`cannot read MQTT TLS ${what} '${path}': ${(err as Error).message}`, {
          cause: err,
        });
      }
    };
    const options: tls.TlsOptions = {
      cert: read('certificate', files.certFile),
      key: read('key', files.keyFile),
      minVersion: 'TLSv1.2',
    };
    if (files.caFile) options.ca = read('CA', files.caFile);
    if (mode === 'mtls') {
      if (!files.caFile) throw new Error("MQTT auth mode 'mtls' needs a CA file (mqtt.tls.caFile)");
      // The TLS layer verifies the chain; authenticate() then maps the CN to a user.
      options.requestCert = true;
      options.rejectUnauthorized = true;
    }
    return options;
  }

  private security(event: SecurityEvent): void {
    this.counts[event.kind]++;
    const count = this.counts[event.kind];
    if (count === 1 || Number.isInteger(Math.log10(count))) {
      log.warn({ ...event, count }, `MQTT ${event.kind}`);
    }
    try {
      this.options.onSecurityEvent?.(event);
    } catch (err) {
      log.error({ err }, 'security event handler failed');
    }
  }
}

function remote(client: Client): { remoteAddress?: string } {
  const address = (client.conn as net.Socket | undefined)?.remoteAddress;
  return address ? { remoteAddress: address } : {};
}
