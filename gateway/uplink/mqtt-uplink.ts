/**
 * Store-and-forward MQTT uplink (mqtt.js, QoS 1) on the protocol/ topic namespace.
 *
 * Every telemetry batch and alarm event is first committed to the disk outbox
 * (gateway/outbox), then sent; it leaves the outbox only when the server's
 * application-level acknowledgement (StoreAck on `.../ack`) says it is stored.
 * A PUBACK is not enough: aedes sends it before anything is stored. An item not
 * acknowledged within `ackTimeoutMs` is sent again; the server is idempotent on
 * (gateway, seq), so a resend never stores twice.
 *
 * Sending order, on each pump:
 * 1. alarms, oldest first, never rate-limited (their own in-flight window);
 * 2. live telemetry (appended since the current connection came up);
 * 3. resends and the backlog from before the connection, at most
 *    `replayReadingsPerS` (a token bucket; raised to 3x the live rate if live
 *    data outgrows it), so a replay never starves live data.
 * Telemetry shares a small in-flight window (batches and bytes), which bounds
 * how much telemetry can sit in front of an alarm in the broker and the
 * server's per-connection queue: live alarms reach the server within a second
 * even while a large backlog drains.
 *
 * Also announces the gateway with a retained birth message carrying its sensor
 * catalogue, a retained 'online' heartbeat every STATUS_HEARTBEAT_MS, and a
 * retained last-will 'offline'.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { Clock } from '../../common/clock.js';
import { createLogger } from '../../common/logger.js';
import { sendMqttWithoutDelay } from '../../common/mqtt-no-delay.js';
import {
  type AlarmEvent,
  decodeGatewayCommand,
  decodeStoreAck,
  type GatewayCommand,
  type GatewayStatus,
  PROTOCOL_VERSION,
  type Reading,
  type SensorInfo,
  STATUS_HEARTBEAT_MS,
  type TelemetryBatch,
  topicFor,
  type UplinkStatus,
} from '../../protocol/index.js';
import {
  OUTBOX_DEFAULTS,
  Outbox,
  type OutboxEntry,
  type OutboxLane,
  type OutboxOptions,
  type OutboxStats,
  type OutboxStorageFault,
  type OutboxSync,
} from '../outbox/outbox.js';
import { monotonic, RateMeter } from './rate-meter.js';
import { SeqQueue } from './seq-queue.js';
import { type MqttUplinkTls, tlsConnectOptions } from './tls.js';
import type { AlarmTransitionPayload, Uplink, UplinkHealth } from './uplink.js';

export type { MqttUplinkTls } from './tls.js';

const log = createLogger('gateway.uplink');

export const MQTT_UPLINK_DEFAULTS = {
  publishIntervalMs: 500, // 0.5 s: telemetry batching window
  maxBatchReadings: 5_000, // readings per message; a full batch leaves at once
  keepaliveS: 30, // 30 s MQTT keepalive
  seenCommandIds: 1_000, // remembered command ids, so a redelivered command applies once
  reconnectPeriodMs: 1_000, // 1 s between reconnect attempts (mqtt.js is the only reconnect layer)
  connectTimeoutMs: 10_000, // 10 s
  heartbeatMs: STATUS_HEARTBEAT_MS, // 15 s: status 'online' repeated so the server can tell silence from death
  ackTimeoutMs: 10_000, // 10 s without a StoreAck: send again
  replayReadingsPerS: 30_000, // backlog replay bound (>= 3x the live rate of any configured plant here)
  replayBurstS: 0.25, // token bucket depth, seconds of replay
  maxInFlight: 16, // telemetry batches sent and not acknowledged
  maxInFlightBytes: 1024 * 1024, // 1 MiB of telemetry in flight at most (what may queue ahead of an alarm)
  alarmMaxInFlight: 1_000, // alarms sent and not acknowledged
  healthLogIntervalMs: 10_000, // 10 s between backlog log lines while a backlog exists
  statsIntervalMs: 10_000, // 10 s between 'stats' outbox events (also one at start)
  rateWindowMs: 10_000, // 10 s: averaging window of the live and ack rates
} as const;

/**
 * Outbox events the edge may alarm on (the Gateway turns them into status readings).
 * - 'high-water', 'shed': as they happen;
 * - 'stats': once at start and every `statsIntervalMs`, so the gateway's
 *   `_uplink.*` status points always have a current value (issue 11 item 6);
 * - 'storage-fault': the outbox file was corrupt and was moved aside (issue 13;
 *   the gateway raises "local storage fault: {path} moved to {movedTo}");
 * - 'salvage-end': the salvage after a 'storage-fault' reported with `pending` telemetry
 *   ended; `fault` carries the final `salvaged` and `unsent` counts;
 * - 'quarantined': an item did not read back from the outbox and was set aside.
 * Events that happen inside start() are delivered at the end of start().
 */
export type OutboxEvent =
  | { type: 'high-water'; high: boolean; stats: OutboxStats }
  | { type: 'shed'; batches: number; readings: number; stats: OutboxStats }
  | { type: 'stats'; stats: OutboxStats; health: UplinkHealth }
  | { type: 'storage-fault'; fault: OutboxStorageFault; stats: OutboxStats }
  | { type: 'salvage-end'; fault: OutboxStorageFault; stats: OutboxStats }
  | { type: 'quarantined'; seq: number; lane: OutboxLane; reason: string; stats: OutboxStats };

export interface MqttUplinkOptions {
  url: string;
  gatewayId: string;
  enterpriseId: string;
  sensors: readonly SensorInfo[];
  clock: Clock;
  username?: string;
  password?: string;
  /** TLS for an mqtts:// url; the PEM files are read at start() (an unreadable one throws, naming it). */
  tls?: MqttUplinkTls;
  publishIntervalMs?: number;
  keepaliveS?: number;
  software?: string;
  /** Disk outbox; without a path it lives in memory (not durable). */
  outbox?: {
    path?: string;
    telemetryMaxBytes?: number;
    alarmReserveBytes?: number;
    highWaterPct?: number;
    telemetrySync?: OutboxSync;
    /** The background fsync of telemetry (tests hold it; see OutboxOptions.syncFile). */
    syncFile?: OutboxOptions['syncFile'];
  };
  ackTimeoutMs?: number;
  replayReadingsPerS?: number;
  maxInFlight?: number;
  maxInFlightBytes?: number;
  maxBatchReadings?: number;
  heartbeatMs?: number;
  reconnectPeriodMs?: number;
  /** Interval of the 'stats' outbox event, ms (default 10 s; one is also sent at start). */
  statsIntervalMs?: number;
  onOutboxEvent?(event: OutboxEvent): void;
  /** Operator commands from the server (acknowledge, shelve); valid ones only, once per id. */
  onCommand?(command: GatewayCommand): void;
}

/**
 * Hops of one alarm through the uplink, for the latency breakdown of the e2e
 * benchmark (bench/e2e.bench.ts): 'outbox-committed' when its append (FULL
 * commit, fsync) returned, 'published' when its PUBLISH was handed to the
 * socket. `at` is performance.now() in ms.
 */
export type UplinkAlarmHop = 'outbox-committed' | 'published';
export type UplinkAlarmObserver = (hop: UplinkAlarmHop, alarmId: string, at: number) => void;

interface InFlight {
  lane: OutboxLane;
  sentAt: number;
  bytes: number;
}

export class MqttUplink implements Uplink {
  private client: MqttClient | null = null;
  private readonly outbox: Outbox;
  private pending: Reading[] = [];
  private timers: NodeJS.Timeout[] = [];
  private replayTimer: NodeJS.Timeout | null = null;
  /** Connected and subscribed to acks: sending is allowed. */
  private ready = false;
  private readonly inFlight = new Map<number, InFlight>();
  private telemetryInFlight = 0;
  private telemetryInFlightBytes = 0;
  private alarmsInFlight = 0;
  private alarmQueue = new SeqQueue();
  private live = new SeqQueue();
  private backlog = new SeqQueue();
  private retry = new SeqQueue();
  private tokens = 0;
  private tokensAt = 0;
  private rejected = 0;
  private resends = 0;
  private lastAckAt: number | null = null;
  private loggedBacklog = false;
  /** Set only while someone traces alarm hops: unset, the alarm path pays one null check. */
  private alarmObserver: UplinkAlarmObserver | null = null;
  private readonly tracedAlarms = new Map<number, string>();
  /** Inside publishAlarms' append: released telemetry waits for the pump after the alarms. */
  private appendingAlarms = false;
  /** Alarms committed in the current tick, sent together at its end (sendSameTickAlarms). */
  private readonly sameTickAlarms: { seq: number; level: number }[] = [];
  private sameTickScheduled = false;
  private readonly liveRate: RateMeter;
  private readonly ackRate: RateMeter;
  private readonly publishIntervalMs: number;
  private readonly settings: {
    ackTimeoutMs: number;
    replayReadingsPerS: number;
    maxInFlight: number;
    maxInFlightBytes: number;
    maxBatchReadings: number;
  };
  private readonly topics: {
    telemetry: string;
    alarm: string;
    status: string;
    ack: string;
    command: string;
  };

  constructor(private readonly options: MqttUplinkOptions) {
    this.publishIntervalMs = options.publishIntervalMs ?? MQTT_UPLINK_DEFAULTS.publishIntervalMs;
    this.settings = {
      ackTimeoutMs: options.ackTimeoutMs ?? MQTT_UPLINK_DEFAULTS.ackTimeoutMs,
      replayReadingsPerS: options.replayReadingsPerS ?? MQTT_UPLINK_DEFAULTS.replayReadingsPerS,
      maxInFlight: options.maxInFlight ?? MQTT_UPLINK_DEFAULTS.maxInFlight,
      maxInFlightBytes: options.maxInFlightBytes ?? MQTT_UPLINK_DEFAULTS.maxInFlightBytes,
      maxBatchReadings: options.maxBatchReadings ?? MQTT_UPLINK_DEFAULTS.maxBatchReadings,
    };
    const { enterpriseId, gatewayId } = options;
    this.topics = {
      telemetry: topicFor(enterpriseId, gatewayId, 'telemetry'),
      alarm: topicFor(enterpriseId, gatewayId, 'alarm'),
      status: topicFor(enterpriseId, gatewayId, 'status'),
      ack: topicFor(enterpriseId, gatewayId, 'ack'),
      command: topicFor(enterpriseId, gatewayId, 'command'),
    };
    this.liveRate = new RateMeter(MQTT_UPLINK_DEFAULTS.rateWindowMs);
    this.ackRate = new RateMeter(MQTT_UPLINK_DEFAULTS.rateWindowMs);
    this.outbox = new Outbox({
      ...options.outbox,
      clock: options.clock,
      onHighWater: (high, stats) => this.outboxEvent({ type: 'high-water', high, stats }),
      onShed: (dropped, stats) => this.outboxEvent({ type: 'shed', ...dropped, stats }),
      onStorageFault: (fault, stats) => {
        this.requeueAfterHeal();
        this.outboxEvent({ type: 'storage-fault', fault, stats });
      },
      onSalvaged: (seqs) => this.requeueSalvaged(seqs),
      onSalvageEnd: (fault, stats) => this.outboxEvent({ type: 'salvage-end', fault, stats }),
      onQuarantine: (item, stats) => this.outboxEvent({ type: 'quarantined', ...item, stats }),
      onTelemetrySynced: (seqs) => this.onTelemetrySynced(seqs),
    });
    this.outbox.isPinned = (seq) => this.inFlight.has(seq);
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  /** Events raised before the client exists (inside start()) wait for the end of start(). */
  private heldEvents: OutboxEvent[] | null = null;

  private outboxEvent(event: OutboxEvent): void {
    if (this.heldEvents) {
      this.heldEvents.push(event);
      return;
    }
    try {
      this.options.onOutboxEvent?.(event);
    } catch (err) {
      log.error({ err, type: event.type }, 'outbox event handler failed');
    }
  }

  private statsEvent(): void {
    this.outboxEvent({ type: 'stats', stats: this.outbox.stats(), health: this.health() });
  }

  async start(): Promise<void> {
    if (this.client) return;
    const tls = tlsConnectOptions(this.options.tls);
    this.heldEvents = [];
    try {
      this.outbox.open();
      this.connect(tls);
    } finally {
      // Outbox events raised meanwhile (a storage fault at open) reach the handler now.
      const held = this.heldEvents ?? [];
      this.heldEvents = null;
      for (const event of held) this.outboxEvent(event);
    }
    this.statsEvent();
  }

  private connect(tls: mqtt.IClientOptions): void {
    const { url, gatewayId, username, password } = this.options;
    const offline: GatewayStatus = this.status('offline');
    const client = mqtt.connect(url, {
      ...tls,
      clientId: gatewayId,
      username,
      password,
      clean: true,
      keepalive: this.options.keepaliveS ?? MQTT_UPLINK_DEFAULTS.keepaliveS,
      reconnectPeriod: this.options.reconnectPeriodMs ?? MQTT_UPLINK_DEFAULTS.reconnectPeriodMs,
      connectTimeout: MQTT_UPLINK_DEFAULTS.connectTimeoutMs,
      queueQoSZero: false,
      will: {
        topic: this.topics.status,
        payload: Buffer.from(JSON.stringify(offline)),
        qos: 1,
        retain: true,
      },
    });
    this.client = client;
    sendMqttWithoutDelay(client); // an alarm must not wait behind a batch's unacknowledged segment
    let everConnected = false;
    let down = false;
    client.on('connect', () => {
      if (!everConnected || down) log.info({ url }, 'uplink connected');
      everConnected = true;
      down = false;
      this.publishBirth();
      client.subscribe(this.topics.command, { qos: 1 }, (err) => {
        if (err) log.warn({ url, err: err.message }, 'cannot subscribe to operator commands');
      });
      client.subscribe(this.topics.ack, { qos: 1 }, (err) => {
        if (err) {
          log.warn({ url, err: err.message }, 'cannot subscribe to acknowledgements');
          return;
        }
        if (client.connected && this.client === client) this.becomeReady();
      });
    });
    client.on('message', (topic, payload) => {
      // mqtt.js may still deliver a PUBLISH it had parsed when stop() closed the outbox: an ack
      // then has nothing to remove (its items are resent after the next start and deduplicated
      // by the server), and a command has no gateway left to act on. Thrown here, it ended the process.
      if (!this.outbox.isOpen) {
        log.debug({ topic }, 'message after the uplink stopped: ignored');
        return;
      }
      if (topic === this.topics.ack) this.onAck(payload);
      else if (topic === this.topics.command) this.onCommandMessage(payload);
    });
    client.on('close', () => {
      if (everConnected && !down && this.client === client) {
        const stats = this.outbox.stats();
        log.warn(
          {
            url,
            alarms: stats.alarms.items,
            telemetryReadings: stats.telemetry.readings,
          },
          'uplink lost; holding items in the outbox and reconnecting',
        );
      }
      down = true;
      this.becomeUnready();
    });
    client.on('error', (err) => {
      // mqtt.js retries by itself; log the cause once per outage, not per attempt.
      if (!down) log.warn({ url, err: err.message }, 'uplink error');
    });
    const every = (ms: number, fn: () => void) => this.timers.push(setInterval(fn, ms));
    every(this.publishIntervalMs, () => this.flush());
    every(this.options.heartbeatMs ?? MQTT_UPLINK_DEFAULTS.heartbeatMs, () => {
      if (client.connected)
        this.sendStatus({ ...this.status('online'), uplink: this.uplinkStatus() });
    });
    every(Math.max(50, Math.floor(this.settings.ackTimeoutMs / 4)), () => this.checkAckTimeouts());
    every(MQTT_UPLINK_DEFAULTS.healthLogIntervalMs, () => this.logBacklog());
    every(this.options.statsIntervalMs ?? MQTT_UPLINK_DEFAULTS.statsIntervalMs, () =>
      this.statsEvent(),
    );
  }

  async stop(): Promise<void> {
    const client = this.client;
    if (!client) return;
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    if (this.replayTimer) clearTimeout(this.replayTimer);
    this.replayTimer = null;
    this.flush();
    this.becomeUnready();
    if (client.connected) this.sendStatus(this.status('offline'));
    this.client = null;
    try {
      if (!client.connected) {
        await new Promise<void>((resolve) => client.end(true, {}, () => resolve()));
        return;
      }
      // Graceful end waits for in-flight QoS 1 packets; bounded so stop never hangs
      // when the broker dies during shutdown. Unacknowledged items stay in the outbox.
      const graceful = new Promise<void>((resolve) => client.end(false, {}, () => resolve()));
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 2_000);
      });
      await Promise.race([graceful, timeout]);
      clearTimeout(timer);
      if (!client.disconnected) await new Promise<void>((r) => client.end(true, {}, () => r()));
    } finally {
      this.becomeUnready();
      const stats = this.outbox.stats();
      if (stats.alarms.items + stats.telemetry.items > 0) {
        log.info(
          {
            alarms: stats.alarms.items,
            telemetryBatches: stats.telemetry.items,
            telemetryReadings: stats.telemetry.readings,
            durable: this.outbox.durable,
          },
          'uplink stopped with unacknowledged items in the outbox',
        );
      }
      this.outbox.close();
    }
  }

  /**
   * Reports each alarm's uplink hops to `observer` (null stops it). For
   * benchmarks and diagnostics: called synchronously on the alarm path, so it
   * must be cheap and must not throw.
   */
  observeAlarms(observer: UplinkAlarmObserver | null): void {
    this.alarmObserver = observer;
    if (!observer) this.tracedAlarms.clear();
  }

  publishReadings(readings: readonly Reading[]): void {
    if (!this.client) throw new Error('uplink not started');
    for (const reading of readings) this.pending.push(reading);
    if (this.pending.length >= this.settings.maxBatchReadings) this.flush();
  }

  publishAlarm(transition: AlarmTransitionPayload): void {
    this.publishAlarms([transition]);
  }

  /**
   * Commits all `transitions` in one FULL commit (one fsync), then sends them in
   * order. Returns after the commit, like publishAlarm: each one is on disk
   * before it is sent.
   */
  publishAlarms(transitions: readonly AlarmTransitionPayload[]): void {
    const client = this.client;
    if (!client) throw new Error('uplink not started');
    if (transitions.length === 0) return;
    const payload = (transition: AlarmTransitionPayload) => (seq: number) =>
      JSON.stringify({ ...this.envelope(seq), ...transition } satisfies AlarmEvent);
    let entries: OutboxEntry[];
    try {
      // The alarms' fsync also releases telemetry that waited for its own: that telemetry
      // must not be sent before them, so it only joins the queue during the append.
      this.appendingAlarms = true;
      entries = this.outbox.appendAlarms(transitions.map(payload));
    } catch (err) {
      // Not durable, but not silent: send them once directly and say so.
      for (const transition of transitions) {
        log.error(
          { err, alarmId: transition.alarmId, transition: transition.transition },
          'alarm could not be written to the outbox; sending it without store-and-forward',
        );
        const seq = this.outbox.takeVolatileSeq();
        client.publish(this.topics.alarm, payload(transition)(seq), { qos: 1 });
      }
      this.pump();
      return;
    } finally {
      this.appendingAlarms = false;
    }
    if (this.alarmObserver) {
      const at = performance.now();
      entries.forEach((entry, i) => {
        const { alarmId } = transitions[i]!;
        this.tracedAlarms.set(entry.seq, alarmId);
        this.alarmObserver?.('outbox-committed', alarmId, at);
      });
    }
    if (this.ready) {
      entries.forEach((entry, i) => {
        this.sameTickAlarms.push({ seq: entry.seq, level: transitions[i]!.level });
      });
      if (!this.sameTickScheduled) {
        this.sameTickScheduled = true;
        queueMicrotask(() => this.sendSameTickAlarms());
      }
    }
  }

  /**
   * Sends the alarms committed in this tick, highest level first (a level-2 raise
   * ahead of the level-1 raise of the same poll, so the server handles it first).
   * Deferring to a microtask costs nothing on the wire: mqtt.js hands its writes
   * to the socket on the next tick anyway, after this tick's commits.
   */
  private sendSameTickAlarms(): void {
    this.sameTickScheduled = false;
    const alarms = this.sameTickAlarms.splice(0).sort((a, b) => b.level - a.level); // stable
    for (const alarm of alarms) this.alarmQueue.push(alarm.seq);
    this.pump();
  }

  /** Moves buffered readings into the outbox now (also runs every publish interval). */
  flush(): void {
    while (this.pending.length > 0) {
      const readings = this.pending.splice(0, this.settings.maxBatchReadings);
      let entry: OutboxEntry;
      try {
        entry = this.outbox.appendTelemetry(
          (seq) => JSON.stringify({ ...this.envelope(seq), readings } satisfies TelemetryBatch),
          readings.length,
        );
      } catch (err) {
        const failures = this.outbox.stats().writeFailures;
        if (Number.isInteger(Math.log10(failures))) {
          log.error(
            { err, readings: readings.length, writeFailures: failures },
            'telemetry batch could not be written to the outbox: dropped (counted in writeFailures)',
          );
        }
        continue;
      }
      this.liveRate.add(readings.length);
      // A batch still waiting for its fsync joins the live queue when it is synced.
      if (this.ready && this.outbox.isSynced(entry.seq)) this.live.push(entry.seq);
    }
    this.pump();
  }

  /** Telemetry whose background fsync completed may leave now (in append order). */
  private onTelemetrySynced(seqs: readonly number[]): void {
    if (!this.ready) return; // becomeReady() takes them from the outbox
    for (const seq of seqs) this.live.push(seq);
    if (!this.appendingAlarms) this.pump();
  }

  health(): UplinkHealth {
    const stats = this.outbox.stats();
    const live = this.liveRate.perSecond();
    const acked = this.ackRate.perSecond();
    let estimatedDrainS: number | null = null;
    if (this.ready) {
      const backlog = stats.telemetry.readings;
      const pace = acked - live > 0 ? acked - live : this.replayRate();
      estimatedDrainS = backlog === 0 ? 0 : Math.round((backlog / pace) * 10) / 10;
    }
    return {
      connected: this.connected,
      durable: this.outbox.durable,
      backlog: { alarms: stats.alarms, telemetry: stats.telemetry },
      fillPct: stats.fillPct,
      telemetryMaxBytes: stats.telemetryMaxBytes,
      highWater: stats.highWater,
      inFlight: this.inFlight.size,
      dropped: stats.dropped,
      rejected: this.rejected,
      quarantined: stats.quarantined,
      storageFaults: stats.storageFaults,
      epoch: stats.epoch,
      writeFailures: stats.writeFailures,
      resends: this.resends,
      liveReadingsPerS: Math.round(live),
      ackedReadingsPerS: Math.round(acked),
      replayReadingsPerS: Math.round(this.replayRate()),
      estimatedDrainS,
      oldestAgeMs: stats.oldestAgeMs,
      lastAckAt: this.lastAckAt,
    };
  }

  /** The heartbeat's summary of {@link health}, for the server and the regulators' view. */
  private uplinkStatus(): UplinkStatus {
    const h = this.health();
    return {
      backlogItems: h.backlog.alarms.items + h.backlog.telemetry.items,
      backlogReadings: h.backlog.telemetry.readings,
      fillPct: h.fillPct,
      droppedReadings: h.dropped.readings,
      rejected: h.rejected,
      quarantined: h.quarantined,
      estimatedDrainS: h.estimatedDrainS,
    };
  }

  private becomeReady(): void {
    if (this.ready) return;
    // Everything held (including what was in flight when the link dropped) is backlog now.
    this.inFlight.clear();
    this.telemetryInFlight = 0;
    this.telemetryInFlightBytes = 0;
    this.alarmsInFlight = 0;
    this.alarmQueue = new SeqQueue(this.seqs('alarm'));
    // Unsynced batches are not backlog yet: they join the live queue once fsynced.
    this.backlog = new SeqQueue(this.seqs('telemetry').filter((s) => this.outbox.isSynced(s)));
    this.live = new SeqQueue();
    this.retry = new SeqQueue();
    this.tokens = this.settings.replayReadingsPerS * MQTT_UPLINK_DEFAULTS.replayBurstS;
    this.tokensAt = monotonic();
    this.ready = true;
    const stats = this.outbox.stats();
    if (stats.alarms.items + stats.telemetry.items > 0) {
      log.info(
        {
          alarms: stats.alarms.items,
          telemetryBatches: stats.telemetry.items,
          telemetryReadings: stats.telemetry.readings,
          replayReadingsPerS: this.settings.replayReadingsPerS,
        },
        'uplink replaying the outbox: alarms first, then telemetry at the replay bound',
      );
    }
    this.pump();
  }

  private becomeUnready(): void {
    if (!this.ready) return;
    this.ready = false;
    this.resends += this.inFlight.size;
    this.inFlight.clear();
    this.telemetryInFlight = 0;
    this.telemetryInFlightBytes = 0;
    this.alarmsInFlight = 0;
    if (this.replayTimer) clearTimeout(this.replayTimer);
    this.replayTimer = null;
  }

  /**
   * The outbox replaced a corrupt file: what was in flight belongs to the old file (its acks name
   * the old epoch and are ignored), and the alarms it salvaged at once carry new numbers no queue
   * knows. The telemetry it salvages over later turns comes through requeueSalvaged. Runs inside
   * the outbox call that met the corruption, so the pump waits for a microtask.
   */
  private requeueAfterHeal(): void {
    for (const seq of [...this.inFlight.keys()]) if (!this.outbox.has(seq)) this.release(seq);
    if (!this.ready) return; // becomeReady() takes them from the outbox
    for (const seq of this.seqs('alarm')) this.alarmQueue.push(seq);
    for (const seq of this.seqs('telemetry')) if (this.outbox.isSynced(seq)) this.backlog.push(seq);
    queueMicrotask(() => this.pump());
  }

  /**
   * A chunk of telemetry the outbox salvaged after the fault (one per event-loop turn): backlog,
   * sent at the replay bound like any replay. Nothing else queues these numbers: flush() and
   * onTelemetrySynced only queue live appends, and becomeReady() takes what the outbox holds.
   * Runs from the salvage's own turn (not inside a send), so it pumps at once.
   */
  private requeueSalvaged(seqs: readonly number[]): void {
    if (!this.ready) return; // becomeReady() takes them from the outbox
    for (const seq of seqs) this.backlog.push(seq);
    this.pump();
  }

  private seqs(lane: OutboxLane): number[] {
    const out: number[] = [];
    for (const entry of this.outbox.entries(lane)) out.push(entry.seq);
    return out;
  }

  private pump(): void {
    const client = this.client;
    if (!this.ready || !client?.connected) return;
    const sendable = (seq: number) => !this.inFlight.has(seq) && this.outbox.has(seq);
    while (this.alarmsInFlight < MQTT_UPLINK_DEFAULTS.alarmMaxInFlight) {
      const seq = this.alarmQueue.peekWhere(sendable);
      if (seq === undefined) break;
      this.alarmQueue.shift();
      this.send(client, seq);
    }
    const now = monotonic();
    const rate = this.replayRate();
    this.tokens = Math.min(
      rate * MQTT_UPLINK_DEFAULTS.replayBurstS,
      this.tokens + (rate * Math.max(0, now - this.tokensAt)) / 1000,
    );
    this.tokensAt = now;
    while (this.windowOpen()) {
      const liveSeq = this.live.peekWhere(sendable);
      if (liveSeq !== undefined) {
        this.live.shift();
        this.send(client, liveSeq);
        continue;
      }
      if (this.tokens <= 0) {
        this.scheduleReplay(Math.ceil((-this.tokens / rate) * 1000) + 1);
        break;
      }
      const queue = this.retry.peekWhere(sendable) !== undefined ? this.retry : this.backlog;
      const seq = queue.peekWhere(sendable);
      if (seq === undefined) break;
      queue.shift();
      this.tokens -= this.outbox.entry(seq)?.readings ?? 0;
      this.send(client, seq);
    }
  }

  /** The replay bound, raised to 3x the live rate when live data outgrows the configured bound. */
  private replayRate(): number {
    return Math.max(this.settings.replayReadingsPerS, 3 * this.liveRate.perSecond());
  }

  private windowOpen(): boolean {
    if (this.telemetryInFlight === 0) return true;
    return (
      this.telemetryInFlight < this.settings.maxInFlight &&
      this.telemetryInFlightBytes < this.settings.maxInFlightBytes
    );
  }

  private scheduleReplay(ms: number): void {
    if (this.replayTimer) return;
    this.replayTimer = setTimeout(() => {
      this.replayTimer = null;
      this.pump();
    }, ms);
  }

  private send(client: MqttClient, seq: number): void {
    const entry = this.outbox.entry(seq);
    // An item that does not read back as itself is quarantined by the outbox, never sent.
    const payload = entry ? this.outbox.readBack(seq) : undefined;
    if (!entry || payload === undefined) return;
    this.inFlight.set(seq, {
      lane: entry.lane,
      sentAt: monotonic(),
      bytes: entry.bytes,
    });
    if (entry.lane === 'alarm') {
      this.alarmsInFlight++;
    } else {
      this.telemetryInFlight++;
      this.telemetryInFlightBytes += entry.bytes;
    }
    const topic = entry.lane === 'alarm' ? this.topics.alarm : this.topics.telemetry;
    client.publish(topic, payload, { qos: 1 }, (err) => {
      // The StoreAck, not this callback, decides; a failure here only means the
      // item waits for its ack timeout or the next connection.
      if (err) log.debug({ topic, seq, err: err.message }, 'publish not completed');
    });
    if (this.alarmObserver && entry.lane === 'alarm') {
      const alarmId = this.tracedAlarms.get(seq);
      this.tracedAlarms.delete(seq);
      if (alarmId !== undefined) this.alarmObserver('published', alarmId, performance.now());
    }
  }

  private release(seq: number): InFlight | undefined {
    const flight = this.inFlight.get(seq);
    if (!flight) return undefined;
    this.inFlight.delete(seq);
    if (flight.lane === 'alarm') {
      this.alarmsInFlight--;
    } else {
      this.telemetryInFlight--;
      this.telemetryInFlightBytes -= flight.bytes;
    }
    return flight;
  }

  /** Command ids already applied; bounded, since QoS 1 may redeliver a command. */
  private readonly seenCommands = new Set<string>();
  /** Commands refused as invalid; reported in health. */
  commandsRejected = 0;

  private onCommandMessage(payload: Buffer): void {
    const decoded = decodeGatewayCommand(payload);
    if (!decoded.ok) {
      this.commandsRejected++;
      log.warn({ err: decoded.error }, 'ignoring an invalid operator command');
      return;
    }
    const command = decoded.value;
    if (this.seenCommands.has(command.commandId)) return;
    this.seenCommands.add(command.commandId);
    if (this.seenCommands.size > MQTT_UPLINK_DEFAULTS.seenCommandIds) {
      const oldest = this.seenCommands.values().next().value;
      if (oldest !== undefined) this.seenCommands.delete(oldest);
    }
    try {
      this.options.onCommand?.(command);
    } catch (err) {
      log.error({ err, commandId: command.commandId }, 'operator command failed');
    }
  }

  private onAck(payload: Buffer): void {
    const decoded = decodeStoreAck(payload);
    if (!decoded.ok) {
      log.warn({ err: decoded.error }, 'ignoring an invalid StoreAck');
      return;
    }
    const { seqs, rejected = [], epoch } = decoded.value;
    // Acks name the epoch their items came with (servers before the issue 13 review do not): one
    // for another epoch is late, for an outbox this one replaced, and its seqs may now name other
    // items. Ignored: ours are acknowledged by their own ack, or resent after the timeout.
    if (epoch !== undefined && epoch !== this.outbox.epoch) {
      log.warn(
        { ackEpoch: epoch, outboxEpoch: this.outbox.epoch, count: seqs.length + rejected.length },
        'ignoring a StoreAck for another outbox epoch (restored or replaced outbox)',
      );
      return;
    }
    for (const seq of seqs) this.release(seq);
    for (const seq of rejected) this.release(seq);
    const removed = this.outbox.remove(seqs);
    let readings = 0;
    for (const entry of removed) readings += entry.readings;
    this.ackRate.add(readings);
    if (rejected.length > 0) {
      const dropped = this.outbox.remove(rejected);
      this.rejected += dropped.length;
      if (dropped.length > 0) {
        log.error(
          {
            seqs: dropped.slice(0, 10).map((e) => e.seq),
            count: dropped.length,
            totalRejected: this.rejected,
          },
          'server rejected items as invalid: dropped from the outbox (they can never be stored)',
        );
      }
    }
    this.lastAckAt = this.options.clock.now();
    this.pump();
  }

  private checkAckTimeouts(): void {
    if (!this.ready) return;
    const deadline = monotonic() - this.settings.ackTimeoutMs;
    const expired: [number, InFlight][] = [];
    for (const [seq, flight] of this.inFlight) {
      if (flight.sentAt > deadline) break; // insertion order is send order
      expired.push([seq, flight]);
    }
    if (expired.length === 0) return;
    for (const [seq, flight] of expired) {
      this.release(seq);
      if (flight.lane === 'alarm') this.alarmQueue = prepend(seq, this.alarmQueue);
      else this.retry.push(seq);
    }
    this.resends += expired.length;
    log.warn(
      { count: expired.length, ackTimeoutMs: this.settings.ackTimeoutMs },
      'no acknowledgement in time; sending again',
    );
    this.pump();
  }

  private logBacklog(): void {
    const health = this.health();
    const held = health.backlog.alarms.items + health.backlog.telemetry.items;
    if (held === 0) {
      if (this.loggedBacklog) log.info('uplink backlog drained');
      this.loggedBacklog = false;
      return;
    }
    this.loggedBacklog = true;
    log.info(
      {
        connected: health.connected,
        alarms: health.backlog.alarms.items,
        telemetryBatches: health.backlog.telemetry.items,
        telemetryReadings: health.backlog.telemetry.readings,
        bytes: health.backlog.telemetry.bytes + health.backlog.alarms.bytes,
        fillPct: health.fillPct,
        estimatedDrainS: health.estimatedDrainS,
        dropped: health.dropped,
      },
      'uplink backlog',
    );
  }

  private publishBirth(): void {
    this.sendStatus(this.status('online', this.options.sensors));
  }

  private envelope(seq: number) {
    return {
      v: PROTOCOL_VERSION,
      gatewayId: this.options.gatewayId,
      enterpriseId: this.options.enterpriseId,
      seq,
      // Right after seq: the server reads this head even from a payload it cannot parse.
      epoch: this.outbox.epoch,
      sentAt: this.options.clock.now(),
    } as const;
  }

  private status(state: GatewayStatus['state'], sensors?: readonly SensorInfo[]): GatewayStatus {
    const status: GatewayStatus = {
      v: PROTOCOL_VERSION,
      gatewayId: this.options.gatewayId,
      enterpriseId: this.options.enterpriseId,
      state,
      ts: this.options.clock.now(),
    };
    if (sensors) status.sensors = [...sensors];
    if (this.options.software) status.software = this.options.software;
    return status;
  }

  /** Status messages are not stored: a birth or heartbeat is only news while it is fresh. */
  private sendStatus(status: GatewayStatus): void {
    const client = this.client;
    if (!client) return;
    client.publish(this.topics.status, JSON.stringify(status), { qos: 1, retain: true }, (err) => {
      if (err) log.debug({ err: err.message }, 'status not published');
    });
  }
}

function prepend(seq: number, queue: SeqQueue): SeqQueue {
  const rest: number[] = [];
  for (let s = queue.shift(); s !== undefined; s = queue.shift()) rest.push(s);
  return new SeqQueue([seq, ...rest]);
}

export { OUTBOX_DEFAULTS };
