/**
 * Issue 13 review (LOW): StoreAck matched by seq only. A gateway restored from a backup gets a new
 * outbox epoch but reuses sequence numbers, so a late StoreAck meant for the old epoch (coalesced,
 * or held up in the broker) deleted a different, unstored item under the same seq. The server now
 * echoes the epoch the acknowledged items came with, and the gateway ignores an ack for another
 * epoch. The real gateway uplink and outbox file on a real aedes broker; the server side through
 * the real ingest and StoreAckPublisher.
 */
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock, systemClock } from '../../common/clock.js';
import { MqttUplink } from '../../gateway/uplink/mqtt-uplink.js';
import { type StoreAck, topicFor } from '../../protocol/index.js';
import { EventHub } from '../../server/events.js';
import { GatewayRegistry } from '../../server/gateways.js';
import { Ingest, StoreAckPublisher } from '../../server/ingest.js';
import { createTelemetryStore } from '../../server/store/index.js';
import { batch, T0 } from '../server/fixtures.js';
import { startTestBroker } from '../support/broker.js';
import { testLedger } from '../support/ledger.js';
import {
  catalogue,
  ENTERPRISE,
  GATEWAY,
  tempDir,
  useCleanups,
  waitUntil,
} from '../uplink/support.js';

const cleanups = useCleanups();
const ACK = topicFor(ENTERPRISE, GATEWAY, 'ack');
const ALARM = topicFor(ENTERPRISE, GATEWAY, 'alarm');

describe('StoreAck and outbox epochs', () => {
  let server: MqttClient | null = null;
  afterEach(async () => {
    await server?.endAsync(true);
    server = null;
  });

  it('a restored outbox that reuses seqs does not lose an item to a late ack of the old epoch', async () => {
    const broker = await startTestBroker();
    cleanups.push(() => broker.close());
    // Stands in for the server: sees what the gateway sends, sends StoreAcks. No real ingest, so
    // nothing acknowledges the item but the acks below.
    server = await mqtt.connectAsync(broker.url, { clientId: 'server-stand-in' });
    const sent: { seq: number; epoch: string }[] = [];
    server.on('message', (_topic, payload) => sent.push(JSON.parse(payload.toString())));
    await server.subscribeAsync(ALARM, { qos: 1 });
    const uplink = new MqttUplink({
      url: broker.url,
      gatewayId: GATEWAY,
      enterpriseId: ENTERPRISE,
      sensors: catalogue(['S000']),
      clock: systemClock,
      publishIntervalMs: 50,
      reconnectPeriodMs: 200,
      ackTimeoutMs: 60_000, // no resend within the test
      outbox: { path: path.join(tempDir(cleanups), 'restored-outbox.db') },
    });
    await uplink.start();
    cleanups.push(() => uplink.stop());
    await waitUntil(() => uplink.connected, 'the uplink to connect');
    uplink.publishAlarm({
      alarmId: 'S000-gas.L2.restored',
      ruleId: 'S000-gas',
      sensorId: 'S000',
      level: 2,
      transition: 'raised',
      value: 55,
      unit: '%LEL',
      setpoint: 50, // GB/T 50493-2019 §5.5.3 item 1: level 2 <= 50 %LEL
      ts: Date.now(),
      drill: true,
    });
    await waitUntil(() => sent.length === 1, 'the alarm on the wire');
    const { seq, epoch } = sent[0]!;
    expect(epoch).toBe(uplink.health().epoch);

    const ack = (body: StoreAck) => server!.publishAsync(ACK, JSON.stringify(body), { qos: 1 });
    // The old outbox's ack for the same number arrives late; then an empty ack of our epoch, which
    // the gateway handles after it (one publisher, one topic: MQTT keeps the order).
    await ack({ v: 1, seqs: [seq], epoch: 'old-epoch-before-restore' });
    await ack({ v: 1, seqs: [], epoch });
    await waitUntil(() => uplink.health().lastAckAt !== null, 'the acks to be handled');
    expect(uplink.health().backlog.alarms.items).toBe(1); // still there, still to be delivered

    await ack({ v: 1, seqs: [seq], epoch });
    await waitUntil(() => uplink.health().backlog.alarms.items === 0, 'the ack of our epoch');
  });

  it('the server echoes the epoch the items came with, one StoreAck per epoch', async () => {
    const clock = new ManualClock(T0);
    const store = createTelemetryStore(
      { type: 'sqlite', path: ':memory:', retentionDays: 30, maxSensorsPerGateway: 10_000 },
      clock,
    );
    await store.start();
    const ledger = testLedger({ clock });
    await ledger.start();
    cleanups.push(async () => {
      await ledger.stop();
      await store.stop();
    });
    const published: StoreAck[] = [];
    const acks = new StoreAckPublisher({
      publish: async (_topic, payload) => {
        published.push(JSON.parse(payload) as StoreAck);
      },
    });
    const ingest = new Ingest({
      store,
      ledger,
      gateways: new GatewayRegistry(clock),
      events: new EventHub(),
      acks,
      clock,
    });
    const send = (item: unknown) =>
      ingest.handle({
        topic: topicFor('ent-01', 'gw-01', 'telemetry'),
        payload: Buffer.from(JSON.stringify(item)),
        qos: 1,
        retain: false,
        clientId: 'gw-01',
      });
    await send(batch([{ value: 1 }], { seq: 7, epoch: 'epoch-old-0001' }));
    await send(batch([{ value: 2 }], { seq: 7, epoch: 'epoch-new-0002' }));
    await send(batch([{ value: 3 }], { seq: 8 })); // a gateway without epochs: ack without one
    await acks.flush();
    expect(published).toEqual(
      expect.arrayContaining([
        { v: 1, seqs: [7], epoch: 'epoch-old-0001' },
        { v: 1, seqs: [7], epoch: 'epoch-new-0002' },
        { v: 1, seqs: [8] },
      ]),
    );
    expect(published).toHaveLength(3);
  });
});
