/**
 * Ingest: every PUBLISH on the protocol topics goes
 *   parse topic → decode + validate (protocol schemas) → ids match the topic
 *   → store (awaited until committed) → after-commit hook → live events.
 *
 * The after-commit hook is where the application-level ack (`.../ack`) will be
 * sent: it runs only once the store or ledger has committed, for redeliveries
 * too (the gateway must hear "stored" again if the first ack was lost).
 *
 * Invalid payloads are rejected, counted by reason and logged once per
 * (gateway, reason) with a running count at 10, 100, 1000, ...; the server
 * keeps serving. Messages outside the namespace ($SYS, other applications),
 * on server channels (ack, command: our own publishes) and zero-length
 * retained payloads (a retained message being cleared, [MQTT-3.3.1-10]) are
 * ignored, not rejected.
 */
import type { Clock } from '../common/clock.js';
import { systemClock } from '../common/clock.js';
import { createLogger } from '../common/logger.js';
import {
  type AlarmEvent,
  type Decoded,
  decodeAlarmEvent,
  decodeGatewayStatus,
  decodeTelemetryBatch,
  type GatewayChannel,
  type GatewayStatus,
  type ParsedTopic,
  parseTopic,
  SERVER_CHANNELS,
  type TelemetryBatch,
  TOPIC_ROOT,
} from '../protocol/index.js';
import { AlarmConflictError, type AlarmLedger, type AlarmRecord } from './alarms/ledger.js';
import type { InboundMessage } from './broker.js';
import type { EventHub } from './events.js';
import type { GatewayRegistry } from './gateways.js';
import type { TelemetryStore } from './store/telemetry-store.js';

const log = createLogger('server.ingest');

export const INGEST_DEFAULTS = {
  maxTrackedRejectKeys: 10_000, // (gateway, reason) pairs remembered for log rate-limiting
} as const;

export const REJECT_REASONS = [
  'bad-topic', // under hazardwatch/ but not a valid topic (unknown channel, bad ids, other version)
  'not-json',
  'schema', // JSON that fails the protocol schema (wrong types, out-of-range numbers, ...)
  'id-mismatch', // payload gatewayId/enterpriseId differ from the topic
  'alarm-conflict', // alarmId already known from another gateway
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export interface IngestMetrics {
  /** Telemetry batches committed (redeliveries included). */
  batches: number;
  readings: number;
  alarmEvents: number;
  statusMessages: number;
  rejected: number;
  rejectedByReason: Record<RejectReason, number>;
  /** Valid messages the store or ledger failed to commit (server-side failures). */
  storeFailures: number;
  ignored: number;
}

/** What the after-commit hook learns: one gateway item now durably stored. */
export interface CommittedItem {
  channel: Extract<GatewayChannel, 'telemetry' | 'alarm'>;
  gatewayId: string;
  enterpriseId: string;
  seq: number;
}

export type AfterCommitHook = (item: CommittedItem) => void | Promise<void>;

export type IngestOutcome =
  | { result: 'stored'; channel: GatewayChannel }
  | { result: 'ignored'; why: string }
  | { result: 'rejected'; reason: RejectReason; detail: string }
  | { result: 'failed'; detail: string };

/** The part of the emergency notifier ingest needs. */
export interface AlarmNotifier {
  notify(alarm: AlarmRecord): number;
}

export interface IngestOptions {
  store: TelemetryStore;
  ledger: AlarmLedger;
  gateways: GatewayRegistry;
  events: EventHub;
  notifier?: AlarmNotifier;
  afterCommit?: AfterCommitHook;
  clock?: Clock;
}

/** Logs the first rejection per (gateway, reason), then only a count at each power of ten. */
class RejectionLog {
  private readonly counts = new Map<string, number>();

  note(source: string, reason: RejectReason, detail: string, topic: string): void {
    if (this.counts.size >= INGEST_DEFAULTS.maxTrackedRejectKeys) this.counts.clear();
    const key = `${source}\u0000${reason}`;
    const count = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, count);
    if (count === 1) {
      log.warn({ source, reason, topic, detail }, 'rejected MQTT message');
    } else if (Number.isInteger(Math.log10(count))) {
      log.warn({ source, reason, count, lastDetail: detail }, 'still rejecting MQTT messages');
    }
  }
}

function emptyReasons(): Record<RejectReason, number> {
  return Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>;
}

/**
 * Lifecycle: ready on construction (its stores are started by the owner);
 * `stop()` waits for messages being handled and makes `handle` ignore new ones.
 * `handle` never rejects: every failure becomes an outcome and a metric.
 */
export class Ingest {
  private readonly counters: IngestMetrics = {
    batches: 0,
    readings: 0,
    alarmEvents: 0,
    statusMessages: 0,
    rejected: 0,
    rejectedByReason: emptyReasons(),
    storeFailures: 0,
    ignored: 0,
  };
  private readonly rejections = new RejectionLog();
  private readonly inFlight = new Set<Promise<IngestOutcome>>();
  private stopped = false;
  private lastCommitAt: number | null = null;

  constructor(private readonly options: IngestOptions) {}

  metrics(): IngestMetrics {
    return { ...this.counters, rejectedByReason: { ...this.counters.rejectedByReason } };
  }

  /** Server time of the last telemetry commit, epoch ms; null if none since start. */
  get lastTelemetryCommitAt(): number | null {
    return this.lastCommitAt;
  }

  handle(message: InboundMessage): Promise<IngestOutcome> {
    if (this.stopped) return Promise.resolve(this.ignore('ingest stopped'));
    const work = this.process(message).catch((err: unknown): IngestOutcome => {
      // Defensive: process() handles its own failures; anything here is a bug.
      log.error({ err, topic: message.topic }, 'ingest failed unexpectedly');
      this.counters.storeFailures++;
      return { result: 'failed', detail: (err as Error).message };
    });
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
    return work;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.allSettled([...this.inFlight]);
  }

  private async process(message: InboundMessage): Promise<IngestOutcome> {
    const { topic } = message;
    if (!topic.startsWith(`${TOPIC_ROOT}/`)) return this.ignore('outside the namespace');
    if (message.retain && message.payload.length === 0)
      return this.ignore('retained message cleared');
    const parsed = parseTopic(topic);
    if (!parsed) {
      return this.reject(message.clientId ?? topic, 'bad-topic', `not a protocol topic`, topic);
    }
    if ((SERVER_CHANNELS as readonly string[]).includes(parsed.channel)) {
      return this.ignore('server channel');
    }
    switch (parsed.channel) {
      case 'telemetry':
        return this.telemetry(parsed, message);
      case 'alarm':
        return this.alarm(parsed, message);
      default:
        return this.status(parsed, message);
    }
  }

  private async telemetry(topic: ParsedTopic, message: InboundMessage): Promise<IngestOutcome> {
    const batch = this.decode(decodeTelemetryBatch, topic, message);
    if ('result' in batch) return batch;
    try {
      await this.options.store.writeBatch(batch);
    } catch (err) {
      return this.fail('telemetry', topic, err);
    }
    this.counters.batches++;
    this.counters.readings += batch.readings.length;
    this.lastCommitAt = (this.options.clock ?? systemClock).now();
    this.seen(batch.gatewayId, batch.enterpriseId);
    this.options.events.emit('readings', {
      gatewayId: batch.gatewayId,
      enterpriseId: batch.enterpriseId,
      readings: batch.readings,
    });
    await this.committed('telemetry', batch);
    return { result: 'stored', channel: 'telemetry' };
  }

  private async alarm(topic: ParsedTopic, message: InboundMessage): Promise<IngestOutcome> {
    const event = this.decode(decodeAlarmEvent, topic, message);
    if ('result' in event) return event;
    let alarm: AlarmRecord;
    let changed: boolean;
    try {
      ({ alarm, changed } = this.options.ledger.record(event));
    } catch (err) {
      if (err instanceof AlarmConflictError) {
        return this.reject(topic.gatewayId, 'alarm-conflict', err.message, message.topic);
      }
      return this.fail('alarm', topic, err);
    }
    this.counters.alarmEvents++;
    this.seen(event.gatewayId, event.enterpriseId);
    if (changed) this.options.events.emit('alarm', alarm);
    // Every raise of an active alarm asks the notifier: its deliveries are unique
    // per (alarm, centre), so a redelivered raise only fills in what a failure
    // left out and never pages twice.
    if (event.transition === 'raised' && alarm.state === 'active' && this.options.notifier) {
      try {
        this.options.notifier.notify(alarm);
      } catch (err) {
        // No after-commit (no ack): the gateway redelivers and the next raise retries.
        return this.fail('alarm', topic, err);
      }
    }
    await this.committed('alarm', event);
    return { result: 'stored', channel: 'alarm' };
  }

  private async status(topic: ParsedTopic, message: InboundMessage): Promise<IngestOutcome> {
    const status = this.decode(decodeGatewayStatus, topic, message);
    if ('result' in status) return status;
    this.counters.statusMessages++;
    const update = this.options.gateways.applyStatus(status);
    if (update.changed) this.options.events.emit('gateway', update.gateway);
    return { result: 'stored', channel: 'status' };
  }

  private decode<T extends TelemetryBatch | AlarmEvent | GatewayStatus>(
    decoder: (payload: Buffer) => Decoded<T>,
    topic: ParsedTopic,
    message: InboundMessage,
  ): T | IngestOutcome {
    const decoded = decoder(message.payload);
    if (!decoded.ok) {
      const reason: RejectReason = decoded.error.startsWith('not JSON') ? 'not-json' : 'schema';
      return this.reject(topic.gatewayId, reason, decoded.error, message.topic);
    }
    const { gatewayId, enterpriseId } = decoded.value;
    if (gatewayId !== topic.gatewayId || enterpriseId !== topic.enterpriseId) {
      return this.reject(
        topic.gatewayId,
        'id-mismatch',
        `payload says gateway '${gatewayId}' of enterprise '${enterpriseId}', topic says '${topic.gatewayId}' of '${topic.enterpriseId}'`,
        message.topic,
      );
    }
    return decoded.value;
  }

  private seen(gatewayId: string, enterpriseId: string): void {
    const update = this.options.gateways.markSeen(gatewayId, enterpriseId);
    if (update.changed) this.options.events.emit('gateway', update.gateway);
  }

  private async committed(
    channel: CommittedItem['channel'],
    item: { gatewayId: string; enterpriseId: string; seq: number },
  ): Promise<void> {
    const hook = this.options.afterCommit;
    if (!hook) return;
    try {
      await hook({
        channel,
        gatewayId: item.gatewayId,
        enterpriseId: item.enterpriseId,
        seq: item.seq,
      });
    } catch (err) {
      log.error(
        { err, channel, gatewayId: item.gatewayId, seq: item.seq },
        'after-commit hook failed',
      );
    }
  }

  private reject(
    source: string,
    reason: RejectReason,
    detail: string,
    topic: string,
  ): IngestOutcome {
    this.counters.rejected++;
    this.counters.rejectedByReason[reason]++;
    this.rejections.note(source, reason, detail, topic);
    return { result: 'rejected', reason, detail };
  }

  private fail(channel: string, topic: ParsedTopic, err: unknown): IngestOutcome {
    this.counters.storeFailures++;
    log.error({ err, channel, gatewayId: topic.gatewayId }, `cannot commit ${channel} message`);
    return { result: 'failed', detail: (err as Error).message };
  }

  private ignore(why: string): IngestOutcome {
    this.counters.ignored++;
    return { result: 'ignored', why };
  }
}
