/**
 * Simulated gateways for the ingest and broker benchmarks, run in a child
 * process (forked by ingest-support.ts) so their MQTT and JSON work uses the
 * other core and their memory is not counted as the server's, the way real
 * gateways are other machines. Each gateway is one mqtt.js client (its own
 * username, password and client id) that publishes protocol TelemetryBatches
 * on its telemetry topic (QoS 1) and counts a batch done when the server's
 * StoreAck names its seq (the application-level "stored").
 *
 * Modes: 'max' keeps `window` unacknowledged batches per gateway in flight
 * (throughput); 'rate' publishes one batch every `intervalMs` per gateway,
 * spread evenly (latency at a given load, and many idle-ish connections).
 */
import mqtt, { type MqttClient } from 'mqtt';
import { decodeStoreAck, type Reading, type TelemetryBatch, topicFor } from '../protocol/index.js';

export interface GatewayLoadSpec {
  url: string;
  gateways: { id: string; enterpriseId: string; password: string }[];
  mode: 'max' | 'rate';
  readingsPerBatch: number;
  sensorsPerGateway: number;
  /** mode 'max': unacknowledged batches per gateway. */
  window?: number;
  /** mode 'rate': time between a gateway's batches. */
  intervalMs?: number;
  /** Connections opened at once while connecting. */
  connectConcurrency?: number;
}

export type GatewayLoadMessage =
  | { type: 'connected'; gateways: number; connectMs: number }
  | {
      type: 'stats';
      ackedReadings: number;
      latenciesMs: number[];
      connected: number;
      /** Gateways connected now that got at least one StoreAck since the previous sample. */
      served: number;
      errors: string[];
    };

interface Gateway {
  id: string;
  enterpriseId: string;
  client: MqttClient;
  topic: string;
  seq: number;
  ts: number;
  inFlight: Map<number, number>;
  acked: number;
}

/** The parent sends the spec first, then 'go', 'sample' and 'stop'. */
type Command = { type: 'spec'; spec: GatewayLoadSpec } | { type: 'go' | 'sample' | 'stop' };

const send = (message: GatewayLoadMessage) => process.send?.(message);
let spec: GatewayLoadSpec;
let running = false;
let ackedReadings = 0;
let latencies: number[] = [];
const errors: string[] = [];
const timers: NodeJS.Timeout[] = [];

function batchFor(gateway: Gateway): TelemetryBatch {
  const readings: Reading[] = new Array(spec.readingsPerBatch);
  const perSensor = Math.ceil(spec.readingsPerBatch / spec.sensorsPerGateway);
  for (let i = 0; i < spec.readingsPerBatch; i++) {
    readings[i] = {
      sensorId: `S${i % spec.sensorsPerGateway}`,
      value: Math.round(Math.random() * 10_000) / 100,
      quality: 'good',
      // Unique (sensor, ts) per gateway, so no reading is a duplicate of another.
      ts: gateway.ts + Math.floor(i / spec.sensorsPerGateway),
    };
  }
  gateway.ts += perSensor;
  return {
    v: 1,
    gatewayId: gateway.id,
    enterpriseId: gateway.enterpriseId,
    seq: gateway.seq++,
    sentAt: Date.now(),
    readings,
  };
}

function publish(gateway: Gateway): void {
  if (!running || !gateway.client.connected) return;
  const batch = batchFor(gateway);
  gateway.inFlight.set(batch.seq, performance.now());
  gateway.client.publish(gateway.topic, JSON.stringify(batch), { qos: 1 }, (err) => {
    if (err && errors.length < 20) errors.push(`${gateway.id}: ${err.message}`);
  });
}

function onAck(gateway: Gateway, payload: Buffer): void {
  const ack = decodeStoreAck(payload);
  if (!ack.ok) return;
  const now = performance.now();
  for (const seq of ack.value.seqs) {
    const sentAt = gateway.inFlight.get(seq);
    if (sentAt === undefined) continue;
    gateway.inFlight.delete(seq);
    if (!running) continue;
    ackedReadings += spec.readingsPerBatch;
    gateway.acked++;
    latencies.push(now - sentAt);
    if (spec.mode === 'max') publish(gateway);
  }
}

async function connect(g: GatewayLoadSpec['gateways'][number]): Promise<Gateway> {
  const client = await mqtt.connectAsync(spec.url, {
    clientId: g.id,
    username: g.id,
    password: g.password,
    reconnectPeriod: 1_000,
    keepalive: 60,
    connectTimeout: 60_000,
  });
  const gateway: Gateway = {
    id: g.id,
    enterpriseId: g.enterpriseId,
    client,
    topic: topicFor(g.enterpriseId, g.id, 'telemetry'),
    seq: 1,
    ts: Date.now() - 60_000,
    inFlight: new Map(),
    acked: 0,
  };
  const ackTopic = topicFor(g.enterpriseId, g.id, 'ack');
  client.on('message', (topic, payload) => {
    if (topic === ackTopic) onAck(gateway, payload);
  });
  await client.subscribeAsync(ackTopic, { qos: 1 });
  return gateway;
}

const gateways: Gateway[] = [];

async function start(): Promise<void> {
  const started = performance.now();
  const concurrency = spec.connectConcurrency ?? 50;
  for (let i = 0; i < spec.gateways.length; i += concurrency) {
    gateways.push(...(await Promise.all(spec.gateways.slice(i, i + concurrency).map(connect))));
  }
  send({ type: 'connected', gateways: gateways.length, connectMs: performance.now() - started });
}

function go(): void {
  running = true;
  if (spec.mode === 'max') {
    for (const gateway of gateways) for (let w = 0; w < (spec.window ?? 4); w++) publish(gateway);
    return;
  }
  const interval = spec.intervalMs ?? 1_000;
  gateways.forEach((gateway, i) => {
    // Spread the gateways evenly over the interval.
    const first = setTimeout(
      () => {
        publish(gateway);
        timers.push(setInterval(() => publish(gateway), interval));
      },
      (interval * i) / gateways.length,
    );
    timers.push(first);
  });
}

process.on('message', async (message: Command) => {
  if (message.type === 'spec') {
    spec = message.spec;
    await start();
  }
  if (message.type === 'go') go();
  if (message.type === 'sample') {
    send({
      type: 'stats',
      ackedReadings,
      latenciesMs: latencies,
      connected: gateways.filter((g) => g.client.connected).length,
      served: gateways.filter((g) => g.client.connected && g.acked > 0).length,
      errors,
    });
    for (const gateway of gateways) gateway.acked = 0;
    ackedReadings = 0;
    latencies = [];
  }
  if (message.type === 'stop') {
    running = false;
    for (const timer of timers) clearTimeout(timer);
    await Promise.all(gateways.map((g) => g.client.endAsync(true).catch(() => undefined)));
    process.exit(0);
  }
});
// The parent's disconnect (it exited) ends this process too.
process.on('disconnect', () => process.exit(0));
