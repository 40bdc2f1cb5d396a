/**
 * Replay after an outage: alarms first and never queued behind the backlog,
 * live telemetry not starved by it, the backlog paced by the replay bound.
 * Scaled: 60,000 backlog readings at a 20,000 readings/s bound. The numbers
 * (drain rate, alarm latency) are measured in bench/uplink.bench.ts; this test
 * checks order and counts only.
 *
 * The uplink paces replay with a token bucket on performance.now() (its
 * `monotonic` pacing clock). The test holds that clock still and moves it by
 * hand, so what the limiter lets through is a count, not a rate.
 */
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { freePort } from '../../common/net.js';
import { MQTT_UPLINK_DEFAULTS } from '../../gateway/uplink/mqtt-uplink.js';
import type { CentralServer } from '../../server/central-server.js';
import {
  createUplink,
  GATEWAY,
  Producer,
  sensorIds,
  startServer,
  T0,
  tempDir,
  useCleanups,
  waitUntil,
} from './support.js';

const cleanups = useCleanups();

type Stored = { kind: 'alarm'; alarmId: string } | { kind: 'live' | 'backlog'; readings: number };

describe('replaying a backlog', () => {
  it('sends held alarms first, keeps live alarms and live data ahead of the backlog, and paces the backlog by the bound', async () => {
    const dir = tempDir(cleanups);
    const port = await freePort();
    const ids = sensorIds(10);
    const bound = 20_000;
    const uplink = createUplink(`mqtt://127.0.0.1:${port}`, path.join(dir, 'outbox.db'), ids, {
      replayReadingsPerS: bound,
    });
    await uplink.start();
    cleanups.push(() => uplink.stop());
    const perTick = 5;
    const batchReadings = perTick * ids.length; // one outbox batch per tick below
    const producer = new Producer(uplink, ids, { tickMs: 50, perTick }); // 1,000 readings/s
    while (producer.produced * ids.length < 60_000) {
      producer.tick();
      uplink.flush();
    }
    const heldAlarm = producer.alarm(); // held while the server is down
    const backlog = uplink.health().backlog.telemetry.readings;
    expect(backlog).toBe(60_000);
    const liveFrom = producer.produced; // readings k >= liveFrom are live

    // The pacing clock, held still from here on. It starts past the uplink's 10 s
    // rate window, so the backlog written above in a tight loop does not count as
    // live rate (which would raise the replay bound to 3x live).
    const realNow = performance.now.bind(performance);
    let offset = MQTT_UPLINK_DEFAULTS.rateWindowMs + 1_000;
    let heldAt: number | null = realNow() + offset;
    const pacingClock = vi
      .spyOn(performance, 'now')
      .mockImplementation(() => heldAt ?? realNow() + offset);
    cleanups.push(() => pacingClock.mockRestore());

    const server: CentralServer = await startServer(path.join(dir, 'server.db'), port);
    cleanups.push(() => server.stop());
    const stored: Stored[] = [];
    let batchesStored = 0;
    let mixedBatches = 0;
    let backlogStored = 0;
    const liveBatches = () => stored.filter((s) => s.kind === 'live').length;
    // Live alarm id -> telemetry batches stored when it was published, and how many
    // telemetry batches were stored between its publication and its own arrival.
    const publishedAfter = new Map<string, number>();
    const telemetryAhead = new Map<string, number>();
    server.events.on('alarm', (alarm) => {
      stored.push({ kind: 'alarm', alarmId: alarm.alarmId });
      const mark = publishedAfter.get(alarm.alarmId);
      if (mark !== undefined && !telemetryAhead.has(alarm.alarmId)) {
        telemetryAhead.set(alarm.alarmId, batchesStored - mark);
      }
    });
    server.events.on('readings', (event) => {
      if (event.gatewayId !== GATEWAY) return;
      const live = event.readings.every((r) => r.ts - T0 >= liveFrom);
      if (!live && event.readings.some((r) => r.ts - T0 >= liveFrom)) mixedBatches++;
      stored.push({ kind: live ? 'live' : 'backlog', readings: event.readings.length });
      batchesStored++;
      if (!live) backlogStored += event.readings.length;
    });
    await waitUntil(() => uplink.connected, 'the uplink to connect');
    producer.start();
    const alarmTimer = setInterval(() => {
      const mark = batchesStored;
      publishedAfter.set(producer.alarm(), mark);
    }, 100);
    cleanups.push(() => clearInterval(alarmTimer));
    cleanups.push(() => producer.stop());

    // 1. Pacing clock held: the backlog gets the bucket's initial burst and no more,
    //    while live telemetry and live alarms keep arriving.
    const burst = bound * MQTT_UPLINK_DEFAULTS.replayBurstS;
    await waitUntil(() => liveBatches() >= 10, 'ten live batches');
    await waitUntil(
      () => stored.filter((s) => s.kind === 'alarm' && s.alarmId !== heldAlarm).length >= 4,
      'live alarms',
    );
    expect(uplink.health().replayReadingsPerS).toBe(bound);
    expect(stored[0]).toEqual({ kind: 'alarm', alarmId: heldAlarm }); // before any telemetry
    expect(backlogStored).toBeGreaterThan(0);
    expect(backlogStored).toBeLessThanOrEqual(burst + batchReadings);
    expect(backlog - backlogStored).toBeGreaterThan(backlog / 2);

    // 2. 100 ms of pacing time buys 100 ms worth of backlog at the bound, and no more.
    let before = backlogStored;
    const step = bound / 10;
    heldAt += 100;
    await waitUntil(() => backlogStored >= before + step - batchReadings, 'the next 100 ms');
    let live = liveBatches();
    await waitUntil(() => liveBatches() >= live + 5, 'five more live batches');
    expect(backlogStored - before).toBeLessThanOrEqual(step + batchReadings);

    // 3. A long pause does not turn into a flood: tokens never exceed the burst.
    //    (1 s: below the 2 s ack timeout, so nothing in flight is resent.)
    before = backlogStored;
    heldAt += 1_000;
    await waitUntil(() => backlogStored >= before + burst - batchReadings, 'one burst');
    live = liveBatches();
    await waitUntil(() => liveBatches() >= live + 5, 'five more live batches');
    expect(backlogStored - before).toBeLessThanOrEqual(burst + batchReadings);

    // 4. Real pacing again: the rest drains while live batches and alarms keep
    //    going between backlog batches instead of waiting for the backlog.
    const resumedAt = stored.length;
    offset = heldAt - realNow();
    heldAt = null;
    await waitUntil(() => backlogStored === backlog, 'the backlog to drain', 30_000);
    clearInterval(alarmTimer);
    producer.stop();

    expect(mixedBatches).toBe(0); // a batch is either backlog or live
    const lastBacklog = stored.findLastIndex((s) => s.kind === 'backlog');
    const duringDrain = stored.slice(resumedAt, lastBacklog);
    expect(duringDrain.filter((s) => s.kind === 'live').length).toBeGreaterThanOrEqual(3);
    expect(duringDrain.filter((s) => s.kind === 'alarm').length).toBeGreaterThanOrEqual(3);
    // No live alarm waited behind more telemetry than the in-flight window holds.
    expect(telemetryAhead.size).toBeGreaterThan(10);
    expect(Math.max(...telemetryAhead.values())).toBeLessThanOrEqual(
      MQTT_UPLINK_DEFAULTS.maxInFlight,
    );
  }, 40_000);
});
