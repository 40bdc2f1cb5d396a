import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { topicFor } from '../../protocol/index.js';
import { CentralServer } from '../../server/central-server.js';
import { parseServerConfig } from '../../server/config/index.js';
import { alarmEvent, waitFor } from '../server/fixtures.js';

const TOPIC = 'hazardwatch/v1/emergency/notifications';

describe('emergency linkage over MQTT', () => {
  let server: CentralServer;
  let centre: MqttClient;
  let gateway: MqttClient;
  let received: { notificationId: string; alarmId: string; drill: boolean; level: number }[];

  beforeEach(async () => {
    server = new CentralServer(
      parseServerConfig({
        http: { port: 0 },
        mqtt: { port: 0 },
        store: { path: ':memory:' },
        enterprises: [{ id: 'ent-01', name: '示范化工', province: 'P1' }],
      }),
      { dashboard: false },
    );
    await server.start();
    const url = `mqtt://127.0.0.1:${server.mqttPort}`;
    centre = await mqtt.connectAsync(url, { clientId: 'ecc-1', reconnectPeriod: 0 });
    received = [];
    centre.on('message', (topic, payload) => {
      if (topic === TOPIC) received.push(JSON.parse(payload.toString()));
    });
    await centre.subscribeAsync(TOPIC, { qos: 1 });
    gateway = await mqtt.connectAsync(url, { clientId: 'gw-01', reconnectPeriod: 0 });
  });

  afterEach(async () => {
    await gateway.endAsync(true);
    await centre.endAsync(true);
    await server.stop();
  });

  const publish = (payload: object) =>
    gateway.publishAsync(topicFor('ent-01', 'gw-01', 'alarm'), JSON.stringify(payload), { qos: 1 });

  it('publishes a level-2 alarm once however often it is redelivered, and never a drill', async () => {
    await publish(alarmEvent({ seq: 1 }));
    await publish(alarmEvent({ seq: 1 })); // redelivery
    await publish(alarmEvent({ seq: 2, alarmId: 'drill-1', drill: true }));
    await publish(alarmEvent({ seq: 3, alarmId: 'warn-1', level: 1, setpoint: 25 }));
    await waitFor(() => server.ingest.metrics().alarmEvents >= 3, 'the alarms');
    await waitFor(() => received.length >= 1, 'the notification');
    // Give a wrong second publication time to arrive before asserting there is none.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({
      alarmId: 'GT-101-gas.L2.1',
      level: 2,
      drill: false,
      enterpriseName: '示范化工',
    });
  });

  it('records the receipt an emergency centre sends back', async () => {
    await publish(alarmEvent({ seq: 1 }));
    const notification = await waitFor(() => received[0], 'the notification');
    const receipt = JSON.stringify({
      notificationId: notification.notificationId,
      centreId: 'ecc-1',
    });
    await centre.publishAsync(`${TOPIC}/receipts`, receipt, { qos: 1 });
    await centre.publishAsync(`${TOPIC}/receipts`, receipt, { qos: 1 });
    const records = await waitFor(async () => {
      const list = (await server.platform.mqtt?.notifications()) ?? [];
      return list[0]?.receipts.length ? list : null;
    }, 'the receipt');
    expect(records[0]).toMatchObject({ state: 'published', receipts: [{ centreId: 'ecc-1' }] });
    expect(server.ingest.metrics().rejected).toBe(0); // its own topics never reach ingest
  });
});
