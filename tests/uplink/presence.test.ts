import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import type { GatewayStatus } from '../../protocol/index.js';
import { EventHub } from '../../server/events.js';
import {
  GATEWAY_OFFLINE_RULE,
  type GatewayPresence,
  GatewayPresenceMonitor,
  GatewayRegistry,
} from '../../server/gateways.js';
import { testLedger } from '../support/ledger.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function setup(expectedRestart?: (gatewayId: string) => boolean) {
  const clock = new ManualClock(Date.UTC(2026, 5, 1, 8));
  const registry = new GatewayRegistry(clock);
  const events = new EventHub();
  const ledger = testLedger({ clock });
  await ledger.start();
  cleanups.push(() => ledger.stop());
  const monitor = new GatewayPresenceMonitor({
    registry,
    ledger,
    events,
    clock,
    checkIntervalMs: 60_000,
    ...(expectedRestart ? { expectedRestart, expectedRestartHoldMs: 60_000 } : {}),
  });
  await monitor.start();
  cleanups.push(() => monitor.stop());
  const seen: GatewayPresence[] = [];
  events.on('gateway', (g) => seen.push(g));
  // What ingest does with a status message.
  const status = (state: GatewayStatus['state'], ts = clock.now()) => {
    const update = registry.applyStatus({
      v: 1,
      gatewayId: 'gw-1',
      enterpriseId: 'ent-1',
      state,
      ts,
    });
    if (update.changed) events.emit('gateway', update.gateway);
  };
  /** The offline alarms in the ledger once the monitor's writes so far have committed. */
  const offlineAlarms = async () => {
    await monitor.settled();
    return (await ledger.list({ state: 'all' })).filter((a) => a.ruleId === GATEWAY_OFFLINE_RULE);
  };
  return { clock, registry, monitor, ledger, status, seen, offlineAlarms };
}

describe('gateway presence on the server', () => {
  it('raised a gateway-offline alarm for every gateway applying a pushed configuration: an expected restart is held', async () => {
    const { clock, monitor, status, offlineAlarms } = await setup(() => true);
    status('online');
    status('offline'); // the clean offline of a gateway restarting with its new version
    clock.advance(5_000);
    monitor.check();
    status('online');
    clock.advance(120_000);
    monitor.check();
    expect(await offlineAlarms()).toEqual([]);
  });

  it('a gateway crash-looping during an expected restart is not held for ever: the third drop raises at once', async () => {
    const { clock, status, offlineAlarms } = await setup(() => true);
    status('online');
    for (let drop = 1; drop <= 2; drop++) {
      status('offline');
      clock.advance(10_000);
      status('online');
    }
    expect(await offlineAlarms()).toEqual([]);
    status('offline');
    expect(await offlineAlarms()).toMatchObject([{ gatewayId: 'gw-1', state: 'active' }]);
  });

  it('raises the held offline alarm when the expected restart takes longer than the hold', async () => {
    const { clock, monitor, status, offlineAlarms } = await setup(() => true);
    status('online');
    status('offline');
    clock.advance(59_000);
    monitor.check();
    expect(await offlineAlarms()).toEqual([]);
    clock.advance(1_000);
    monitor.check();
    expect(await offlineAlarms()).toMatchObject([{ gatewayId: 'gw-1', state: 'active', level: 1 }]);
    status('online');
    expect(await offlineAlarms()).toMatchObject([{ state: 'cleared' }]);
  });

  it('marks a silent gateway and its sensors stale after two missed heartbeats and raises a gateway-offline alarm', async () => {
    const { clock, registry, monitor, status, offlineAlarms } = await setup();
    status('online');
    clock.advance(30_000); // two heartbeats missed, still within the grace
    monitor.check();
    expect(registry.get('gw-1')?.state).toBe('online');
    clock.advance(6_000);
    monitor.check();
    expect(registry.get('gw-1')).toMatchObject({
      state: 'offline',
      stale: true,
      staleReason: 'heartbeat-timeout',
    });
    expect(registry.sensorsStale('gw-1')).toBe(true);
    expect(await offlineAlarms()).toMatchObject([{ gatewayId: 'gw-1', state: 'active', level: 1 }]);
  });

  it('raises the alarm on the last will and clears it when the gateway is back', async () => {
    const { clock, registry, status, offlineAlarms } = await setup();
    status('online');
    status('offline');
    expect(registry.get('gw-1')).toMatchObject({ stale: true, staleReason: 'offline' });
    expect(await offlineAlarms()).toMatchObject([{ state: 'active' }]);
    clock.advance(1_000);
    status('online');
    expect(registry.get('gw-1')?.stale).toBe(false);
    expect(await offlineAlarms()).toMatchObject([{ state: 'cleared' }]);
    status('offline');
    expect((await offlineAlarms()).filter((a) => a.state === 'active')).toHaveLength(1);
  });

  it('keeps an offline alarm raised before a server restart and clears it on the next birth', async () => {
    const { ledger, monitor, registry, status, offlineAlarms } = await setup();
    status('online');
    status('offline');
    await monitor.settled(); // the raise has committed before the "restart"
    const events = new EventHub();
    const fresh = new GatewayRegistry();
    const again = new GatewayPresenceMonitor({ registry: fresh, ledger, events });
    await again.start();
    cleanups.push(() => again.stop());
    const update = fresh.applyStatus({
      v: 1,
      gatewayId: 'gw-1',
      enterpriseId: 'ent-1',
      state: 'online',
      ts: Date.now(),
    });
    events.emit('gateway', update.gateway);
    await again.settled();
    expect(await offlineAlarms()).toMatchObject([{ state: 'cleared' }]);
    expect(registry.list()).toHaveLength(1);
  });

  it('a last will taken before the monitor started raised no offline alarm, and a birth taken before it left the old alarm active: the monitor reconciles on start', async () => {
    const clock = new ManualClock(Date.UTC(2026, 5, 1, 8));
    const registry = new GatewayRegistry(clock);
    const events = new EventHub();
    const ledger = testLedger({ clock });
    await ledger.start();
    cleanups.push(() => ledger.stop());
    const apply = (gatewayId: string, state: GatewayStatus['state']) =>
      registry.applyStatus({ v: 1, gatewayId, enterpriseId: 'ent-1', state, ts: clock.now() });
    // gw-2's offline alarm from before a restart; it reconnected before the monitor started.
    const first = new GatewayPresenceMonitor({ registry, ledger, events, clock });
    await first.start();
    apply('gw-2', 'online');
    events.emit('gateway', apply('gw-2', 'offline').gateway);
    await first.stop();
    clock.advance(1_000);
    apply('gw-2', 'online');
    // gw-1's will reached the registry (the broker runs before the monitor starts).
    apply('gw-1', 'online');
    apply('gw-1', 'offline');
    const monitor = new GatewayPresenceMonitor({ registry, ledger, events, clock });
    await monitor.start();
    cleanups.push(() => monitor.stop());
    await monitor.settled();
    const alarms = (await ledger.list({ state: 'all' })).filter(
      (a) => a.ruleId === GATEWAY_OFFLINE_RULE,
    );
    expect(alarms.map((a) => [a.gatewayId, a.state]).sort()).toEqual([
      ['gw-1', 'active'],
      ['gw-2', 'cleared'],
    ]);
  });

  it('a raise the ledger failed to commit is not held as raised: the next offline report raises it', async () => {
    const clock = new ManualClock(Date.UTC(2026, 5, 1, 8));
    const registry = new GatewayRegistry(clock);
    const events = new EventHub();
    const ledger = testLedger({ clock });
    await ledger.start();
    cleanups.push(() => ledger.stop());
    let failures = 1;
    const monitor = new GatewayPresenceMonitor({
      registry,
      events,
      clock,
      ledger: {
        list: (query) => ledger.list(query),
        record: (event) =>
          failures-- > 0 ? Promise.reject(new Error('database unreachable')) : ledger.record(event),
      },
    });
    await monitor.start();
    cleanups.push(() => monitor.stop());
    const report = (state: GatewayStatus['state']) => {
      const update = registry.applyStatus({
        v: 1,
        gatewayId: 'gw-1',
        enterpriseId: 'ent-1',
        state,
        ts: clock.now(),
      });
      if (update.changed) events.emit('gateway', update.gateway);
    };
    report('online');
    report('offline');
    await monitor.settled();
    expect(await ledger.list({ state: 'all' })).toEqual([]);
    report('online');
    clock.advance(1_000);
    report('offline');
    await monitor.settled();
    expect(await ledger.list({ state: 'all' })).toMatchObject([
      { gatewayId: 'gw-1', ruleId: GATEWAY_OFFLINE_RULE, state: 'active' },
    ]);
  });

  it('reports a gateway clock skewed beyond the threshold as an event, and its recovery', async () => {
    const { clock, registry, status, seen } = await setup();
    status('online', clock.now() - 2_000);
    expect(registry.get('gw-1')).toMatchObject({ clockSkewMs: -2_000, clockSkewed: false });
    status('online', clock.now() + 60_000);
    expect(registry.get('gw-1')).toMatchObject({ clockSkewMs: 60_000, clockSkewed: true });
    expect(seen.at(-1)).toMatchObject({ clockSkewed: true });
    status('online', clock.now());
    expect(seen.at(-1)).toMatchObject({ clockSkewed: false, clockSkewMs: 0 });
  });
});
