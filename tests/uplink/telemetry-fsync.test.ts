/**
 * Issue 19: telemetry must never delay an alarm. A telemetry batch is committed at once (a crash
 * cannot lose it) and fsynced off the event loop; it is sent only after that fsync, and an alarm
 * never waits for it.
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../common/clock.js';
import { Outbox } from '../../gateway/outbox/outbox.js';
import { MqttUplink } from '../../gateway/uplink/mqtt-uplink.js';
import type { AlarmEvent, TelemetryBatch } from '../../protocol/index.js';
import { collectMessages, startTestBroker } from '../support/broker.js';
import { tempDir } from './support.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const payload = (seq: number) => JSON.stringify({ seq, readings: [] });

/** A background fsync the test releases by hand. */
function heldSync() {
  const pending: { path: string; done: (err: Error | null) => void }[] = [];
  return {
    pending,
    syncFile: (walPath: string, done: (err: Error | null) => void) => {
      pending.push({ path: walPath, done });
    },
    release(err: Error | null = null) {
      for (const p of pending.splice(0)) p.done(err);
    },
  };
}

describe('the outbox fsyncs telemetry off the event loop', () => {
  it('holds a batch back until its fsync of the WAL completed, then reports it', () => {
    const sync = heldSync();
    const synced: number[][] = [];
    const file = path.join(tempDir(cleanups), 'outbox.db');
    const outbox = new Outbox({
      path: file,
      syncFile: sync.syncFile,
      onTelemetrySynced: (seqs) => synced.push([...seqs]),
    });
    outbox.open();
    cleanups.push(() => outbox.close());
    const a = outbox.appendTelemetry(payload, 1);
    const b = outbox.appendTelemetry(payload, 1); // joins the next fsync: one runs at a time

    expect(sync.pending.map((p) => p.path)).toEqual([`${file}-wal`]);
    expect([outbox.isSynced(a.seq), outbox.isSynced(b.seq)]).toEqual([false, false]);
    sync.release();
    expect(synced).toEqual([[a.seq]]);
    expect(sync.pending).toHaveLength(1); // the second fsync covers b
    sync.release();
    expect(synced).toEqual([[a.seq], [b.seq]]);
    expect(outbox.isSynced(b.seq)).toBe(true);
  });

  it('falls back to a FULL commit when the background fsync fails, and still reports the batch', () => {
    const sync = heldSync();
    const synced: number[] = [];
    const outbox = new Outbox({
      path: path.join(tempDir(cleanups), 'outbox.db'),
      syncFile: sync.syncFile,
      onTelemetrySynced: (seqs) => synced.push(...seqs),
    });
    outbox.open();
    cleanups.push(() => outbox.close());
    const a = outbox.appendTelemetry(payload, 1);
    sync.release(new Error('EIO: i/o error, fdatasync'));
    expect(synced).toEqual([a.seq]);
  });

  it('counts an alarm’s FULL commit as the fsync of every batch before it', () => {
    const sync = heldSync();
    const outbox = new Outbox({
      path: path.join(tempDir(cleanups), 'outbox.db'),
      syncFile: sync.syncFile,
    });
    outbox.open();
    cleanups.push(() => outbox.close());
    const t = outbox.appendTelemetry(payload, 1);
    outbox.appendAlarm(payload);
    expect(outbox.isSynced(t.seq)).toBe(true);
  });

  it('syncs with the real fdatasync by default, and never holds back telemetry with sync normal', async () => {
    const dir = tempDir(cleanups);
    const full = new Outbox({ path: path.join(dir, 'full.db') });
    full.open();
    cleanups.push(() => full.close());
    const synced = new Promise<readonly number[]>((resolve) => {
      (
        full as unknown as { options: { onTelemetrySynced?: (s: readonly number[]) => void } }
      ).options.onTelemetrySynced = resolve;
    });
    const a = full.appendTelemetry(payload, 1);
    expect(await synced).toEqual([a.seq]);

    const normal = new Outbox({ path: path.join(dir, 'normal.db'), telemetrySync: 'normal' });
    normal.open();
    cleanups.push(() => normal.close());
    expect(normal.isSynced(normal.appendTelemetry(payload, 1).seq)).toBe(true);
  });
});

const raise = (alarmId: string, level: 1 | 2) => ({
  alarmId,
  ruleId: 'GT-101-gas',
  sensorId: 'GT-101',
  level,
  transition: 'raised' as const,
  value: 61,
  unit: '%LEL',
  setpoint: level === 2 ? 40 : 20, // GB/T 50493-2019 §5.5.3 item 1: at most 50 / 25 %LEL
  ts: Date.now(),
  drill: false,
});

describe('the uplink with telemetry waiting for its fsync', () => {
  async function setup() {
    const broker = await startTestBroker();
    cleanups.push(() => broker.close());
    const sub = await collectMessages(broker.url, 'hazardwatch/v1/+/+/+');
    cleanups.push(() => sub.client.endAsync());
    const sync = heldSync();
    const uplink = new MqttUplink({
      url: broker.url,
      gatewayId: 'gw-1',
      enterpriseId: 'ent-1',
      sensors: [],
      clock: systemClock,
      publishIntervalMs: 60_000, // flushed by hand
      outbox: { path: path.join(tempDir(cleanups), 'outbox.db'), syncFile: sync.syncFile },
    });
    await uplink.start();
    cleanups.push(() => uplink.stop());
    // Ready (subscribed to its acks) once a first alarm went out.
    uplink.publishAlarm(raise('GT-101-gas.L1.0', 1));
    await sub.waitFor((m) => (m.payload as AlarmEvent).alarmId === 'GT-101-gas.L1.0');
    sub.messages.length = 0;
    return { sub, sync, uplink };
  }

  it('sends a batch only once its fsync completed', async () => {
    const { sub, sync, uplink } = await setup();
    uplink.publishReadings([{ sensorId: 'GT-101', value: 3, quality: 'good', ts: Date.now() }]);
    const before = uplink.health().inFlight; // the first alarm (a bare broker never acks)
    uplink.flush();
    expect(uplink.health().inFlight).toBe(before); // committed, not sent
    expect(uplink.health().backlog.telemetry.items).toBe(1);
    sync.release();
    expect(uplink.health().inFlight).toBe(before + 1);
    await sub.waitFor((m) => m.topic.endsWith('/telemetry'));
  });

  it('sends an alarm at once while a batch waits for its fsync, and the batch right after it', async () => {
    const { sub, uplink } = await setup();
    uplink.publishReadings([{ sensorId: 'GT-101', value: 61, quality: 'good', ts: Date.now() }]);
    uplink.flush();
    uplink.publishAlarm(raise('GT-101-gas.L2.1', 2));
    await sub.waitFor((m) => m.topic.endsWith('/telemetry'));
    const sent = sub.messages.filter(
      (m) => !m.topic.endsWith('/status') && !m.topic.endsWith('/ack'),
    );
    expect(sent.map((m) => m.topic.split('/').at(-1))).toEqual(['alarm', 'telemetry']);
    expect((sent[0]!.payload as AlarmEvent).alarmId).toBe('GT-101-gas.L2.1');
    expect((sent[1]!.payload as TelemetryBatch).readings[0]!.value).toBe(61);
  });
});
