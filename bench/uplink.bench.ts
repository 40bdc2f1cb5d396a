/**
 * Store-and-forward uplink: the real MqttUplink with its disk outbox against
 * the real CentralServer (aedes, ingest, SQLite store, alarm ledger), in one
 * process on loopback.
 *
 * - `uplink.outage_lost`: the server is down for 60 s (BENCH_UPLINK_OUTAGE_S
 *   scales it) while the gateway produces 1,000 readings/s (10 sensors ×
 *   100/s) and an alarm pair every second; afterwards, readings and alarms
 *   missing from the store and ledger. Must be 0.
 * - `uplink.replay_points_per_s`: a backlog of 300,000 readings (5 min at the
 *   live rate of 1,000/s) drains after the server comes back, while live
 *   telemetry continues; backlog readings / drain time. Target >= 20,000/s
 *   and >= 3x live.
 * - `uplink.alarm_ms_p99_during_replay`: an alarm every 100 ms during that
 *   drain, edge time to the ledger's 'alarm' event on the server. Target < 1 s.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { systemClock } from '../common/clock.js';
import { freePort } from '../common/net.js';
import { MqttUplink } from '../gateway/uplink/mqtt-uplink.js';
import type { Reading } from '../protocol/index.js';
import { CentralServer } from '../server/central-server.js';
import { parseServerConfig } from '../server/config/index.js';
import { type Benchmark, type Metric, percentile, round } from './metric.js';

const GATEWAY = 'gw-bench';
const ENTERPRISE = 'ent-bench';
const SENSORS = Array.from({ length: 10 }, (_, i) => `S${i}`);
const LIVE_PER_S = 1_000; // readings/s: 10 sensors × 100/s
const OUTAGE_S = Number(process.env.BENCH_UPLINK_OUTAGE_S ?? 60);
const BACKLOG_READINGS = 300_000;
const REPLAY_BOUND = 30_000; // readings/s, the uplink's default replay bound

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function startServer(storePath: string, port: number): Promise<CentralServer> {
  const server = new CentralServer(
    parseServerConfig({ http: { port: 0 }, mqtt: { port }, store: { path: storePath } }),
    { dashboard: false },
  );
  await server.start();
  return server;
}

function uplinkFor(port: number, outbox: string): MqttUplink {
  return new MqttUplink({
    url: `mqtt://127.0.0.1:${port}`,
    gatewayId: GATEWAY,
    enterpriseId: ENTERPRISE,
    sensors: SENSORS.map((sensorId) => ({ sensorId, name: sensorId, kind: 'gas', unit: '%LEL' })),
    clock: systemClock,
    publishIntervalMs: 500,
    reconnectPeriodMs: 500,
    replayReadingsPerS: REPLAY_BOUND,
    outbox: { path: outbox },
  });
}

/** Live producer: 1,000 readings/s in 100 ms ticks; k counts readings per sensor (ts = t0 + k). */
class Live {
  k = 0;
  alarms: string[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly uplink: MqttUplink,
    private readonly t0: number,
    private readonly alarmEveryMs: number,
  ) {}

  start(): void {
    let ticks = 0;
    this.timer = setInterval(() => {
      this.produce(LIVE_PER_S / SENSORS.length / 10);
      ticks++;
      if ((ticks * 100) % this.alarmEveryMs === 0) this.alarm();
    }, 100);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  produce(perSensor: number): void {
    const readings: Reading[] = [];
    for (let i = 0; i < perSensor; i++) {
      const k = this.k++;
      for (const sensorId of SENSORS)
        readings.push({ sensorId, value: k, quality: 'good', ts: this.t0 + k });
    }
    this.uplink.publishReadings(readings);
  }

  alarm(): void {
    const alarmId = `bench.${this.t0}.${this.alarms.length}`;
    this.alarms.push(alarmId);
    this.uplink.publishAlarm({
      alarmId,
      ruleId: 'S0-gas',
      sensorId: 'S0',
      level: 2,
      transition: 'raised',
      value: 55,
      unit: '%LEL',
      setpoint: 50, // GB/T 50493-2019 §5.5.3 item 1: level 2 <= 50 %LEL
      ts: Date.now(),
      drill: true, // never pages an emergency centre
    });
  }
}

async function missingReadings(server: CentralServer, t0: number, count: number): Promise<number> {
  let missing = 0;
  for (const sensorId of SENSORS) {
    const rows = await server.store.queryRange({
      gatewayId: GATEWAY,
      sensorId,
      from: t0,
      to: t0 + count - 1,
      limit: count + 1,
    });
    const seen = new Set(rows.map((r) => r.ts - t0));
    for (let k = 0; k < count; k++) if (!seen.has(k)) missing++;
  }
  return missing;
}

async function drained(uplink: MqttUplink, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const h = uplink.health();
    if (h.backlog.telemetry.items + h.backlog.alarms.items === 0) return;
    if (Date.now() > deadline) throw new Error(`backlog not drained within ${timeoutMs} ms`);
    await sleep(20);
  }
}

async function* outageRun(dir: string): AsyncGenerator<Metric> {
  const port = await freePort();
  const storePath = path.join(dir, 'outage-server.db');
  let server: CentralServer | null = await startServer(storePath, port);
  const uplink = uplinkFor(port, path.join(dir, 'outage-outbox.db'));
  const t0 = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;
  const live = new Live(uplink, t0, 1_000);
  try {
    await uplink.start();
    live.start();
    await sleep(5_000);
    await server.stop();
    server = null;
    await sleep(OUTAGE_S * 1_000);
    const held = uplink.health().backlog;
    server = await startServer(storePath, port);
    await sleep(5_000);
    live.stop();
    uplink.flush();
    await drained(uplink, 60_000);
    const missing = await missingReadings(server, t0, live.k);
    const ledger = new Set(
      (await server.ledger.list({ state: 'all', limit: 100_000 })).map((a) => a.alarmId),
    );
    const missingAlarms = live.alarms.filter((id) => !ledger.has(id)).length;
    const health = uplink.health();
    yield {
      metric: 'uplink.outage_lost',
      value: missing + missingAlarms,
      unit: 'items',
      outageS: OUTAGE_S,
      liveReadingsPerS: LIVE_PER_S,
      readingsProduced: live.k * SENSORS.length,
      alarmsProduced: live.alarms.length,
      missingReadings: missing,
      missingAlarms,
      heldAtReconnect: held.telemetry.readings,
      alarmsHeldAtReconnect: held.alarms.items,
      shed: health.dropped.readings,
      resends: health.resends,
      duplicatesAtServer: server.ingest.metrics().duplicates,
      scaled: OUTAGE_S < 60 ? `outage scaled to ${OUTAGE_S} s by BENCH_UPLINK_OUTAGE_S` : undefined,
    };
  } finally {
    live.stop();
    await uplink.stop();
    await server?.stop();
  }
}

async function* replayRun(dir: string): AsyncGenerator<Metric> {
  const port = await freePort();
  const storePath = path.join(dir, 'replay-server.db');
  const uplink = uplinkFor(port, path.join(dir, 'replay-outbox.db'));
  const t0 = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;
  const live = new Live(uplink, t0, 100);
  let server: CentralServer | null = null;
  try {
    await uplink.start(); // nothing listens yet: everything goes to the outbox
    // The backlog: what 5 min at the live rate leaves behind, in the live batch size (500 readings).
    while (live.k * SENSORS.length < BACKLOG_READINGS) {
      live.produce(50);
      uplink.flush();
    }
    const backlog = uplink.health().backlog.telemetry.readings;
    const latencies: number[] = [];
    server = await startServer(storePath, port);
    server.events.on('alarm', (alarm) => {
      if (alarm.raisedAt !== null) latencies.push(Date.now() - alarm.raisedAt);
    });
    const connectedAt = Date.now();
    while (!uplink.connected) await sleep(5);
    live.start(); // live readings and an alarm every 100 ms while the backlog drains
    let backlogGoneAt = 0;
    const deadline = Date.now() + 60_000;
    while (!backlogGoneAt) {
      // The backlog is gone when every reading older than the reconnect is stored.
      const h = uplink.health();
      if (
        h.backlog.telemetry.readings <= LIVE_PER_S &&
        h.connected &&
        Date.now() - connectedAt > 500
      ) {
        backlogGoneAt = Date.now();
      }
      if (Date.now() > deadline) throw new Error('replay did not finish within 60 s');
      await sleep(10);
    }
    live.stop();
    const seconds = (backlogGoneAt - connectedAt) / 1000;
    const sorted = [...latencies].sort((a, b) => a - b);
    yield {
      metric: 'uplink.replay_points_per_s',
      value: Math.round(backlog / seconds),
      unit: 'readings/s',
      backlogReadings: backlog,
      drainS: round(seconds, 2),
      liveReadingsPerS: LIVE_PER_S,
      replayBound: REPLAY_BOUND,
      timesLive: round(backlog / seconds / LIVE_PER_S, 1),
      note: 'gateway and server in one process on loopback; includes reconnect time',
    };
    yield {
      metric: 'uplink.alarm_ms_p99_during_replay',
      value: round(percentile(sorted, 99), 1),
      unit: 'ms',
      samples: sorted.length,
      p50: round(percentile(sorted, 50), 1),
      max: round(sorted.at(-1) ?? Number.NaN, 1),
    };
  } finally {
    live.stop();
    await uplink.stop();
    await server?.stop();
  }
}

const bench: Benchmark = {
  name: 'uplink',
  async *run() {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'hw-uplink-bench-'));
    try {
      yield* replayRun(dir);
      yield* outageRun(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

export default bench;
