/**
 * MQTT uplink (mqtt.js, QoS 1) on the protocol/ topic namespace.
 *
 * Foundation scope: batches telemetry, sends alarms immediately, announces the
 * gateway with a retained birth message carrying its sensor catalogue and a
 * retained last-will 'offline'. Unacknowledged QoS 1 packets live in mqtt.js's
 * in-memory queue, so a crash loses them: the disk outbox with application-level
 * acknowledgements (store-and-forward issue) replaces that queue.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { Clock } from '../../common/clock.js';
import { createLogger } from '../../common/logger.js';
import {
  type AlarmEvent,
  type GatewayStatus,
  PROTOCOL_VERSION,
  type Reading,
  type SensorInfo,
  type TelemetryBatch,
  topicFor,
} from '../../protocol/index.js';
import type { AlarmTransitionPayload, Uplink } from './uplink.js';

const log = createLogger('gateway.uplink');

export const MQTT_UPLINK_DEFAULTS = {
  publishIntervalMs: 500, // 0.5 s: telemetry batching window
  maxBatchReadings: 5_000, // readings per message; a full batch leaves at once
  keepaliveS: 30, // 30 s MQTT keepalive
  reconnectPeriodMs: 1_000, // 1 s between reconnect attempts (mqtt.js is the only reconnect layer)
  connectTimeoutMs: 10_000, // 10 s
  heartbeatMs: 15_000, // 15 s: status 'online' repeated so the server can tell silence from death
} as const;

export interface MqttUplinkOptions {
  url: string;
  gatewayId: string;
  enterpriseId: string;
  sensors: readonly SensorInfo[];
  clock: Clock;
  username?: string;
  password?: string;
  publishIntervalMs?: number;
  keepaliveS?: number;
  software?: string;
}

/**
 * Sequence numbers must keep increasing across restarts so the server's
 * (gateway, seq) idempotency never mistakes a new item for an old one. Until
 * the disk outbox persists the counter, it starts at boot time in microseconds
 * (fits a double exactly until the year 2255).
 */
function initialSequence(clock: Clock): number {
  return clock.now() * 1000;
}

export class MqttUplink implements Uplink {
  private client: MqttClient | null = null;
  private pending: Reading[] = [];
  private flushTimer: NodeJS.Timeout | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private seq: number;
  private readonly publishIntervalMs: number;
  private readonly topics: { telemetry: string; alarm: string; status: string };

  constructor(private readonly options: MqttUplinkOptions) {
    this.publishIntervalMs = options.publishIntervalMs ?? MQTT_UPLINK_DEFAULTS.publishIntervalMs;
    this.seq = initialSequence(options.clock);
    const { enterpriseId, gatewayId } = options;
    this.topics = {
      telemetry: topicFor(enterpriseId, gatewayId, 'telemetry'),
      alarm: topicFor(enterpriseId, gatewayId, 'alarm'),
      status: topicFor(enterpriseId, gatewayId, 'status'),
    };
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  async start(): Promise<void> {
    if (this.client) return;
    const { url, gatewayId, username, password } = this.options;
    const offline: GatewayStatus = this.status('offline');
    const client = mqtt.connect(url, {
      clientId: gatewayId,
      username,
      password,
      clean: true,
      keepalive: this.options.keepaliveS ?? MQTT_UPLINK_DEFAULTS.keepaliveS,
      reconnectPeriod: MQTT_UPLINK_DEFAULTS.reconnectPeriodMs,
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
    let everConnected = false;
    let down = false;
    client.on('connect', () => {
      if (!everConnected || down) log.info({ url }, 'uplink connected');
      everConnected = true;
      down = false;
      this.publishBirth();
    });
    client.on('close', () => {
      if (everConnected && !down) log.warn({ url }, 'uplink lost; reconnecting');
      down = true;
    });
    client.on('error', (err) => {
      // mqtt.js retries by itself; log the cause once per outage, not per attempt.
      if (!down) log.warn({ url, err: err.message }, 'uplink error');
    });
    this.flushTimer = setInterval(() => this.flush(), this.publishIntervalMs);
    this.heartbeatTimer = setInterval(() => {
      if (client.connected) this.send(this.topics.status, this.status('online'), true);
    }, MQTT_UPLINK_DEFAULTS.heartbeatMs);
  }

  async stop(): Promise<void> {
    const client = this.client;
    if (!client) return;
    if (this.flushTimer) clearInterval(this.flushTimer);
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.flushTimer = null;
    this.heartbeatTimer = null;
    this.flush();
    if (client.connected) this.send(this.topics.status, this.status('offline'), true);
    this.client = null;
    if (!client.connected) {
      await new Promise<void>((resolve) => client.end(true, {}, () => resolve()));
      return;
    }
    // Graceful end waits for in-flight QoS 1 packets; bounded so stop never hangs
    // when the broker dies during shutdown.
    const graceful = new Promise<void>((resolve) => client.end(false, {}, () => resolve()));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, 2_000);
    });
    await Promise.race([graceful, timeout]);
    clearTimeout(timer);
    if (!client.disconnected) await new Promise<void>((r) => client.end(true, {}, () => r()));
  }

  publishReadings(readings: readonly Reading[]): void {
    if (!this.client) throw new Error('uplink not started');
    for (const reading of readings) this.pending.push(reading);
    if (this.pending.length >= MQTT_UPLINK_DEFAULTS.maxBatchReadings) this.flush();
  }

  publishAlarm(transition: AlarmTransitionPayload): void {
    if (!this.client) throw new Error('uplink not started');
    const event: AlarmEvent = { ...this.envelope(), ...transition };
    this.send(this.topics.alarm, event, false);
  }

  private flush(): void {
    while (this.pending.length > 0) {
      const readings = this.pending.splice(0, MQTT_UPLINK_DEFAULTS.maxBatchReadings);
      const batch: TelemetryBatch = { ...this.envelope(), readings };
      this.send(this.topics.telemetry, batch, false);
    }
  }

  private publishBirth(): void {
    this.send(this.topics.status, this.status('online', this.options.sensors), true);
  }

  private envelope() {
    return {
      v: PROTOCOL_VERSION,
      gatewayId: this.options.gatewayId,
      enterpriseId: this.options.enterpriseId,
      seq: this.seq++,
      sentAt: this.options.clock.now(),
    };
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

  private send(topic: string, payload: object, retain: boolean): void {
    const client = this.client;
    if (!client) return;
    client.publish(topic, JSON.stringify(payload), { qos: 1, retain }, (err) => {
      if (err) log.debug({ topic, err: err.message }, 'publish not completed');
    });
  }
}
