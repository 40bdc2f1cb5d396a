/**
 * Issue 19: the alarm path waits on nothing that is not its own work. Ingest built from its real
 * parts (SQLite store and ledger in memory, the emergency notifier with a recording HTTP client).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../common/clock.js';
import { topicFor } from '../../protocol/index.js';
import type { AlarmLedger } from '../../server/alarms/ledger.js';
import type { InboundMessage } from '../../server/broker.js';
import { Database } from '../../server/db/database.js';
import type { EventHub } from '../../server/events.js';
import { GatewayRegistry } from '../../server/gateways.js';
import { Ingest, type IngestAlarmHop } from '../../server/ingest.js';
import { type AttemptTrace, EmergencyNotifier } from '../../server/linkage/emergency-notifier.js';
import type { SqliteTelemetryStore } from '../../server/store/sqlite-store.js';
import { testLedger } from '../support/ledger.js';
import { type ServerParts, startServerParts } from '../support/server-parts.js';
import { alarmEvent, batch, SECRET, T0 } from './fixtures.js';

const TELEMETRY = topicFor('ent-01', 'gw-01', 'telemetry');
const ALARM = topicFor('ent-01', 'gw-01', 'alarm');

function message(topic: string, payload: unknown): InboundMessage {
  return {
    topic,
    payload: Buffer.from(JSON.stringify(payload)),
    qos: 1,
    retain: false,
    clientId: 'gw-01',
  };
}

/** A fetch that records each request and answers 202 at once. */
function recordingFetch(log: string[]): typeof fetch {
  return (async (_url: string | URL | Request, init?: RequestInit) => {
    log.push(`POST ${JSON.parse(String(init?.body)).alarmId}`);
    return new Response('{}', { status: 202 });
  }) as typeof fetch;
}

describe('the alarm path through ingest', () => {
  let parts: ServerParts;
  let store: SqliteTelemetryStore;
  let ledger: AlarmLedger;
  let notifier: EmergencyNotifier;
  let events: EventHub;
  let requests: string[];
  let notifyFails: boolean;

  const ingest = (telemetryBudgetMs?: number) =>
    new Ingest({
      store,
      ledger,
      gateways: new GatewayRegistry(systemClock),
      events,
      ...(telemetryBudgetMs !== undefined ? { telemetryBudgetMs } : {}),
    });

  beforeEach(async () => {
    requests = [];
    notifyFails = false;
    parts = await startServerParts({
      clock: systemClock,
      notifier: {
        centres: [
          { id: 'ec-1', name: 'City', url: 'http://centre.test/hook', secret: SECRET, minLevel: 2 },
        ],
        fetch: recordingFetch(requests),
      },
    });
    // Each case builds its own Ingest over these parts (ingest() above): parts.ingest is unused.
    ({ store, ledger, notifier, events } = parts);
    const notify = notifier.notify.bind(notifier);
    notifier.notify = (alarm, annunciation) => {
      if (notifyFails) throw new Error('linkage deliveries table is locked');
      return notify(alarm, annunciation);
    };
  });

  afterEach(async () => {
    await parts.stop();
  });

  it('never queues an alarm behind telemetry: it is stored before 20 earlier batches are even validated', async () => {
    const subject = ingest(0); // one telemetry item per event-loop turn
    let batchesHandled = 0;
    const writeBatch = store.writeBatch.bind(store);
    store.writeBatch = (b) => {
      batchesHandled++; // called once a batch is parsed, validated and deduplicated
      return writeBatch(b);
    };
    let handledBeforeAlarm = -1;
    subject.observeAlarms((hop) => {
      if (hop === 'ledger-committed') handledBeforeAlarm = batchesHandled;
    });
    const readings = Array.from({ length: 500 }, (_, i) => ({ value: i, ts: T0 + i }));
    const telemetry = Array.from({ length: 20 }, () =>
      subject.handle(message(TELEMETRY, batch(readings))),
    );
    const alarm = await subject.handle(message(ALARM, alarmEvent({ alarmId: 'GT-101-gas.L2.7' })));

    expect(alarm).toEqual({ result: 'stored', channel: 'alarm' });
    expect(handledBeforeAlarm).toBe(0);
    expect(await Promise.all(telemetry)).toEqual(
      Array.from({ length: 20 }, () => ({ result: 'stored', channel: 'telemetry' })),
    );
    expect(subject.metrics().readings).toBe(20 * 500);
  });

  it('keeps telemetry in arrival order on its lane', async () => {
    const subject = ingest(0);
    const order: number[] = [];
    const seqs = [11, 12, 13, 14, 15].map((n) => batch([{ value: n }], { seq: 1_000 + n }));
    await Promise.all(
      seqs.map((b) => subject.handle(message(TELEMETRY, b)).then(() => order.push(b.seq))),
    );
    expect(order).toEqual(seqs.map((b) => b.seq));
  });

  it('sends the page before the alarm event reaches dashboards, disposal and MQTT linkage', async () => {
    const subject = ingest();
    const seenByListeners: string[][] = [];
    events.on('alarm', () => seenByListeners.push([...requests]));
    await subject.handle(message(ALARM, alarmEvent({ alarmId: 'GT-101-gas.L2.8' })));

    expect(seenByListeners).toEqual([['POST GT-101-gas.L2.8']]);
  });

  it('the MQTT linkage and disposal tracking delayed the page: the next committed-alarm listener runs only once the page has left', async () => {
    const subject = ingest();
    const seenByNextChannel: string[][] = [];
    // Subscribed after the notifier, as the platform's (MQTT linkage, disposal tracking) is.
    events.onAlarmCommitted(() => {
      seenByNextChannel.push([...requests]);
      return false;
    });
    await subject.handle(message(ALARM, alarmEvent({ alarmId: 'GT-101-gas.L2.12' })));

    expect(seenByNextChannel).toEqual([['POST GT-101-gas.L2.12']]);
  });

  it('still tells the listeners about an alarm whose page could not be created, and does not acknowledge it', async () => {
    const subject = ingest();
    notifyFails = true;
    const announced: string[] = [];
    events.on('alarm', (a) => announced.push(a.alarmId));
    const outcome = await subject.handle(
      message(ALARM, alarmEvent({ alarmId: 'GT-101-gas.L2.9' })),
    );

    expect(outcome).toMatchObject({ result: 'failed' });
    expect(announced).toEqual(['GT-101-gas.L2.9']);
    expect(subject.metrics().storeFailures).toBe(1);
  });

  it('reports each alarm hop to an observer, in path order, and nothing once it is removed', async () => {
    const subject = ingest();
    const hops: [IngestAlarmHop, string, number][] = [];
    subject.observeAlarms((hop, event, at) => hops.push([hop, event.alarmId, at]));
    await subject.handle(message(ALARM, alarmEvent({ alarmId: 'GT-101-gas.L2.10' })));
    subject.observeAlarms(null);
    await subject.handle(message(ALARM, alarmEvent({ alarmId: 'GT-101-gas.L2.11' })));

    expect(hops.map(([hop, id]) => [hop, id])).toEqual([
      ['received', 'GT-101-gas.L2.10'],
      ['ledger-committed', 'GT-101-gas.L2.10'],
    ]);
    expect(hops[1]![2]).toBeGreaterThanOrEqual(hops[0]![2]);
  });
});

describe('the emergency notifier on the alarm path', () => {
  it('starts the first attempt inside notify(), not on a timer, and traces it', async () => {
    const requests: string[] = [];
    const database = new Database({ kind: 'sqlite', path: ':memory:' });
    await database.start();
    const notifier = new EmergencyNotifier({
      database,
      nodeId: 'node-1',
      centres: [
        { id: 'ec-1', name: 'City', url: 'http://centre.test/hook', secret: SECRET, minLevel: 2 },
      ],
      fetch: recordingFetch(requests),
    });
    await notifier.start();
    const ledger = testLedger();
    await ledger.start();
    try {
      const traces: [string, AttemptTrace][] = [];
      notifier.on('sending', (t) => traces.push(['sending', t]));
      notifier.on('answered', (t) => traces.push(['answered', t]));
      const delivered = new Promise((resolve) => notifier.once('delivered', resolve));
      const { alarm } = await ledger.record(alarmEvent({ alarmId: 'GT-101-gas.L2.12' }));

      expect(await notifier.notify(alarm)).toBe(1);
      expect(requests).toEqual(['POST GT-101-gas.L2.12']); // before any timer could have run
      await delivered;
      expect(traces.map(([what, t]) => [what, t.alarmId, t.centreId])).toEqual([
        ['sending', 'GT-101-gas.L2.12', 'ec-1'],
        ['answered', 'GT-101-gas.L2.12', 'ec-1'],
      ]);
    } finally {
      await notifier.stop();
      await database.stop();
      await ledger.stop();
    }
  });
});
