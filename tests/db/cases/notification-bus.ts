/** Shared cases: the notification bus, on every backend. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Database } from '../../../server/db/database.js';
import { type BusMessage, NotificationBus } from '../../../server/db/notification-bus.js';
import type { Backend, StoreHandle } from '../backends.js';

/** Resolves once `count` messages arrived (or fails after timeoutMs, naming how many did). */
function collect(bus: NotificationBus, count: number, timeoutMs = 5_000) {
  const got: BusMessage[] = [];
  const done = new Promise<BusMessage[]>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`bus: ${got.length} of ${count} messages within ${timeoutMs} ms`)),
      timeoutMs,
    );
    bus.subscribe((m) => {
      got.push(m);
      if (got.length === count) {
        clearTimeout(timer);
        resolve(got);
      }
    });
  });
  return { got, done };
}

export function notificationBusCases(backend: Backend): void {
  let store: StoreHandle;
  const buses: NotificationBus[] = [];
  beforeEach(async () => {
    store = await backend.freshStore();
  });
  afterEach(async () => {
    for (const bus of buses.splice(0)) await bus.stop();
    await store.close();
  });

  async function node(nodeId: string, onGap?: () => void): Promise<[Database, NotificationBus]> {
    const db = await store.openNode(nodeId);
    const bus = new NotificationBus(db, { nodeId, reconnectMs: 100, onGap });
    await bus.start();
    buses.push(bus);
    return [db, bus];
  }

  describe('notification bus', () => {
    it('delivers every message to every subscriber on every node, the publisher included, in order', async () => {
      const [, bus1] = await node('node-1');
      const [, bus2] = await node('node-2');
      const [, bus3] = await node('node-3');
      const subscribers = [collect(bus1, 5), collect(bus1, 5), collect(bus2, 5), collect(bus3, 5)];
      for (let i = 0; i < 5; i++) await bus2.publish('alarm', { seq: i, gas: '甲烷' });
      const received = await Promise.all(subscribers.map((s) => s.done));
      for (const messages of received) {
        expect(messages).toEqual(
          [0, 1, 2, 3, 4].map((seq) => ({
            topic: 'alarm',
            payload: { seq, gas: '甲烷' },
            node: 'node-2',
          })),
        );
      }
    });

    it('an unsubscribed listener hears nothing more', async () => {
      const [, bus] = await node('node-1');
      const heard: BusMessage[] = [];
      const unsubscribe = bus.subscribe((m) => heard.push(m));
      const all = collect(bus, 2);
      await bus.publish('a', 1);
      await vi.waitFor(() => expect(heard).toHaveLength(1));
      unsubscribe();
      await bus.publish('b', 2);
      await all.done;
      expect(heard.map((m) => m.topic)).toEqual(['a']);
    });

    it('refuses a message over the payload limit, naming topic and size', async () => {
      const [, bus] = await node('node-1');
      await expect(bus.publish('alarm', 'x'.repeat(8_000))).rejects.toThrow(
        /message on topic 'alarm' is \d+ bytes, over 7900/,
      );
    });

    it('refuses a channel that is not a plain identifier', async () => {
      const db = await store.openNode('node-1');
      expect(
        () => new NotificationBus(db, { nodeId: 'n', channel: 'x; DROP TABLE alarms' }),
      ).toThrow("channel 'x; DROP TABLE alarms' must be a lower-case identifier");
    });
  });
}

/** PostgreSQL only: a listening session that dies comes back and says it may have missed some. */
export function notificationBusReconnectCases(backend: Backend): void {
  let store: StoreHandle;
  const buses: NotificationBus[] = [];
  beforeEach(async () => {
    store = await backend.freshStore();
  });
  afterEach(async () => {
    for (const bus of buses.splice(0)) await bus.stop();
    await store.close();
  });

  it('a node whose listening session is killed reconnects, reports the gap, and hears what follows', async () => {
    const listenerDb = await store.openNode('node-1');
    let gaps = 0;
    const listener = new NotificationBus(listenerDb, {
      nodeId: 'node-1',
      reconnectMs: 100,
      onGap: () => gaps++,
    });
    await listener.start();
    buses.push(listener);
    const publisherDb = await store.openNode('node-2');
    const publisher = new NotificationBus(publisherDb, { nodeId: 'node-2' });
    await publisher.start();
    buses.push(publisher);
    const [pid] = await store.sessionPids('node-1/notification-bus');
    expect(pid).toBeDefined();
    await store.killSession(listenerDb, pid!);
    await vi.waitFor(() => expect(gaps).toBe(1), { timeout: 5_000, interval: 50 });
    const after = collect(listener, 1);
    await publisher.publish('alarm', { after: true });
    expect((await after.done)[0]?.payload).toEqual({ after: true });
  });
}
