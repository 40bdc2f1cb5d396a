import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { Outbox, type OutboxOptions } from '../../gateway/outbox/outbox.js';
import { tempDir } from './support.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function open(options: OutboxOptions): Outbox {
  const outbox = new Outbox(options);
  outbox.open();
  cleanups.push(() => outbox.close());
  return outbox;
}

const payload = (size: number) => (seq: number) => JSON.stringify({ seq, pad: 'x'.repeat(size) });

describe('the disk outbox', () => {
  it('keeps every item and the sequence counter across a reopen', () => {
    const file = path.join(tempDir(cleanups), 'outbox.db');
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const first = new Outbox({ path: file, clock });
    first.open();
    const a = first.appendAlarm(payload(10));
    const t = first.appendTelemetry(payload(100), 5);
    expect(a.seq).toBe(clock.now() * 1000); // a new outbox starts at the wall clock in µs
    expect(t.seq).toBe(a.seq + 1);
    first.close();

    const second = open({ path: file, clock });
    expect(second.stats()).toMatchObject({
      alarms: { items: 1 },
      telemetry: { items: 1, readings: 5 },
    });
    expect(JSON.parse(second.payload(t.seq)!)).toMatchObject({ seq: t.seq });
    const next = second.appendTelemetry(payload(10), 1);
    expect(next.seq).toBeGreaterThan(t.seq);
  });

  it('reopens the same instance from the file, not from what it remembered', () => {
    const file = path.join(tempDir(cleanups), 'outbox.db');
    const outbox = open({ path: file });
    outbox.appendTelemetry(payload(10), 2);
    outbox.close();
    outbox.open();
    expect(outbox.stats().telemetry).toMatchObject({ items: 1, readings: 2 });
  });

  it('never hands out a sequence number again, even when every item was acknowledged', () => {
    const file = path.join(tempDir(cleanups), 'outbox.db');
    const first = new Outbox({ path: file });
    first.open();
    const seqs = [1, 2, 3].map(() => first.appendTelemetry(payload(10), 1).seq);
    first.remove(seqs);
    first.close();
    const second = open({ path: file });
    expect(second.appendAlarm(payload(10)).seq).toBeGreaterThan(seqs[2]!);
  });

  it('removes acknowledged items and ignores unknown sequence numbers', () => {
    const outbox = open({});
    const a = outbox.appendTelemetry(payload(10), 3);
    const b = outbox.appendTelemetry(payload(10), 4);
    expect(outbox.remove([a.seq, 12345]).map((e) => e.seq)).toEqual([a.seq]);
    expect(outbox.stats().telemetry).toMatchObject({ items: 1, readings: 4 });
    expect(outbox.payload(a.seq)).toBeUndefined();
    expect(outbox.has(b.seq)).toBe(true);
  });

  it('thins the oldest telemetry when full, counting every batch and reading dropped', () => {
    const shed: { batches: number; readings: number }[] = [];
    const outbox = open({
      telemetryMaxBytes: 10_000,
      onShed: (dropped) => shed.push(dropped),
    });
    const seqs: number[] = [];
    for (let i = 0; i < 40; i++) seqs.push(outbox.appendTelemetry(payload(480), 10).seq);
    const stats = outbox.stats();
    expect(stats.telemetry.bytes).toBeLessThanOrEqual(10_000);
    const kept = [...outbox.entries('telemetry')].map((e) => e.seq);
    expect(stats.dropped.batches).toBe(40 - kept.length);
    expect(stats.dropped.readings).toBe(10 * (40 - kept.length));
    expect(shed.reduce((n, s) => n + s.batches, 0)).toBe(stats.dropped.batches);
    // The newest batches are untouched; the oldest are thinned, not cut off.
    expect(kept.slice(-5)).toEqual(seqs.slice(-5));
    expect(kept[0]).toBe(seqs[0]);
  });

  it('never sheds an item in flight', () => {
    const outbox = open({ telemetryMaxBytes: 5_000 });
    const first = outbox.appendTelemetry(payload(480), 1);
    const second = outbox.appendTelemetry(payload(480), 1);
    outbox.isPinned = (seq) => seq === second.seq;
    for (let i = 0; i < 20; i++) outbox.appendTelemetry(payload(480), 1);
    expect(outbox.has(first.seq)).toBe(true);
    expect(outbox.has(second.seq)).toBe(true);
    expect(outbox.stats().dropped.batches).toBeGreaterThan(0);
  });

  it('never sheds an alarm, even when telemetry is over its bound', () => {
    const outbox = open({ telemetryMaxBytes: 2_000, alarmReserveBytes: 1_000 });
    const alarms = Array.from({ length: 10 }, () => outbox.appendAlarm(payload(400)).seq);
    for (let i = 0; i < 20; i++) outbox.appendTelemetry(payload(400), 1);
    expect(alarms.every((seq) => outbox.has(seq))).toBe(true);
    expect(outbox.stats().alarms.items).toBe(10);
  });

  it('reports the high-water mark once on the way up and once on the way down', () => {
    const events: boolean[] = [];
    const outbox = open({
      telemetryMaxBytes: 10_000,
      highWaterPct: 50,
      onHighWater: (high) => events.push(high),
    });
    const seqs = Array.from({ length: 12 }, () => outbox.appendTelemetry(payload(480), 1).seq);
    expect(outbox.stats().highWater).toBe(true);
    expect(events).toEqual([true]);
    outbox.remove(seqs.slice(0, 8));
    expect(events).toEqual([true, false]);
  });

  it('persists the dropped counts with the items', () => {
    const file = path.join(tempDir(cleanups), 'outbox.db');
    const first = new Outbox({ path: file, telemetryMaxBytes: 3_000 });
    first.open();
    for (let i = 0; i < 20; i++) first.appendTelemetry(payload(480), 2);
    const dropped = first.stats().dropped;
    first.close();
    expect(dropped.batches).toBeGreaterThan(0);
    expect(open({ path: file, telemetryMaxBytes: 3_000 }).stats().dropped).toEqual(dropped);
  });
});
