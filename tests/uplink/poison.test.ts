/**
 * Poison items live forever (issue 13): an outbox item the server cannot read
 * was never rejected by name, so the gateway resent it every ack timeout and
 * it held a telemetry slot in flight. Now the gateway quarantines what it
 * cannot read back itself, and the server rejects by the envelope head what it
 * cannot parse. Real outbox file, real uplink, real server through aedes.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import type { OutboxEvent } from '../../gateway/uplink/mqtt-uplink.js';
import { decodeStoreAck, type StoreAck, topicFor } from '../../protocol/index.js';
import {
  createUplink,
  ENTERPRISE,
  GATEWAY,
  Producer,
  sensorIds,
  startServer,
  storedReport,
  T0,
  tempDir,
  useCleanups,
  waitUntil,
} from './support.js';

const cleanups = useCleanups();
const ids = sensorIds(2);

describe('poison items', () => {
  it('poison items live forever: garbled outbox rows are quarantined, the rest is stored', async () => {
    const dir = tempDir(cleanups);
    const outboxPath = path.join(dir, 'outbox.db');
    // Queue items while the server is unreachable, so they are all in the file.
    const offline = createUplink('mqtt://127.0.0.1:1', outboxPath, ids, {
      reconnectPeriodMs: 60_000,
    });
    await offline.start();
    const producer = new Producer(offline, ids, { tickMs: 50, perTick: 5 });
    for (let i = 0; i < 6; i++) {
      producer.tick();
      offline.flush();
    }
    await offline.stop();

    // Disk damage: one payload garbled from its first byte, one truncated.
    const db = new Database(outboxPath);
    const rows = db.prepare('SELECT seq, payload FROM items ORDER BY seq').all() as {
      seq: number;
      payload: string;
    }[];
    expect(rows).toHaveLength(6);
    const [garbled, truncated] = [rows[1]!, rows[4]!];
    db.prepare('UPDATE items SET payload = ? WHERE seq = ?').run(
      '\u0000\u0013garbage{{',
      garbled.seq,
    );
    db.prepare('UPDATE items SET payload = ? WHERE seq = ?').run(
      truncated.payload.slice(0, truncated.payload.length - 40),
      truncated.seq,
    );
    db.close();

    const server = await startServer(path.join(dir, 'server.db'));
    cleanups.push(() => server.stop());
    const events: OutboxEvent[] = [];
    const uplink = createUplink(`mqtt://127.0.0.1:${server.mqttPort}`, outboxPath, ids, {
      ackTimeoutMs: 500,
      onOutboxEvent: (event) => events.push(event),
    });
    await uplink.start();
    cleanups.push(() => uplink.stop());
    await waitUntil(() => {
      const h = uplink.health();
      return h.backlog.telemetry.items + h.backlog.alarms.items === 0;
    }, 'the outbox to empty (poison items must not live forever)');

    const health = uplink.health();
    expect(health.quarantined).toBe(2);
    expect(
      events
        .filter((e) => e.type === 'quarantined')
        .map((e) => (e.type === 'quarantined' ? e.seq : -1)),
    ).toEqual([garbled.seq, truncated.seq]);
    await uplink.stop();
    // Kept for forensics, as found, and no longer in the outbox.
    const after = new Database(outboxPath, { readonly: true });
    const kept = after.prepare('SELECT seq, reason FROM quarantine ORDER BY seq').all() as {
      seq: number;
      reason: string;
    }[];
    expect(kept.map((k) => k.seq)).toEqual([garbled.seq, truncated.seq]);
    expect(kept[0]!.reason).toMatch(/not JSON/);
    expect(after.prepare('SELECT count(*) AS n FROM items').get()).toEqual({ n: 0 });
    after.close();
    // The other four batches (ticks 0, 2, 3, 5) are stored.
    const report = await storedReport(server, ids, producer.produced);
    expect(report.missing).toBe(2 * 5 * ids.length);
    expect(report.duplicates + report.extra).toBe(0);
  }, 30_000);

  it('the server rejects by name a payload it cannot parse, from the envelope head', async () => {
    const dir = tempDir(cleanups);
    const server = await startServer(path.join(dir, 'server.db'));
    cleanups.push(() => server.stop());
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, {
      clientId: GATEWAY,
    });
    cleanups.push(() => client.endAsync(true));
    const acks: StoreAck[] = [];
    client.on('message', (_topic, payload) => {
      const decoded = decodeStoreAck(payload);
      if (decoded.ok) acks.push(decoded.value);
    });
    await client.subscribeAsync(topicFor(ENTERPRISE, GATEWAY, 'ack'), { qos: 1 });
    const head = `{"v":1,"gatewayId":"${GATEWAY}","enterpriseId":"${ENTERPRISE}","seq":`;
    const epoch = '"epoch":"AAAAAAAAAAAAAAAAAAAAAA"';
    const telemetry = topicFor(ENTERPRISE, GATEWAY, 'telemetry');
    const alarm = topicFor(ENTERPRISE, GATEWAY, 'alarm');
    // Truncated, garbled after the head, and a wrong type deep inside.
    await client.publishAsync(telemetry, `${head}41,${epoch},"sentAt":${T0},"readings":[{"sen`, {
      qos: 1,
    });
    await client.publishAsync(telemetry, `${head}42,"sentAt":\u0000\u0001\u0002`, { qos: 1 });
    await client.publishAsync(alarm, `${head}43,${epoch},"sentAt":${T0},"alarmId":{}}`, {
      qos: 1,
    });
    await waitUntil(
      () => acks.flatMap((a) => a.rejected ?? []).length >= 3,
      'three rejections by name',
    );
    expect(acks.flatMap((a) => a.rejected ?? []).sort((a, b) => a - b)).toEqual([41, 42, 43]);
    expect(acks.flatMap((a) => a.seqs)).toEqual([]);
    const metrics = server.ingest.metrics();
    expect(metrics.rejectedByReason['not-json']).toBe(2);
    expect(metrics.rejectedByReason.schema).toBe(1);
  }, 20_000);
});
