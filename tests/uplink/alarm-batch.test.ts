/**
 * Issue 19: the alarms one rule evaluation produces (a level-1 and a level-2 raise from the same
 * poll) are committed together, one fsync for all, and each is still on disk before it is sent.
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock, systemClock } from '../../common/clock.js';
import { Outbox } from '../../gateway/outbox/outbox.js';
import { MqttUplink, type UplinkAlarmHop } from '../../gateway/uplink/mqtt-uplink.js';
import type { AlarmTransitionPayload } from '../../gateway/uplink/uplink.js';
import type { AlarmEvent } from '../../protocol/index.js';
import { collectMessages, startTestBroker } from '../support/broker.js';
import { tempDir } from './support.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const payload = (tag: string) => (seq: number) => JSON.stringify({ seq, tag });

/** Counts the outbox's FULL (fsynced) commits; the one fsync per batch is the point. */
function countFullCommits(outbox: Outbox): { count: number } {
  const file = (outbox as unknown as { file: { withFullSync(fn: () => void): void } }).file;
  const withFullSync = file.withFullSync.bind(file);
  const counter = { count: 0 };
  file.withFullSync = (fn) => {
    counter.count++;
    withFullSync(fn);
  };
  return counter;
}

const raise = (alarmId: string, level: 1 | 2): AlarmTransitionPayload => ({
  alarmId,
  ruleId: 'GT-101-gas',
  sensorId: 'GT-101',
  level,
  transition: 'raised',
  value: 60,
  unit: '%LEL',
  setpoint: level === 2 ? 40 : 20, // GB/T 50493-2019 §5.5.3 item 1: at most 25 / 50 %LEL
  ts: Date.now(),
  drill: false,
});

describe('alarms of one evaluation', () => {
  it('are appended in one FULL commit, in order, with consecutive numbers, and survive a reopen', () => {
    const file = path.join(tempDir(cleanups), 'outbox.db');
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const outbox = new Outbox({ path: file, clock });
    outbox.open();
    const commits = countFullCommits(outbox);
    const entries = outbox.appendAlarms([payload('L1'), payload('L2'), payload('L1-other')]);
    expect(commits.count).toBe(1);
    expect(entries.map((e) => e.seq)).toEqual([0, 1, 2].map((i) => entries[0]!.seq + i));
    outbox.close();

    const reopened = new Outbox({ path: file, clock });
    reopened.open();
    cleanups.push(() => reopened.close());
    expect(reopened.stats().alarms.items).toBe(3);
    expect(entries.map((e) => JSON.parse(reopened.payload(e.seq)!).tag)).toEqual([
      'L1',
      'L2',
      'L1-other',
    ]);
    expect(reopened.appendAlarm(payload('next')).seq).toBeGreaterThan(entries[2]!.seq);
  });

  it('stores none of them when one cannot be built', () => {
    const outbox = new Outbox({ path: path.join(tempDir(cleanups), 'outbox.db') });
    outbox.open();
    cleanups.push(() => outbox.close());
    const broken = () => {
      throw new Error('transition cannot be serialised');
    };
    expect(() => outbox.appendAlarms([payload('L1'), broken])).toThrow(/cannot be serialised/);
    expect(outbox.stats().alarms.items).toBe(0);
  });

  it('are committed once by the uplink, then sent highest level first, each after its commit', async () => {
    const broker = await startTestBroker();
    cleanups.push(() => broker.close());
    const sub = await collectMessages(broker.url, 'hazardwatch/v1/+/+/alarm');
    cleanups.push(() => sub.client.endAsync());
    const uplink = new MqttUplink({
      url: broker.url,
      gatewayId: 'gw-1',
      enterpriseId: 'ent-1',
      sensors: [],
      clock: systemClock,
      outbox: { path: path.join(tempDir(cleanups), 'outbox.db') },
    });
    await uplink.start();
    cleanups.push(() => uplink.stop());
    uplink.publishAlarm(raise('GT-101-gas.L1.0', 1)); // sent once ready: the connection is up
    await sub.waitFor((m) => (m.payload as AlarmEvent).alarmId === 'GT-101-gas.L1.0');
    sub.messages.length = 0;
    const commits = countFullCommits((uplink as unknown as { outbox: Outbox }).outbox);
    const hops: [UplinkAlarmHop, string][] = [];
    uplink.observeAlarms((hop, alarmId) => hops.push([hop, alarmId]));

    uplink.publishAlarms([raise('GT-101-gas.L1.1', 1), raise('GT-101-gas.L2.1', 2)]);
    expect(commits.count).toBe(1);
    await sub.waitFor((m) => (m.payload as AlarmEvent).alarmId === 'GT-101-gas.L2.1');
    await sub.waitFor((m) => (m.payload as AlarmEvent).alarmId === 'GT-101-gas.L1.1');
    const sent = sub.messages.map((m) => m.payload as AlarmEvent);
    // Committed in the order given; sent highest level first, so the server handles the page first.
    expect(sent.map((a) => a.alarmId)).toEqual(['GT-101-gas.L2.1', 'GT-101-gas.L1.1']);
    expect(sent[0]!.seq).toBe(sent[1]!.seq + 1);
    expect(hops.slice(0, 2)).toEqual([
      ['outbox-committed', 'GT-101-gas.L1.1'],
      ['outbox-committed', 'GT-101-gas.L2.1'],
    ]);
    expect(hops.slice(2)).toEqual([
      ['published', 'GT-101-gas.L2.1'],
      ['published', 'GT-101-gas.L1.1'],
    ]);

    uplink.observeAlarms(null);
    uplink.publishAlarm(raise('GT-101-gas.L2.2', 2));
    await sub.waitFor((m) => (m.payload as AlarmEvent).alarmId === 'GT-101-gas.L2.2');
    expect(hops).toHaveLength(4);
  });

  it('sends a level-2 raise ahead of a level-1 raise handed over one by one in the same tick', async () => {
    const broker = await startTestBroker();
    cleanups.push(() => broker.close());
    const sub = await collectMessages(broker.url, 'hazardwatch/v1/+/+/alarm');
    cleanups.push(() => sub.client.endAsync());
    const uplink = new MqttUplink({
      url: broker.url,
      gatewayId: 'gw-1',
      enterpriseId: 'ent-1',
      sensors: [],
      clock: systemClock,
      outbox: { path: path.join(tempDir(cleanups), 'outbox.db') },
    });
    await uplink.start();
    cleanups.push(() => uplink.stop());
    uplink.publishAlarm(raise('GT-101-gas.L1.0', 1)); // sent once ready: the connection is up
    await sub.waitFor((m) => (m.payload as AlarmEvent).alarmId === 'GT-101-gas.L1.0');

    uplink.publishAlarm(raise('GT-101-gas.L1.3', 1));
    uplink.publishAlarm(raise('GT-101-gas.L2.3', 2));
    await sub.waitFor((m) => (m.payload as AlarmEvent).alarmId === 'GT-101-gas.L1.3');
    expect(sub.messages.map((m) => (m.payload as AlarmEvent).alarmId)).toEqual([
      'GT-101-gas.L1.0',
      'GT-101-gas.L2.3',
      'GT-101-gas.L1.3',
    ]);
  });
});
