/**
 * Issue 13 review (MEDIUM): one gas event paged the emergency centre twice. A
 * raise made while the alarm was shelved paged at once (ISA-18.2: a shelved,
 * suppressed or out-of-service alarm is not annunciated), and the re-announcement
 * at unshelve, a new occurrence, paged again. Both emergency channels (the
 * webhook notifier and the MQTT linkage, both on the hub's committed-alarm
 * event) are built from their real parts with the real ledger and ingest.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { type AlarmEvent, topicFor } from '../../protocol/index.js';
import type { AlarmLedger } from '../../server/alarms/ledger.js';
import type { InboundMessage } from '../../server/broker.js';
import { announceCommitted } from '../../server/events.js';
import type { Ingest } from '../../server/ingest.js';
import type { EmergencyNotifier } from '../../server/linkage/emergency-notifier.js';
import { MqttLinkage } from '../../server/linkage/mqtt-linkage.js';
import { type ServerParts, startServerParts } from '../support/server-parts.js';
import { alarmEvent, SECRET, T0 } from './fixtures.js';

const ALARM = topicFor('ent-01', 'gw-01', 'alarm');

function message(payload: AlarmEvent): InboundMessage {
  return {
    topic: ALARM,
    payload: Buffer.from(JSON.stringify(payload)),
    qos: 1,
    retain: false,
    clientId: 'gw-01',
  };
}

describe('emergency paging, once per gas event', () => {
  const clock = new ManualClock(T0);
  let parts: ServerParts;
  let ledger: AlarmLedger;
  let notifier: EmergencyNotifier;
  let mqttLinkage: MqttLinkage;
  /** The MQTT linkage's notify() calls from the 'alarm' event, awaited before reading. */
  let mqttNotified: Promise<unknown>[];
  let webhookPages: string[];
  let mqttPages: string[];
  let subject: Ingest;

  beforeEach(async () => {
    webhookPages = [];
    mqttPages = [];
    mqttNotified = [];
    parts = await startServerParts({
      clock,
      notifier: {
        centres: [
          { id: 'ec-1', name: 'City', url: 'http://centre.test/hook', secret: SECRET, minLevel: 2 },
        ],
        fetch: (async (_url: string | URL | Request, init?: RequestInit) => {
          webhookPages.push(JSON.parse(String(init?.body)).alarmId);
          return new Response('{}', { status: 202 });
        }) as typeof fetch,
      },
    });
    ({ ledger, notifier, ingest: subject } = parts);
    mqttLinkage = new MqttLinkage({
      database: parts.database,
      nodeId: 'node-1',
      topic: 'hazardwatch/linkage/emergency',
      clock,
      publish: async (_topic, payload) => {
        mqttPages.push(JSON.parse(payload).alarmId);
      },
    });
    await mqttLinkage.start();
    // As the server does: the webhook notifier first (startServerParts follows it), then the
    // platform's MQTT linkage (server/platform/platform.ts onAlarmCommitted) for active alarms.
    parts.events.onAlarmCommitted(({ alarm, source }) => {
      if (alarm.state !== 'active' || source !== 'gateway') return false;
      const published = mqttLinkage.notify(alarm);
      mqttNotified.push(published);
      return published;
    });
  });

  afterEach(async () => {
    await mqttLinkage.stop();
    await parts.stop();
  });

  const paged = async () => {
    await Promise.all(mqttNotified);
    return {
      webhook: (await notifier.deliveries()).map((d) => d.alarmId).sort(),
      mqtt: (await mqttLinkage.notifications()).map((p) => p.alarmId).sort(),
    };
  };

  it('one gas event pages the emergency centre twice: a raise while shelved pages nobody, its re-announcement pages once', async () => {
    const shelvedRaise = alarmEvent({ alarmId: 'GT-101-gas.L2.occ-2', state: 'shelved' });
    expect(await subject.handle(message(shelvedRaise))).toEqual({
      result: 'stored',
      channel: 'alarm',
    });
    expect(await paged()).toEqual({ webhook: [], mqtt: [] });
    // Recorded in the ledger as usual.
    expect(
      (
        await ledger.get({
          enterpriseId: 'ent-01',
          gatewayId: 'gw-01',
          alarmId: 'GT-101-gas.L2.occ-2',
        })
      )?.state,
    ).toBe('active');

    const reannounced = alarmEvent({
      alarmId: 'GT-101-gas.L2.occ-3',
      state: 'unacknowledged',
      reannounces: 'GT-101-gas.L2.occ-2',
    });
    await subject.handle(message(reannounced));
    // The superseded occurrence was never paged: the re-announcement pages.
    expect(await paged()).toEqual({
      webhook: ['GT-101-gas.L2.occ-3'],
      mqtt: ['GT-101-gas.L2.occ-3'],
    });
  });

  it('a re-announcement of an occurrence already paged does not page again, on either channel', async () => {
    await subject.handle(
      message(alarmEvent({ alarmId: 'GT-101-gas.L2.occ-1', state: 'unacknowledged' })),
    );
    await subject.handle(
      message(
        alarmEvent({
          alarmId: 'GT-101-gas.L2.occ-4',
          state: 'unacknowledged',
          reannounces: 'GT-101-gas.L2.occ-1',
        }),
      ),
    );
    expect(await paged()).toEqual({
      webhook: ['GT-101-gas.L2.occ-1'],
      mqtt: ['GT-101-gas.L2.occ-1'],
    });
  });

  it('suppressed and out-of-service raises page nobody; a raise without a state pages as before', async () => {
    await subject.handle(
      message(alarmEvent({ alarmId: 'GT-101-gas.L2.sup', state: 'suppressed' })),
    );
    await subject.handle(
      message(alarmEvent({ alarmId: 'GT-101-gas.L2.oos', state: 'out-of-service' })),
    );
    await subject.handle(message(alarmEvent({ alarmId: 'GT-101-gas.L2.plain' })));
    expect(await paged()).toEqual({
      webhook: ['GT-101-gas.L2.plain'],
      mqtt: ['GT-101-gas.L2.plain'],
    });
  });

  it('a re-announcement names its superseded occurrence within the same gateway only', async () => {
    // Another gateway's occurrence with the same id was paged; ours was not: ours pages.
    await subject.handle(
      message(alarmEvent({ gatewayId: 'gw-01', alarmId: 'GT-101-gas.L2.x-2', state: 'shelved' })),
    );
    const otherGateway = topicFor('ent-01', 'gw-02', 'alarm');
    await subject.handle({
      ...message(
        alarmEvent({ gatewayId: 'gw-02', alarmId: 'GT-101-gas.L2.x-2', state: 'unacknowledged' }),
      ),
      topic: otherGateway,
      clientId: 'gw-02',
    });
    await subject.handle(
      message(
        alarmEvent({
          alarmId: 'GT-101-gas.L2.x-3',
          state: 'unacknowledged',
          reannounces: 'GT-101-gas.L2.x-2',
        }),
      ),
    );
    expect((await paged()).webhook).toEqual(['GT-101-gas.L2.x-2', 'GT-101-gas.L2.x-3']);
    expect((await paged()).mqtt).toEqual(['GT-101-gas.L2.x-2', 'GT-101-gas.L2.x-3']);
  });

  it('both channels take the one committed-alarm event: a channel that failed withholds the StoreAck, and the resend pages each centre once', async () => {
    const notify = mqttLinkage.notify.bind(mqttLinkage);
    let mqttDown = true;
    mqttLinkage.notify = (alarm, annunciation) =>
      mqttDown ? Promise.reject(new Error('linkage_mqtt is locked')) : notify(alarm, annunciation);
    const raise = alarmEvent({ alarmId: 'GT-101-gas.L2.both' });

    expect(await subject.handle(message(raise))).toMatchObject({ result: 'failed' });
    // The webhook channel ran on the same event; the failed MQTT record left no StoreAck, so
    // the gateway resends.
    expect(webhookPages).toEqual(['GT-101-gas.L2.both']);
    mqttNotified = [];
    mqttDown = false;
    expect(await subject.handle(message(raise))).toEqual({ result: 'stored', channel: 'alarm' });
    expect(await paged()).toEqual({
      webhook: ['GT-101-gas.L2.both'],
      mqtt: ['GT-101-gas.L2.both'],
    });
    expect(webhookPages).toEqual(['GT-101-gas.L2.both']);
    expect(mqttPages).toEqual(['GT-101-gas.L2.both']);
  });

  it("the server's own alarms (gateway offline, ledger integrity) are recorded, not paged, on either channel", async () => {
    // A level-2 record, so only its source keeps it from the centres (their minLevel is 2).
    const { alarm } = await ledger.record(alarmEvent({ alarmId: 'gateway-offline.gw-01.1' }));
    const errors: unknown[] = [];
    await announceCommitted(parts.events, alarm, 'raised', {
      error: (details) => errors.push(details),
    });

    expect(errors).toEqual([]);
    expect(await paged()).toEqual({ webhook: [], mqtt: [] });
  });
});
