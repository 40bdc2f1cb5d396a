/**
 * Replay after an outage: bounded in rate, alarms first and within a second,
 * live telemetry not starved by the backlog. Scaled: 60,000 backlog readings
 * at a 20,000 readings/s bound (the benchmark drains 300,000 at 30,000/s).
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../common/net.js';
import type { CentralServer } from '../../server/central-server.js';
import {
  createUplink,
  Producer,
  sensorIds,
  startServer,
  T0,
  tempDir,
  waitUntil,
} from './support.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe('replaying a backlog', () => {
  it('sends held alarms first, keeps live alarms under a second and live data flowing, at a bounded rate', async () => {
    const dir = tempDir(cleanups);
    const port = await freePort();
    const ids = sensorIds(10);
    const bound = 20_000;
    const uplink = createUplink(`mqtt://127.0.0.1:${port}`, path.join(dir, 'outbox.db'), ids, {
      replayReadingsPerS: bound,
    });
    await uplink.start();
    cleanups.push(() => uplink.stop());
    const producer = new Producer(uplink, ids, { tickMs: 50, perTick: 5 }); // 1,000 readings/s
    while (producer.produced * ids.length < 60_000) {
      producer.tick();
      uplink.flush();
    }
    const heldAlarm = producer.alarm(); // held while the server is down
    const backlog = uplink.health().backlog.telemetry.readings;

    const server: CentralServer = await startServer(path.join(dir, 'server.db'), port);
    cleanups.push(() => server.stop());
    const latencies: number[] = [];
    const alarmOrder: string[] = [];
    let firstTelemetryAt = 0;
    server.events.on('alarm', (alarm) => {
      alarmOrder.push(alarm.alarmId);
      if (alarm.alarmId !== heldAlarm && alarm.raisedAt !== null) {
        latencies.push(Date.now() - alarm.raisedAt);
      }
    });
    server.events.on('readings', () => {
      firstTelemetryAt ||= Date.now();
    });
    await waitUntil(() => uplink.connected, 'the uplink to connect');
    const connectedAt = Date.now();
    const liveFrom = producer.produced; // readings k >= liveFrom are live
    producer.start();
    const alarmTimer = setInterval(() => producer.alarm(), 100);
    cleanups.push(() => clearInterval(alarmTimer));
    cleanups.push(() => producer.stop());

    // Live data is not starved: a live reading is stored long before the backlog is gone.
    await waitUntil(async () => {
      const rows = await server.store.queryRange({
        gatewayId: 'gw-sf',
        sensorId: ids[0]!,
        from: T0 + liveFrom,
        to: T0 + liveFrom + 1_000_000,
        limit: 1,
      });
      return rows.length > 0;
    }, 'a live reading');
    const liveStoredAfter = Date.now() - connectedAt;
    await waitUntil(
      () => uplink.health().backlog.telemetry.readings < 2_000,
      'the backlog to drain',
      30_000,
    );
    const drainS = (Date.now() - connectedAt) / 1000;
    clearInterval(alarmTimer);
    producer.stop();

    expect(alarmOrder[0]).toBe(heldAlarm); // the held alarm went before the telemetry backlog
    expect(liveStoredAfter).toBeLessThan(1_500);
    expect(latencies.length).toBeGreaterThan(10);
    expect(Math.max(...latencies)).toBeLessThan(1_000);
    // Bounded: not faster than the bound (plus the bucket's 0.25 s burst), at least 3x live.
    expect(backlog / drainS).toBeLessThan(bound * 1.3);
    expect(backlog / drainS).toBeGreaterThan(3 * 1_000);
    expect(firstTelemetryAt).toBeGreaterThan(0);
  }, 40_000);
});
