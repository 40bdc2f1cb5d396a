/**
 * Issue 11 item 6: a healthy gateway showed `_uplink.backlog` and
 * `_uplink.dropped` as bad "no data yet" forever, because the outbox reported
 * only on high water or shedding. The uplink now emits a 'stats' event at
 * start and every `statsIntervalMs`, so the gateway can report both always.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../common/clock.js';
import { MqttUplink, type OutboxEvent } from '../../gateway/uplink/mqtt-uplink.js';
import { startTestBroker } from '../support/broker.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  vi.useRealTimers();
  while (cleanups.length) await cleanups.pop()!();
});

describe('uplink stats events', () => {
  it('reports the outbox figures at start and at every interval, with nothing wrong', async () => {
    const broker = await startTestBroker();
    cleanups.push(() => broker.close());
    // Only the interval timers are faked: mqtt.js keeps its real timeouts.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const events: OutboxEvent[] = [];
    const uplink = new MqttUplink({
      url: broker.url,
      gatewayId: 'gw-1',
      enterpriseId: 'ent-1',
      sensors: [],
      clock: systemClock,
      statsIntervalMs: 10_000,
      onOutboxEvent: (event) => events.push(event),
    });
    await uplink.start();
    cleanups.push(() => uplink.stop());

    const stats = () => events.filter((e) => e.type === 'stats');
    expect(stats()).toHaveLength(1);
    const first = stats()[0]!;
    expect(first.type === 'stats' && first.stats).toMatchObject({
      fillPct: 0,
      dropped: { batches: 0, readings: 0 },
      highWater: false,
    });
    expect(first.type === 'stats' && first.health).toMatchObject({
      backlog: { telemetry: { items: 0 } },
      quarantined: 0,
      storageFaults: 0,
    });

    vi.advanceTimersByTime(9_999);
    expect(stats()).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(stats()).toHaveLength(2);
    vi.advanceTimersByTime(30_000);
    expect(stats()).toHaveLength(5);
    // Nothing but stats: no high-water, no shedding on a healthy gateway.
    expect(events.every((e) => e.type === 'stats')).toBe(true);
  });
});
