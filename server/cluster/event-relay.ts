/**
 * Event relay: live streams (SSE, server/api/stream.ts) on every node show what any node
 * committed. Each node publishes the hub events its SSE clients see to the notification bus
 * (server/db/notification-bus.ts: PostgreSQL LISTEN/NOTIFY) and feeds what other nodes publish
 * to its own SSE clients.
 *
 * Wiring (server/central-server.ts, left to the lead):
 *
 *   this.relay = new EventRelay({
 *     database: this.database, nodeId: config.node?.id ?? os.hostname(), events: this.events,
 *   });
 *   // serviceList(): after 'database' and before the first service that emits ('ingest'):
 *   { name: 'event relay', start: () => this.relay.start(), stop: () => this.relay.stop() },
 *   // startHttp(): the stream reads the relay's hub, not the ingest hub:
 *   buildApp({ ..., events: this.relay.live, ... })   // AppDeps.events feeds only the stream
 *
 * Why a hub of its own (`live`) rather than re-emitting into the server's hub: that hub also
 * drives side effects (the notifier's follow-ups to emergency centres, operator commands to
 * gateways, escalation and grading in the platform and supervision, presence alarms). An alarm
 * re-emitted there on node B would page, command and grade a second time what node A already
 * did. `live` carries exactly what SSE clients see: every local event (forwarded synchronously,
 * same payload object) and every remote one; nothing else listens to it.
 *
 * Embedded (SQLite): one process is the whole cluster, so nothing is published: `live` is the
 * local events alone (no serialisation cost on the ingest path).
 *
 * Rules:
 * - relayed: readings, alarm, gateway, disposal, escalation, hazard, gradeChanged (what
 *   stream.ts writes). Not relayed: edgeAcknowledged and ledgerAnchor, which are commands to
 *   this node's side effects, not things a client sees;
 * - no echo: every message carries its origin node id (the bus's `node`); a node drops its own;
 * - size: PostgreSQL refuses a NOTIFY payload of 8000 bytes or more. An event whose message
 *   fits is sent as JSON. A larger one (a readings batch, a gateway with a big sensor
 *   catalogue) is deflated and sent as consecutive fragments of `fragmentChars` base64 each,
 *   which the receiver reassembles (one publisher's messages arrive in order, and this node
 *   publishes one at a time). One that would need more than `maxFragments` is not sent: a
 *   `resync` reference scoped to its enterprise goes instead, and those clients reload from
 *   the store, the source of truth;
 * - gaps: when the bus reports one (its listening connection came back: messages may have been
 *   missed), when a fragment run breaks off, or when this node could not publish (database
 *   down, queue over `maxPending`; announced to the others with the next message it can send),
 *   `live` emits `resync`. stream.ts writes `event: resync` and ends the stream; the dashboard
 *   (app.js, platform.js) reloads its snapshot on every reconnect, so it resyncs unchanged.
 *
 * Lifecycle: `start()` subscribes to the local hub and, on PostgreSQL, opens the bus (LISTEN
 * in place when it resolves); `stop()` unsubscribes, waits for the publishes queued (bounded by
 * the pool's timeouts) and closes the bus; safe twice.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { createLogger } from '../../common/logger.js';
import type { Database } from '../db/database.js';
import {
  type BusMessage,
  NOTIFICATION_BUS_DEFAULTS,
  NotificationBus,
} from '../db/notification-bus.js';
import { EventHub, type ServerEventName, type ServerEvents } from '../events.js';

const log = createLogger('server.relay');

export const EVENT_RELAY_DEFAULTS = {
  /** Its own channel: the readings firehose does not wake the other bus users. */
  channel: 'hazardwatch_live',
  topic: 'live',
  // base64 characters per fragment: with the envelope (topic, node id of ≤ 64, event name,
  // fragment numbers; ~200 bytes) well under the bus's 7,900 bytes.
  fragmentChars: 7_000,
  maxFragments: 16, // ~84 KiB deflated (several hundred KiB of JSON); beyond: a resync reference
  maxPending: 10_000, // messages queued for the bus while it is slow; beyond: dropped, resync
  reconnectMs: 1_000,
} as const;

/** The hub events SSE clients see (server/api/stream.ts), hence the ones relayed. */
export const RELAYED_EVENTS = [
  'readings',
  'alarm',
  'gateway',
  'disposal',
  'escalation',
  'hazard',
  'gradeChanged',
] as const satisfies readonly ServerEventName[];
export type RelayedEvent = (typeof RELAYED_EVENTS)[number];

/**
 * Shown to this node's clients but not sent over the bus: gateway presence reaches every node's
 * hub through the presence share (server/cluster/presence-share.ts merges other nodes' sightings
 * and emits each change there), so relaying it too would show each change once per node.
 */
const SHARED_ELSEWHERE: ReadonlySet<RelayedEvent> = new Set(['gateway']);

/** The enterprise an event belongs to (for the scope of a resync reference). */
export function enterpriseOf<K extends RelayedEvent>(event: K, payload: ServerEvents[K]): string {
  switch (event) {
    case 'escalation':
      return (payload as ServerEvents['escalation']).event.enterpriseId;
    case 'hazard':
      return (payload as ServerEvents['hazard']).hazard.enterpriseId;
    default:
      return (payload as { enterpriseId: string }).enterpriseId;
  }
}

/** What travels in a bus message's payload. */
type Wire =
  | { e: RelayedEvent; d: unknown }
  | { e: RelayedEvent; f: { id: number; i: number; n: number; z: string } }
  | { r: ServerEvents['resync'] };

export interface EventRelayOptions {
  database: Database;
  nodeId: string;
  /** The server's hub (ingest, platform, supervision emit into it). */
  events: EventHub;
  channel?: string;
  reconnectMs?: number;
  fragmentChars?: number;
  maxFragments?: number;
  maxPending?: number;
}

export interface EventRelayCounts {
  published: number;
  received: number;
  /** Events not sent (publish failed, queue full, too big): each announced as a resync. */
  lost: number;
  resyncs: number;
}

interface FragmentRun {
  event: RelayedEvent;
  id: number;
  n: number;
  parts: string[];
}

export class EventRelay {
  /** What SSE clients read: local events and other nodes' events. */
  readonly live = new EventHub();
  private bus: NotificationBus | null = null;
  private unsubscribe: (() => void)[] = [];
  private queue: Promise<void> = Promise.resolve();
  private pending = 0;
  /** Events this node failed to send since its last successful publish. */
  private unsent = 0;
  private nextId = 1;
  private readonly partial = new Map<string, FragmentRun>();
  private readonly counts: EventRelayCounts = { published: 0, received: 0, lost: 0, resyncs: 0 };
  private readonly fragmentChars: number;
  private readonly maxFragments: number;
  private readonly maxPending: number;

  constructor(private readonly options: EventRelayOptions) {
    this.fragmentChars = options.fragmentChars ?? EVENT_RELAY_DEFAULTS.fragmentChars;
    this.maxFragments = options.maxFragments ?? EVENT_RELAY_DEFAULTS.maxFragments;
    this.maxPending = options.maxPending ?? EVENT_RELAY_DEFAULTS.maxPending;
  }

  stats(): EventRelayCounts {
    return { ...this.counts };
  }

  async start(): Promise<void> {
    if (this.unsubscribe.length > 0) return;
    if (this.options.database.kind === 'postgres') {
      const bus = new NotificationBus(this.options.database, {
        nodeId: this.options.nodeId,
        channel: this.options.channel ?? EVENT_RELAY_DEFAULTS.channel,
        reconnectMs: this.options.reconnectMs ?? EVENT_RELAY_DEFAULTS.reconnectMs,
        onGap: () => this.resync({ reason: 'live feed interrupted', enterpriseId: null }),
      });
      await bus.start();
      bus.subscribe((message) => this.receive(message));
      this.bus = bus;
    }
    for (const event of RELAYED_EVENTS) {
      this.unsubscribe.push(
        this.options.events.on(event, (payload) => {
          this.live.emit(event, payload);
          if (this.bus && !SHARED_ELSEWHERE.has(event)) this.send(event, payload);
        }),
      );
    }
  }

  async stop(): Promise<void> {
    for (const off of this.unsubscribe.splice(0)) off();
    await this.queue;
    await this.bus?.stop();
    this.bus = null;
    this.partial.clear();
  }

  /** Tells this node's SSE clients (in scope) to reload. */
  private resync(notice: ServerEvents['resync']): void {
    this.counts.resyncs++;
    log.warn({ node: this.options.nodeId, ...notice }, 'live streams told to resync');
    this.live.emit('resync', notice);
  }

  private send<K extends RelayedEvent>(event: K, payload: ServerEvents[K]): void {
    const messages = this.encode(event, payload);
    if (this.pending + messages.length > this.maxPending) {
      this.lose(1, 'publish queue full');
      return;
    }
    this.pending += messages.length;
    const bus = this.bus!;
    this.queue = this.queue.then(async () => {
      try {
        if (this.unsent > 0) {
          const unsent = this.unsent;
          await bus.publish(EVENT_RELAY_DEFAULTS.topic, {
            r: {
              reason: `node '${this.options.nodeId}' lost ${unsent} live events`,
              enterpriseId: null,
            },
          } satisfies Wire);
          this.unsent -= unsent;
        }
        for (const message of messages) await bus.publish(EVENT_RELAY_DEFAULTS.topic, message);
        this.counts.published++;
      } catch (err) {
        log.warn({ err, event, node: this.options.nodeId }, 'live event not relayed');
        this.lose(1, 'publish failed');
      } finally {
        this.pending -= messages.length;
      }
    });
  }

  private lose(count: number, why: string): void {
    this.counts.lost += count;
    if (this.unsent === 0) log.warn({ node: this.options.nodeId, why }, 'live events not relayed');
    this.unsent += count;
  }

  /** One message when it fits, else deflated fragments, else a resync reference. */
  private encode<K extends RelayedEvent>(event: K, payload: ServerEvents[K]): Wire[] {
    const whole: Wire = { e: event, d: payload };
    const text = JSON.stringify({
      topic: EVENT_RELAY_DEFAULTS.topic,
      payload: whole,
      node: this.options.nodeId,
    });
    if (Buffer.byteLength(text) <= NOTIFICATION_BUS_DEFAULTS.maxPayloadBytes) return [whole];
    const z = deflateRawSync(JSON.stringify(payload)).toString('base64');
    const n = Math.ceil(z.length / this.fragmentChars);
    const enterpriseId = enterpriseOf(event, payload);
    if (n > this.maxFragments) {
      log.warn(
        { event, enterpriseId, deflatedBytes: z.length, maxFragments: this.maxFragments },
        'live event too big to relay: other nodes are told to resync',
      );
      this.counts.lost++;
      return [{ r: { reason: `a '${event}' event too big to relay`, enterpriseId } }];
    }
    const id = this.nextId++;
    const out: Wire[] = [];
    for (let i = 0; i < n; i++) {
      const chunk = z.slice(i * this.fragmentChars, (i + 1) * this.fragmentChars);
      out.push({ e: event, f: { id, i, n, z: chunk } });
    }
    return out;
  }

  private receive(message: BusMessage): void {
    if (message.node === this.options.nodeId || message.topic !== EVENT_RELAY_DEFAULTS.topic) {
      return;
    }
    const wire = message.payload as Wire;
    const partial = this.partial.get(message.node);
    const continues = partial && 'f' in wire && wire.f.id === partial.id;
    if (partial && !continues) {
      // Fragments of one event are published back to back: anything else means some were lost.
      this.partial.delete(message.node);
      this.resync({
        reason: `a fragmented '${partial.event}' event was cut off`,
        enterpriseId: null,
      });
    }
    try {
      if ('r' in wire) {
        this.resync(wire.r);
      } else if ('d' in wire) {
        this.emitRemote(wire.e, wire.d);
      } else if ('f' in wire) {
        this.fragment(message.node, wire);
      }
    } catch (err) {
      log.warn(
        { err, node: message.node },
        'relayed live event unreadable: clients told to resync',
      );
      this.resync({ reason: 'unreadable relayed event', enterpriseId: null });
    }
  }

  private fragment(
    node: string,
    wire: { e: RelayedEvent; f: { id: number; i: number; n: number; z: string } },
  ): void {
    const { id, i, n, z } = wire.f;
    let partial = this.partial.get(node);
    if (!partial) {
      if (i !== 0) {
        this.resync({ reason: `a fragmented '${wire.e}' event was cut off`, enterpriseId: null });
        return;
      }
      partial = { event: wire.e, id, n, parts: [] };
      this.partial.set(node, partial);
    }
    if (i !== partial.parts.length) {
      this.partial.delete(node);
      this.resync({ reason: `a fragmented '${wire.e}' event was cut off`, enterpriseId: null });
      return;
    }
    partial.parts.push(z);
    if (partial.parts.length < partial.n) return;
    this.partial.delete(node);
    const json = inflateRawSync(Buffer.from(partial.parts.join(''), 'base64')).toString('utf8');
    this.emitRemote(partial.event, JSON.parse(json));
  }

  private emitRemote(event: RelayedEvent, payload: unknown): void {
    if (!(RELAYED_EVENTS as readonly string[]).includes(event) || payload === null) {
      throw new Error(`not a relayed event: '${String(event)}'`);
    }
    this.counts.received++;
    this.live.emit(event, payload as ServerEvents[typeof event]);
  }
}
