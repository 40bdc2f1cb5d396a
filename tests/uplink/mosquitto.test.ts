/**
 * Interoperability: the uplink against Debian's mosquitto (a broker we did not
 * write), started by the test on a free port with a temporary config, and
 * restarted mid-run. A small acknowledging consumer stands in for the server:
 * it records what it receives and answers with StoreAcks.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../common/net.js';
import {
  type AlarmEvent,
  decodeAlarmEvent,
  decodeTelemetryBatch,
  type StoreAck,
  topicFor,
} from '../../protocol/index.js';
import {
  createUplink,
  ENTERPRISE,
  GATEWAY,
  Producer,
  sensorIds,
  T0,
  tempDir,
  waitUntil,
} from './support.js';

const MOSQUITTO = '/usr/sbin/mosquitto';
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function portOpen(port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function startMosquitto(conf: string, port: number): Promise<ChildProcess> {
  if (!existsSync(MOSQUITTO)) {
    throw new Error(
      `${MOSQUITTO} not found: install Debian's mosquitto package (apt-get install -y mosquitto)`,
    );
  }
  const child = spawn(MOSQUITTO, ['-c', conf], { stdio: 'ignore' });
  await waitUntil(() => portOpen(port), `mosquitto on port ${port}`, 10_000);
  return child;
}

async function stopMosquitto(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

/** Records telemetry readings and alarms it sees, and acknowledges each item. */
async function ackingConsumer(url: string) {
  const client: MqttClient = await mqtt.connectAsync(url, { reconnectPeriod: 100 });
  const readings = new Map<string, Set<number>>();
  const alarms = new Set<string>();
  const ackTopic = topicFor(ENTERPRISE, GATEWAY, 'ack');
  client.on('message', (topic, payload) => {
    let seq: number;
    if (topic.endsWith('/telemetry')) {
      const decoded = decodeTelemetryBatch(payload);
      if (!decoded.ok) throw new Error(decoded.error);
      seq = decoded.value.seq;
      for (const r of decoded.value.readings) {
        const set = readings.get(r.sensorId) ?? new Set<number>();
        set.add(r.ts - T0);
        readings.set(r.sensorId, set);
      }
    } else {
      const decoded = decodeAlarmEvent(payload);
      if (!decoded.ok) throw new Error(decoded.error);
      const event: AlarmEvent = decoded.value;
      seq = event.seq;
      alarms.add(`${event.alarmId}/${event.transition}`);
    }
    const ack: StoreAck = { v: 1, seqs: [seq] };
    client.publish(ackTopic, JSON.stringify(ack), { qos: 1 });
  });
  await client.subscribeAsync(
    [topicFor(ENTERPRISE, GATEWAY, 'telemetry'), topicFor(ENTERPRISE, GATEWAY, 'alarm')],
    { qos: 1 },
  );
  return { client, readings, alarms };
}

describe('the uplink against Debian mosquitto', () => {
  it('delivers everything, also across a mosquitto restart', async () => {
    const dir = tempDir(cleanups);
    const port = await freePort();
    const conf = path.join(dir, 'mosquitto.conf');
    writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
    let broker = await startMosquitto(conf, port);
    cleanups.push(() => stopMosquitto(broker));
    const url = `mqtt://127.0.0.1:${port}`;
    const consumer = await ackingConsumer(url);
    cleanups.push(() => consumer.client.endAsync(true));

    const ids = sensorIds(5);
    const uplink = createUplink(url, path.join(dir, 'outbox.db'), ids, { ackTimeoutMs: 1_000 });
    await uplink.start();
    cleanups.push(() => uplink.stop());
    await waitUntil(() => uplink.connected, 'the uplink to connect to mosquitto');
    const producer = new Producer(uplink, ids, { tickMs: 50, perTick: 10, alarmEvery: 10 });
    producer.start();
    cleanups.push(() => producer.stop());
    await new Promise((r) => setTimeout(r, 1_500));

    await stopMosquitto(broker);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(uplink.connected).toBe(false);
    broker = await startMosquitto(conf, port);
    await waitUntil(() => uplink.connected, 'the uplink to reconnect to mosquitto');
    await new Promise((r) => setTimeout(r, 1_000));
    producer.stop();
    uplink.flush();
    await waitUntil(() => {
      const h = uplink.health();
      return h.backlog.telemetry.items + h.backlog.alarms.items === 0;
    }, 'every item to be acknowledged through mosquitto');

    for (const id of ids) {
      const seen = consumer.readings.get(id) ?? new Set<number>();
      const missing = Array.from({ length: producer.produced }, (_, k) => k).filter(
        (k) => !seen.has(k),
      );
      expect(missing).toEqual([]);
    }
    for (const alarmId of producer.alarmIds) {
      expect(consumer.alarms.has(`${alarmId}/raised`)).toBe(true);
      expect(consumer.alarms.has(`${alarmId}/cleared`)).toBe(true);
    }
  }, 40_000);
});
