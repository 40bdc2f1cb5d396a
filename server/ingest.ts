/**
 * Ingest: every PUBLISH on the protocol topics goes
 *   parse topic → decode + validate (protocol schemas) → ids match the topic
 *   → store (awaited until committed) → after-commit hook → live events.
 *
 * After the commit, the application-level ack (StoreAck on `.../ack`) goes to
 * the gateway through a {@link StoreAckPublisher} (acks coalesced over a few
 * ms), and the after-commit hook runs; both run for redeliveries too (the
 * gateway must hear "stored" again if the first ack was lost).
 *
 * Idempotent on (gateway, outbox epoch, seq) and content (issue 13): a
 * sequence number committed recently whose payload hashes the same is a
 * redelivery, acknowledged again without touching the store, the ledger, the
 * notifier or the live events (a bounded in-memory window per gateway and
 * epoch). The same number with different content is a reused number (an
 * outbox restored from a backup or cloned): it is stored, counted in
 * `reusedSeqs` and logged, never acknowledged unstored. Beyond the window (or
 * after a server restart) the store's (gateway, sensor, ts) key and the
 * ledger's identity keep a redelivery from being stored or paged twice.
 *
 * Rejected items whose sequence number can be read (from the envelope head,
 * protocol/envelope.ts, even when the payload does not parse: schema, not
 * JSON, id mismatch) are acknowledged in the StoreAck's
 * `rejected` list, so the gateway drops them (and counts them) instead of
 * resending them forever. An item the store failed to commit is not acknowledged: the gateway
 * sends it again after its ack timeout.
 *
 * Invalid payloads are rejected, counted by reason and logged once per
 * (gateway, reason) with a running count at 10, 100, 1000, ...; the server
 * keeps serving. Messages outside the namespace ($SYS, other applications),
 * on server channels (ack, command: our own publishes) and zero-length
 * retained payloads (a retained message being cleared, [MQTT-3.3.1-10]) are
 * ignored, not rejected.
 */
import { createHash } from 'node:crypto';
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
  readEnvelopeHead,
  SERVER_CHANNELS,
  type StoreAck,
  type TelemetryBatch,
  TOPIC_ROOT,
  topicFor,
} from '../protocol/index.js';
import type { AlarmLedger, AlarmRecord } from './alarms/ledger.js';
import type { InboundMessage } from './broker.js';
import type { EventHub } from './events.js';
import type { GatewayRegistry } from './gateways.js';
import { TelemetryLane } from './ingest-lane.js';
import { noteAnnunciation } from './linkage/emergency-notifier.js';
import type { TelemetryStore } from './store/telemetry-store.js';

const log = createLogger('server.ingest');

const TELEMETRY_SUFFIX = '/telemetry';

export const INGEST_DEFAULTS = {
  maxTrackedRejectKeys: 10_000, // (gateway, reason) pairs remembered for log rate-limiting
  dedupeWindow: 50_000, // committed seqs remembered per gateway and epoch (≈ 2 h of batches at 2/s plus alarms)
  maxTrackedReuseKeys: 10_000, // (gateway, epoch) pairs remembered for seq-reuse log rate-limiting
} as const;

export const STORE_ACK_DEFAULTS = {
  coalesceMs: 5, // 5 ms: acks of items committed close together leave in one StoreAck
  maxSeqsPerAck: 10_000, // a full StoreAck leaves at once
} as const;

export const REJECT_REASONS = [
  'bad-topic', // under hazardwatch/ but not a valid topic (unknown channel, bad ids, other version)
  'not-json',
  'schema', // JSON that fails the protocol schema (wrong types, out-of-range numbers, ...)
  'id-mismatch', // payload gatewayId/enterpriseId differ from the topic
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
  /** Redeliveries of a recently committed (gateway, epoch, seq), same content: acknowledged, not stored again. */
  duplicates: number;
  /**
   * Items whose (gateway, epoch, seq) was committed recently with different
   * content (a restored or cloned outbox reusing numbers): stored, flagged here and in the log.
   */
  reusedSeqs: number;
  /**
   * Items stored although a timestamp is implausible for the server clock (a
   * gateway clock set wrong): flagged here, in the log and the audit log, never
   * rejected, since a rejection makes the gateway delete the item (issue 13 review).
   */
  suspectTimestamps: number;
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

/**
 * Hops of one alarm event through ingest, for the latency breakdown of the e2e
 * benchmark (bench/e2e.bench.ts): 'received' when the broker handed it over
 * (stamped on entry, reported once the payload named the alarm), 'ledger-committed'
 * after the ledger's commit (the notifier's own events take it from there).
 * `at` is performance.now() in ms.
 */
export type IngestAlarmHop = 'received' | 'ledger-committed';
export type IngestAlarmObserver = (
  hop: IngestAlarmHop,
  event: Pick<AlarmEvent, 'alarmId' | 'gatewayId' | 'enterpriseId' | 'transition' | 'level'>,
  at: number,
) => void;

/** Where acknowledgements go (a {@link StoreAckPublisher} in the server). */
export interface AckSink {
  /** `epoch`: the outbox epoch the item came with, echoed in the StoreAck (absent: none). */
  stored(enterpriseId: string, gatewayId: string, seq: number, epoch?: string): void;
  rejected(enterpriseId: string, gatewayId: string, seq: number, epoch?: string): void;
}

export interface IngestOptions {
  acks?: AckSink;
  store: TelemetryStore;
  ledger: AlarmLedger;
  gateways: GatewayRegistry;
  events: EventHub;
  afterCommit?: AfterCommitHook;
  clock?: Clock;
  /** Telemetry work per event-loop turn before alarms get the loop (ingest-lane.ts; default 2 ms). */
  telemetryBudgetMs?: number;
  /**
   * Checks beyond the schema (server/auth/input-screen.ts): why an item's
   * timestamps are suspect, or null. A suspect item is still stored,
   * acknowledged and (alarms) paged: the verdict only flags it (counter, log,
   * `onSuspect`). Refusing it would make the gateway delete a real gas alarm
   * whose only fault is its clock.
   */
  screen?: (item: TelemetryBatch | AlarmEvent | GatewayStatus) => string | null;
  /** Told of every stored item the screen flagged (the audit log); must not throw. */
  onSuspect?: (flag: {
    source: string;
    channel: 'telemetry' | 'alarm' | 'status';
    seq: number | null;
    alarmId?: string;
    detail: string;
    topic: string;
  }) => void;
  /** Told of every rejection (the audit log, server/auth/audit-log.ts); must not throw. */
  onReject?: (rejection: {
    source: string;
    reason: RejectReason;
    detail: string;
    topic: string;
  }) => void;
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
    duplicates: 0,
    reusedSeqs: 0,
    suspectTimestamps: 0,
    ignored: 0,
  };
  private readonly suspectLog = new Map<string, number>();
  private readonly reuseLog = new Map<string, number>();
  private readonly recent = new RecentSeqs(INGEST_DEFAULTS.dedupeWindow);
  private readonly rejections = new RejectionLog();
  private readonly inFlight = new Set<Promise<IngestOutcome>>();
  private readonly telemetryLane: TelemetryLane;
  private stopped = false;
  private lastCommitAt: number | null = null;
  /** Set only while someone traces alarm hops: unset, the alarm path pays one null check. */
  private alarmObserver: IngestAlarmObserver | null = null;

  constructor(private readonly options: IngestOptions) {
    this.telemetryLane = new TelemetryLane(
      options.telemetryBudgetMs !== undefined ? { budgetMs: options.telemetryBudgetMs } : {},
    );
  }

  /**
   * Reports each alarm event's hops to `observer` (null stops it). For
   * benchmarks and diagnostics: called synchronously on the alarm path, so it
   * must be cheap and must not throw.
   */
  observeAlarms(observer: IngestAlarmObserver | null): void {
    this.alarmObserver = observer;
  }

  metrics(): IngestMetrics {
    return { ...this.counters, rejectedByReason: { ...this.counters.rejectedByReason } };
  }

  /** Server time of the last telemetry commit, epoch ms; null if none since start. */
  get lastTelemetryCommitAt(): number | null {
    return this.lastCommitAt;
  }

  handle(message: InboundMessage): Promise<IngestOutcome> {
    if (this.stopped) return Promise.resolve(this.ignore('ingest stopped'));
    const process = () =>
      this.process(message).catch((err: unknown): IngestOutcome => {
        // Defensive: process() handles its own failures; anything here is a bug.
        log.error({ err, topic: message.topic }, 'ingest failed unexpectedly');
        this.counters.storeFailures++;
        return { result: 'failed', detail: (err as Error).message };
      });
    // Telemetry takes its turn on the lane; alarms and status are handled now (ingest-lane.ts).
    const work = message.topic.endsWith(TELEMETRY_SUFFIX)
      ? this.telemetryLane.run(process)
      : process();
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
    const hash = contentHash(message.payload);
    if (this.isRedelivery(batch, hash)) return this.duplicate('telemetry', batch, hash);
    try {
      await this.options.store.writeBatch(batch);
    } catch (err) {
      return this.fail('telemetry', topic, err);
    }
    this.counters.batches++;
    this.counters.readings += batch.readings.length;
    this.flagSuspect('telemetry', batch, message.topic);
    this.lastCommitAt = (this.options.clock ?? systemClock).now();
    this.seen(batch.gatewayId, batch.enterpriseId);
    this.options.events.emit('readings', {
      gatewayId: batch.gatewayId,
      enterpriseId: batch.enterpriseId,
      readings: batch.readings,
    });
    await this.committed('telemetry', batch, hash);
    return { result: 'stored', channel: 'telemetry' };
  }

  private async alarm(topic: ParsedTopic, message: InboundMessage): Promise<IngestOutcome> {
    const observer = this.alarmObserver;
    const receivedAt = observer ? performance.now() : 0;
    const event = this.decode(decodeAlarmEvent, topic, message);
    if ('result' in event) return event;
    observer?.('received', event, receivedAt);
    const hash = contentHash(message.payload);
    if (this.isRedelivery(event, hash)) return this.duplicate('alarm', event, hash);
    let alarm: AlarmRecord;
    let changed: boolean;
    try {
      ({ alarm, changed } = await this.options.ledger.record(event));
    } catch (err) {
      return this.fail('alarm', topic, err);
    }
    observer?.('ledger-committed', event, performance.now());
    this.counters.alarmEvents++;
    // What the raise said about annunciation (ISA-18.2 state, re-announcement) goes with the
    // record to both emergency channels: a shelved raise pages nobody, a re-announcement pages
    // only centres not already paged for the occurrence it supersedes (issue 13 review).
    if (event.transition === 'raised') noteAnnunciation(alarm, event);
    // Both emergency channels (webhook, MQTT) and the disposal ledger take the committed alarm
    // from the one event, resent ones too: each records insert-if-absent, so a resend only fills
    // in what a failure or a dead node left out and never pages twice. The webhook notifier is
    // subscribed first, and a page it started gets one event-loop turn to leave before the
    // others take theirs: none of them is a reason for the emergency centre to wait (issue 19).
    const channels = await this.options.events.emitAlarmCommitted({
      alarm,
      transition: event.transition,
      changed,
      source: 'gateway',
    });
    // After the page has left: screening the timestamps (a log line, an audit record) is
    // bookkeeping, not a reason for the emergency centre to wait.
    this.flagSuspect('alarm', event, message.topic);
    this.seen(event.gatewayId, event.enterpriseId);
    // Also when a channel failed: the ledger has the change, and its redelivery will not be a
    // change any more, so this is the one chance to tell the dashboards.
    if (changed) this.options.events.emit('alarm', alarm);
    // An acknowledgement made at the edge reaches the platform's disposal loop.
    if (event.transition === 'acknowledged') {
      this.options.events.emit('edgeAcknowledged', {
        enterpriseId: alarm.enterpriseId,
        gatewayId: alarm.gatewayId,
        alarmId: alarm.alarmId, // the ledger's identity (a conflict records under a derived id)
        by: event.acknowledgedBy ?? event.by ?? 'edge',
      });
    }
    // No after-commit (no ack): the gateway redelivers and the channels that failed retry.
    if (channels.failures.length > 0) return this.fail('alarm', topic, channels.failures[0]);
    await this.committed('alarm', event, hash);
    return { result: 'stored', channel: 'alarm' };
  }

  private async status(topic: ParsedTopic, message: InboundMessage): Promise<IngestOutcome> {
    const status = this.decode(decodeGatewayStatus, topic, message);
    if ('result' in status) return status;
    this.counters.statusMessages++;
    this.flagSuspect('status', status, message.topic);
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
      this.rejectAck(topic, message.payload);
      return this.reject(topic.gatewayId, reason, decoded.error, message.topic);
    }
    const { gatewayId, enterpriseId } = decoded.value;
    if (gatewayId !== topic.gatewayId || enterpriseId !== topic.enterpriseId) {
      this.rejectAck(topic, message.payload);
      return this.reject(
        topic.gatewayId,
        'id-mismatch',
        `payload says gateway '${gatewayId}' of enterprise '${enterpriseId}', topic says '${topic.gatewayId}' of '${topic.enterpriseId}'`,
        message.topic,
      );
    }
    return decoded.value;
  }

  /**
   * Flags a stored item whose timestamps the screen finds implausible: counted,
   * logged once per gateway (then at each power of ten) and told to `onSuspect`.
   * The item keeps the timestamps it was sent with; the ledger also keeps the
   * server's receivedAt, so both clocks are on record.
   */
  private flagSuspect(
    channel: 'telemetry' | 'alarm' | 'status',
    item: TelemetryBatch | AlarmEvent | GatewayStatus,
    topic: string,
  ): void {
    const detail = this.options.screen?.(item) ?? null;
    if (detail === null) return;
    this.counters.suspectTimestamps++;
    if (this.suspectLog.size >= INGEST_DEFAULTS.maxTrackedRejectKeys) this.suspectLog.clear();
    const count = (this.suspectLog.get(item.gatewayId) ?? 0) + 1;
    this.suspectLog.set(item.gatewayId, count);
    const alarmId = 'alarmId' in item ? item.alarmId : undefined;
    const seq = 'seq' in item ? item.seq : null;
    if (count === 1 || Number.isInteger(Math.log10(count))) {
      log.warn(
        {
          gatewayId: item.gatewayId,
          enterpriseId: item.enterpriseId,
          channel,
          seq,
          alarmId,
          detail,
          count,
        },
        'stored an item with a suspect timestamp (gateway clock wrong?)',
      );
    }
    try {
      this.options.onSuspect?.({
        source: item.gatewayId,
        channel,
        seq,
        ...(alarmId !== undefined ? { alarmId } : {}),
        detail,
        topic,
      });
    } catch (err) {
      log.error({ err, gatewayId: item.gatewayId }, 'suspect-timestamp hook failed');
    }
  }

  private seen(gatewayId: string, enterpriseId: string): void {
    const update = this.options.gateways.markSeen(gatewayId, enterpriseId);
    if (update.changed) this.options.events.emit('gateway', update.gateway);
  }

  /**
   * Whether this item is a redelivery of one committed recently: same
   * (gateway, epoch, seq) and same content. The same number with other content
   * is a reused number: flagged (counted, logged) and then stored like new.
   */
  private isRedelivery(item: SequencedItem, hash: number): boolean {
    const seen = this.recent.get(item.gatewayId, item.epoch, item.seq);
    if (seen === undefined) return false;
    if (seen === hash) return true;
    this.counters.reusedSeqs++;
    const key = `${item.gatewayId}\u0000${item.epoch ?? ''}`;
    if (this.reuseLog.size >= INGEST_DEFAULTS.maxTrackedReuseKeys) this.reuseLog.clear();
    const count = (this.reuseLog.get(key) ?? 0) + 1;
    this.reuseLog.set(key, count);
    if (count === 1 || Number.isInteger(Math.log10(count))) {
      log.warn(
        {
          gatewayId: item.gatewayId,
          enterpriseId: item.enterpriseId,
          epoch: item.epoch ?? null,
          seq: item.seq,
          count,
          totalReusedSeqs: this.counters.reusedSeqs,
        },
        'sequence number reused with different content (outbox restored or cloned?): stored, not deduplicated',
      );
    }
    return false;
  }

  /** A redelivery of a recently committed item: acknowledged again, nothing stored. */
  private async duplicate(
    channel: CommittedItem['channel'],
    item: SequencedItem,
    hash: number,
  ): Promise<IngestOutcome> {
    this.counters.duplicates++;
    if (channel === 'telemetry') this.counters.batches++;
    else this.counters.alarmEvents++;
    await this.committed(channel, item, hash);
    return { result: 'stored', channel };
  }

  /**
   * Tells the gateway a rejected item will never be stored, when its seq can be
   * read: from the envelope head, which survives a payload that does not parse.
   */
  private rejectAck(topic: ParsedTopic, payload: Buffer): void {
    if (!this.options.acks || (topic.channel !== 'telemetry' && topic.channel !== 'alarm')) return;
    const head = readEnvelopeHead(payload);
    if (head) this.options.acks.rejected(topic.enterpriseId, topic.gatewayId, head.seq, head.epoch);
  }

  private async committed(
    channel: CommittedItem['channel'],
    item: SequencedItem,
    hash: number,
  ): Promise<void> {
    this.recent.add(item.gatewayId, item.epoch, item.seq, hash);
    this.options.acks?.stored(item.enterpriseId, item.gatewayId, item.seq, item.epoch);
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
    this.options.onReject?.({ source, reason, detail, topic });
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

interface SequencedItem {
  gatewayId: string;
  enterpriseId: string;
  seq: number;
  epoch?: string;
}

/**
 * 48 bits of the payload's SHA-256: enough that two different payloads under
 * one reused number collide with odds of 2^-48, small enough to keep as a
 * number (a Map of numbers per gateway, not strings).
 */
function contentHash(payload: Buffer): number {
  return createHash('sha256').update(payload).digest().readUIntBE(0, 6);
}

/**
 * Content hashes of recently committed sequence numbers per (gateway, epoch),
 * bounded per pair (oldest forgotten first). Items without an epoch (gateways
 * before issue 13) share the epoch ''.
 */
class RecentSeqs {
  private readonly byKey = new Map<
    string,
    { hashes: Map<number, number>; order: number[]; head: number }
  >();

  constructor(private readonly perGateway: number) {}

  /** The content hash committed under this number, if it is still remembered. */
  get(gatewayId: string, epoch: string | undefined, seq: number): number | undefined {
    return this.byKey.get(`${gatewayId}\u0000${epoch ?? ''}`)?.hashes.get(seq);
  }

  add(gatewayId: string, epoch: string | undefined, seq: number, hash: number): void {
    const key = `${gatewayId}\u0000${epoch ?? ''}`;
    let recent = this.byKey.get(key);
    if (!recent) {
      recent = { hashes: new Map(), order: [], head: 0 };
      this.byKey.set(key, recent);
    }
    const known = recent.hashes.has(seq);
    // A reused number remembers its latest content: a resend of either is then
    // recognised or stored again (the store's own key keeps that idempotent).
    recent.hashes.set(seq, hash);
    if (known) return;
    recent.order.push(seq);
    if (recent.hashes.size > this.perGateway) {
      recent.hashes.delete(recent.order[recent.head]!);
      recent.head++;
      if (recent.head > this.perGateway) {
        recent.order = recent.order.slice(recent.head);
        recent.head = 0;
      }
    }
  }
}

/**
 * Publishes StoreAcks: sequence numbers acknowledged within `coalesceMs` of
 * each other leave in one message per gateway and outbox epoch. Each StoreAck
 * names the epoch its items came with, so a gateway whose outbox was restored
 * (a new epoch that reuses numbers) ignores a late ack meant for the old one
 * instead of deleting a different item under the same seq (issue 13 review).
 *
 * Lifecycle: ready on construction; `stop()` drops what is pending and makes
 * later calls no-ops. A publish that fails is logged and dropped: the gateway
 * sends the item again after its ack timeout and gets a new ack.
 */
export class StoreAckPublisher implements AckSink {
  private readonly pending = new Map<
    string,
    {
      enterpriseId: string;
      gatewayId: string;
      epoch: string | undefined;
      seqs: number[];
      rejected: number[];
    }
  >();
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly coalesceMs: number;

  constructor(
    private readonly options: {
      publish(topic: string, payload: string): Promise<void>;
      coalesceMs?: number;
    },
  ) {
    this.coalesceMs = options.coalesceMs ?? STORE_ACK_DEFAULTS.coalesceMs;
  }

  stored(enterpriseId: string, gatewayId: string, seq: number, epoch?: string): void {
    this.add(enterpriseId, gatewayId, epoch, seq, 'seqs');
  }

  rejected(enterpriseId: string, gatewayId: string, seq: number, epoch?: string): void {
    this.add(enterpriseId, gatewayId, epoch, seq, 'rejected');
  }

  /** Sends every pending ack now. */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batches = [...this.pending.values()];
    this.pending.clear();
    await Promise.all(
      batches.map(async ({ enterpriseId, gatewayId, epoch, seqs, rejected }) => {
        const ack: StoreAck = { v: 1, seqs };
        if (rejected.length > 0) ack.rejected = rejected;
        if (epoch !== undefined) ack.epoch = epoch;
        try {
          await this.options.publish(topicFor(enterpriseId, gatewayId, 'ack'), JSON.stringify(ack));
        } catch (err) {
          log.warn(
            { err: (err as Error).message, gatewayId, count: seqs.length + rejected.length },
            'StoreAck not published; the gateway will resend and be acknowledged again',
          );
        }
      }),
    );
  }

  /** Drops what is pending (the broker is going away; gateways resend and are acknowledged later). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.pending.clear();
  }

  private add(
    enterpriseId: string,
    gatewayId: string,
    epoch: string | undefined,
    seq: number,
    list: 'seqs' | 'rejected',
  ) {
    if (this.stopped) return;
    const key = `${enterpriseId}/${gatewayId}/${epoch ?? ''}`;
    let entry = this.pending.get(key);
    if (!entry) {
      entry = { enterpriseId, gatewayId, epoch, seqs: [], rejected: [] };
      this.pending.set(key, entry);
    }
    entry[list].push(seq);
    if (entry.seqs.length + entry.rejected.length >= STORE_ACK_DEFAULTS.maxSeqsPerAck) {
      void this.flush();
    } else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.coalesceMs);
    }
  }
}
