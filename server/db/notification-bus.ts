/**
 * Notification bus: fans live events (alarm raised, disposal step, gateway presence) out to every
 * node, so a regulator's live stream (SSE) shows what any node ingested, whichever node serves it.
 *
 * PostgreSQL (cluster mode): `pg_notify(channel, json)` through the pool; each node LISTENs on
 * a dedicated connection. PostgreSQL delivers every notification to every listening session,
 * the publisher's included, in the order of the committing transactions, and only once the
 * publishing transaction commits (PostgreSQL docs, NOTIFY).
 * SQLite (embedded): one process, so the bus is in-process; every `NotificationBus` on the same
 * file in this process hears every message (a ':memory:' database has a bus of its own).
 *
 * Guarantees: a message published while a subscriber's node is connected reaches that
 * subscriber once, in publication order per publisher. It is a live feed, not a queue: messages
 * published while a node's listening connection is down are lost to that node, and `onGap` tells
 * it so when the connection is back (a stream then tells its clients to reload from the store,
 * which stays the source of truth). Payloads are JSON of at most `maxPayloadBytes`
 * (PostgreSQL's limit is 8000 bytes per notification); a larger one is refused by the
 * publisher with an error naming its size: publish ids, not documents.
 *
 * Lifecycle: `start()` opens the listening connection (PostgreSQL) and resolves once LISTEN is
 * in place, so nothing published after it is missed; `stop()` closes it and drops subscribers;
 * safe twice. A lost connection is re-opened every `reconnectMs` until `stop()`.
 */
import { EventEmitter } from 'node:events';
import { sql } from 'kysely';
import type pg from 'pg';
import { createLogger } from '../../common/logger.js';
import type { Database } from './database.js';

const log = createLogger('server.bus');

export const NOTIFICATION_BUS_DEFAULTS = {
  channel: 'hazardwatch_events',
  maxPayloadBytes: 7_900, // PostgreSQL: "must be shorter than 8000 bytes", less our envelope slack
  reconnectMs: 1_000, // 1 s between attempts to re-open a lost listening connection
} as const;

export interface BusMessage {
  topic: string;
  payload: unknown;
  /** The node that published it. */
  node: string;
}

export type BusListener = (message: BusMessage) => void;

export interface NotificationBusOptions {
  nodeId: string;
  /** A plain lower-case identifier. */
  channel?: string;
  reconnectMs?: number;
  /** Called when the listening connection is back after a loss: messages may have been missed. */
  onGap?: () => void;
}

/**
 * Embedded buses: every Database on one file in this process shares one emitter per channel; a
 * ':memory:' database is private, so its buses share one keyed by the Database object itself.
 */
const inProcessBuses = new Map<string | Database, EventEmitter>();

export class NotificationBus {
  private readonly listeners = new Set<BusListener>();
  private readonly channel: string;
  private client: pg.Client | null = null;
  private emitter: EventEmitter | null = null;
  private emitterKey: string | Database | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private running = false;
  private received = 0;

  constructor(
    private readonly database: Database,
    private readonly options: NotificationBusOptions,
  ) {
    this.channel = options.channel ?? NOTIFICATION_BUS_DEFAULTS.channel;
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(this.channel)) {
      throw new Error(
        `notification bus: channel '${this.channel}' must be a lower-case identifier (a-z, 0-9, _)`,
      );
    }
  }

  /** Messages delivered to this node since start. */
  get receivedCount(): number {
    return this.received;
  }

  async start(): Promise<void> {
    if (this.running) return;
    if (!this.database.started) {
      throw new Error(`notification bus of '${this.options.nodeId}': the database is not started`);
    }
    this.running = true;
    if (this.database.kind === 'postgres') {
      await this.listen();
      return;
    }
    const file = this.database.sqliteFile;
    const key = file ? `${file}\u0000${this.channel}` : this.database;
    let emitter = inProcessBuses.get(key);
    if (!emitter) {
      emitter = new EventEmitter();
      emitter.setMaxListeners(0);
      inProcessBuses.set(key, emitter);
    }
    this.emitter = emitter;
    this.emitterKey = key;
    emitter.on('message', this.deliverText);
  }

  /** Adds a subscriber; returns the function that removes it. */
  subscribe(listener: BusListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Sends `payload` under `topic` to every node (this one included). */
  async publish(topic: string, payload: unknown): Promise<void> {
    if (!this.running)
      throw new Error(`notification bus of '${this.options.nodeId}' is not started`);
    const message: BusMessage = { topic, payload, node: this.options.nodeId };
    const text = JSON.stringify(message);
    const bytes = Buffer.byteLength(text);
    if (bytes > NOTIFICATION_BUS_DEFAULTS.maxPayloadBytes) {
      throw new Error(
        `notification bus: message on topic '${topic}' is ${bytes} bytes, over ${NOTIFICATION_BUS_DEFAULTS.maxPayloadBytes}; publish an id and let subscribers read the store`,
      );
    }
    if (this.database.kind === 'postgres') {
      await sql`SELECT pg_notify(${this.channel}, ${text})`.execute(this.database.db);
      return;
    }
    const emitter = this.emitter!;
    // Asynchronous like PostgreSQL's delivery, so a publisher never re-enters its subscribers.
    setImmediate(() => emitter.emit('message', text));
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    if (this.emitter) {
      this.emitter.off('message', this.deliverText);
      if (this.emitterKey !== null && this.emitter.listenerCount('message') === 0) {
        inProcessBuses.delete(this.emitterKey);
      }
    }
    this.emitter = null;
    const client = this.client;
    this.client = null;
    if (client) {
      client.removeAllListeners();
      client.on('error', () => {});
      await client.end().catch(() => {});
    }
    this.listeners.clear();
  }

  private readonly deliverText = (text: string): void => {
    let message: BusMessage;
    try {
      message = JSON.parse(text) as BusMessage;
    } catch (err) {
      // Someone else NOTIFYing on our channel: counted in the log, never fatal.
      log.warn({ err, channel: this.channel }, 'notification that is not JSON, ignored');
      return;
    }
    this.received++;
    for (const listener of this.listeners) {
      try {
        listener(message);
      } catch (err) {
        log.error({ err, topic: message.topic }, 'bus subscriber threw');
      }
    }
  };

  private async listen(): Promise<void> {
    const client = await this.database.dedicatedClient({ purpose: 'notification-bus' });
    client.on('notification', (n) => {
      if (n.channel === this.channel && n.payload !== undefined) this.deliverText(n.payload);
    });
    client.on('error', (err) => this.lost(client, err.message));
    client.on('end', () => this.lost(client, 'connection ended'));
    await client.query(`LISTEN ${this.channel}`);
    if (!this.running) {
      await client.end().catch(() => {});
      return;
    }
    this.client = client;
  }

  private lost(client: pg.Client, reason: string): void {
    if (this.client !== client) return;
    this.client = null;
    client.removeAllListeners();
    client.on('error', () => {});
    void client.end().catch(() => {});
    log.warn({ channel: this.channel, node: this.options.nodeId, reason }, 'bus connection lost');
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (!this.running || this.reconnectTimer) return;
    const delay = this.options.reconnectMs ?? NOTIFICATION_BUS_DEFAULTS.reconnectMs;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.listen().then(
        () => {
          if (!this.running) return;
          log.info({ channel: this.channel, node: this.options.nodeId }, 'bus connection back');
          this.options.onGap?.();
        },
        () => this.scheduleReconnect(),
      );
    }, delay);
    this.reconnectTimer.unref();
  }
}
