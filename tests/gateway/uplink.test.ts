import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../common/clock.js';
import { MqttUplink, type MqttUplinkOptions } from '../../gateway/uplink/mqtt-uplink.js';
import {
  type AlarmEvent,
  decodeAlarmEvent,
  decodeGatewayStatus,
  decodeTelemetryBatch,
  type GatewayStatus,
  type TelemetryBatch,
} from '../../protocol/index.js';
import { collectMessages, startTestBroker } from '../support/broker.js';

const sensors = [{ sensorId: 'GT-101', name: 'Methane', kind: 'gas' as const, unit: '%LEL' }];
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function setup(options: Partial<MqttUplinkOptions> = {}) {
  const broker = await startTestBroker();
  cleanups.push(() => broker.close());
  const sub = await collectMessages(broker.url, 'hazardwatch/v1/#');
  cleanups.push(() => sub.client.endAsync());
  const uplink = new MqttUplink({
    url: broker.url,
    gatewayId: 'gw-1',
    enterpriseId: 'ent-1',
    sensors,
    clock: systemClock,
    publishIntervalMs: 50,
    ...options,
  });
  await uplink.start();
  cleanups.push(() => uplink.stop());
  return { broker, sub, uplink };
}

describe('MQTT uplink', () => {
  it('announces itself with a retained birth message carrying the sensor catalogue', async () => {
    const { sub } = await setup();
    await sub.waitFor((m) => m.topic === 'hazardwatch/v1/ent-1/gw-1/status');
    const birth = sub.messages.find((m) => m.topic.endsWith('/status'))!;
    const decoded = decodeGatewayStatus(JSON.stringify(birth.payload));
    expect(decoded.ok).toBe(true);
    expect((birth.payload as GatewayStatus).state).toBe('online');
    expect((birth.payload as GatewayStatus).sensors).toEqual(sensors);
  });

  it('batches readings into schema-valid telemetry messages with increasing sequence numbers', async () => {
    const { sub, uplink } = await setup();
    const ts = Date.now();
    uplink.publishReadings([{ sensorId: 'GT-101', value: 1.5, quality: 'good', ts }]);
    uplink.publishReadings([{ sensorId: 'GT-101', value: 1.7, quality: 'good', ts: ts + 100 }]);
    await sub.waitFor((m) => m.topic.endsWith('/telemetry'));
    uplink.publishReadings([
      { sensorId: 'GT-101', value: null, quality: 'bad', reason: 'timeout', ts },
    ]);
    await sub.waitFor(
      (m) =>
        m.topic.endsWith('/telemetry') &&
        (m.payload as TelemetryBatch).readings[0]?.quality === 'bad',
    );
    const batches = sub.messages
      .filter((m) => m.topic.endsWith('/telemetry'))
      .map((m) => m.payload as TelemetryBatch);
    for (const b of batches) expect(decodeTelemetryBatch(JSON.stringify(b)).ok).toBe(true);
    expect(batches[0]!.readings.map((r) => r.value)).toEqual([1.5, 1.7]);
    expect(batches[1]!.seq).toBeGreaterThan(batches[0]!.seq);
  });

  it('sends an alarm transition at once with the envelope filled in', async () => {
    const { sub, uplink } = await setup();
    uplink.publishAlarm({
      alarmId: 'GT-101-gas.L2.1',
      ruleId: 'GT-101-gas',
      sensorId: 'GT-101',
      level: 2,
      transition: 'raised',
      value: 55,
      unit: '%LEL',
      setpoint: 50,
      ts: Date.now(),
      drill: false,
    });
    await sub.waitFor((m) => m.topic === 'hazardwatch/v1/ent-1/gw-1/alarm');
    const alarm = sub.messages.find((m) => m.topic.endsWith('/alarm'))!.payload as AlarmEvent;
    expect(decodeAlarmEvent(JSON.stringify(alarm))).toMatchObject({ ok: true });
    expect(alarm).toMatchObject({ gatewayId: 'gw-1', enterpriseId: 'ent-1', level: 2, v: 1 });
  });

  it('leaves a retained offline status when the gateway dies without saying goodbye', async () => {
    // No reconnect during the test: its retained birth would replace the will.
    const { broker, sub } = await setup({ reconnectPeriodMs: 3_600_000 });
    const statusTopic = 'hazardwatch/v1/ent-1/gw-1/status';
    await sub.waitFor((m) => m.topic === statusTopic);
    // Kill the gateway's socket at the broker: the broker publishes the last will.
    for (const client of Object.values(
      (
        broker.broker as unknown as {
          clients: Record<string, { id: string; conn: { destroy(): void } }>;
        }
      ).clients,
    )) {
      if (client.id === 'gw-1') client.conn.destroy();
    }
    await sub.waitFor(
      (m) => m.topic.endsWith('/status') && (m.payload as GatewayStatus).state === 'offline',
    );

    // Retained: a subscriber that arrives after the will fired is handed it, flagged retained.
    const late = await collectMessages(broker.url, statusTopic);
    cleanups.push(() => late.client.endAsync());
    await late.waitFor((m) => m.topic === statusTopic);
    expect(late.messages).toHaveLength(1);
    const [will] = late.messages;
    expect(will!.retain).toBe(true);
    expect(decodeGatewayStatus(JSON.stringify(will!.payload)).ok).toBe(true);
    expect(will!.payload).toMatchObject({
      gatewayId: 'gw-1',
      enterpriseId: 'ent-1',
      state: 'offline',
    });
  });

  it('keeps accepting readings while the broker is unreachable and does not block the caller', async () => {
    const uplink = new MqttUplink({
      url: 'mqtt://127.0.0.1:1', // nothing listens on port 1
      gatewayId: 'gw-2',
      enterpriseId: 'ent-1',
      sensors,
      clock: systemClock,
    });
    await uplink.start();
    cleanups.push(() => uplink.stop());
    expect(uplink.connected).toBe(false);
    expect(() =>
      uplink.publishReadings([{ sensorId: 'GT-101', value: 1, quality: 'good', ts: Date.now() }]),
    ).not.toThrow();
  });
});
