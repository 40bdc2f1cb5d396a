import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../../gateway/config/index.js';
import { Gateway } from '../../gateway/gateway.js';
import {
  type AlarmEvent,
  decodeGatewayStatus,
  type GatewayCommand,
  type GatewayStatus,
  topicFor,
} from '../../protocol/index.js';
import {
  DEMO_GAS_CHANNELS,
  ModbusGasDetectorSimulator,
} from '../../simulators/modbus-gas-detector.js';
import { collectMessages, startTestBroker } from '../support/broker.js';

/**
 * The gateway's edge in its real surroundings: a Modbus gas controller, an MQTT
 * broker, rule files with local linkage, and a state file on disk.
 */
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function plant() {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hw-gw-edge-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const detector = new ModbusGasDetectorSimulator({ port: 0, channels: DEMO_GAS_CHANNELS });
  await detector.start();
  cleanups.push(() => detector.stop());
  detector.setValue(0, 1);
  const broker = await startTestBroker();
  cleanups.push(() => broker.close());
  const rules = path.join(dir, 'rules.yaml');
  await writeFile(
    rules,
    `version: 1
outputs:
  - { id: gas-controller-relays, device: gas-controller-1 }
rules:
  - id: GT-101-gas
    sensor: GT-101
    type: gas
    gas: methane
    measure: LEL
    level1: 20
    level2: 40
    deadband: 2
    actions:
      - { on: raised, limit: level1, output: gas-controller-relays, coil: 0, value: true, readback: true, description: start ventilation }
      - { on: cleared, limit: level1, output: gas-controller-relays, coil: 0, value: false, readback: true, description: stop ventilation }
`,
  );
  const config = parseGatewayConfig(
    `gateway: { id: gw-edge-1, enterpriseId: ent-1 }
uplink: { url: '${broker.url}', publishIntervalMs: 100 }
rules: { files: ['${rules}'] }
devices:
  - id: gas-controller-1
    protocol: modbus-tcp
    host: 127.0.0.1
    port: ${detector.port}
    pollIntervalMs: 50
    tags:
      - sensorId: GT-101
        name: Methane
        kind: gas
        gas: methane
        unit: '%LEL'
        rangeMin: 0
        rangeMax: 100
        register: { table: input, address: 0, type: float32 }
`,
    path.join(dir, 'gateway.yaml'),
    { env: {} },
  );
  const alarmStatePath = path.join(dir, 'alarm-state.json');
  const startGateway = async () => {
    const gateway = new Gateway(config, {
      alarmStatePath,
      outboxPath: path.join(dir, 'outbox.db'),
    });
    await gateway.start();
    cleanups.push(() => gateway.stop());
    return gateway;
  };
  const alarms = await collectMessages(broker.url, topicFor('ent-1', 'gw-edge-1', 'alarm'));
  cleanups.push(() => alarms.client.endAsync());
  return { detector, broker, startGateway, alarms };
}

const payload = (m: { payload: unknown }) => m.payload as AlarmEvent;

describe('the gateway edge', () => {
  it('linkage outputs opened their own Modbus connection beside acquisition: now an output must name a gateway device', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'hw-gw-outputs-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const rules = path.join(dir, 'rules.yaml');
    await writeFile(
      rules,
      `version: 1
outputs:
  - { id: relays, device: no-such-controller }
rules:
  - { id: T-1, sensor: T-1, type: threshold, unit: degC, limits: [{ name: H, level: 1, direction: high, setpoint: 80, deadband: 1 }] }
`,
    );
    const config = parseGatewayConfig(
      `gateway: { id: gw-edge-2, enterpriseId: ent-1 }
uplink: { url: 'mqtt://127.0.0.1:1' }
rules: { files: ['${rules}'] }
devices:
  - id: plc-1
    protocol: modbus-tcp
    host: 127.0.0.1
    port: 502
    tags:
      - { sensorId: T-1, name: Temperature, kind: temperature, unit: degC, register: { table: holding, address: 0, type: int16 } }
`,
      path.join(dir, 'gateway.yaml'),
      { env: {} },
    );
    expect(() => new Gateway(config)).toThrow(
      /outputs\[0\]\.device: device 'no-such-controller' is not in the gateway config \(devices: plc-1\)/,
    );
  });

  it('starts the ventilation coil when level 1 is raised, confirms it by readback, and stops it on clear', async () => {
    const { detector, startGateway } = await plant();
    const gateway = await startGateway();
    detector.setValue(0, 30);
    await expect.poll(() => detector.coil(0), { timeout: 5_000 }).toBe(true);
    await gateway.linkage.idle();
    expect(gateway.linkage.results.at(-1)).toMatchObject({ ok: true, ruleId: 'GT-101-gas' });
    detector.setValue(0, 1);
    await expect.poll(() => detector.coil(0), { timeout: 5_000 }).toBe(false);
  });

  it('told the server no setpoints before the first alarm: the birth message now carries each sensor’s value limits', async () => {
    const { broker, startGateway } = await plant();
    const status = await collectMessages(broker.url, topicFor('ent-1', 'gw-edge-1', 'status'));
    cleanups.push(() => status.client.endAsync());
    await startGateway();
    const isBirth = (m: { payload: unknown }) =>
      (m.payload as GatewayStatus).state === 'online' && !!(m.payload as GatewayStatus).sensors;
    await status.waitFor(isBirth);
    const birth = status.messages.find(isBirth)!;
    const methane = (birth.payload as GatewayStatus).sensors!.find((s) => s.sensorId === 'GT-101');
    expect(methane?.alarmLimits).toEqual([
      {
        ruleId: 'GT-101-gas',
        name: 'level1',
        level: 1,
        direction: 'high',
        setpoint: 20,
        deadband: 2,
      },
      {
        ruleId: 'GT-101-gas',
        name: 'level2',
        level: 2,
        direction: 'high',
        setpoint: 40,
        deadband: 2,
      },
    ]);
    // The server's own decoder accepts it (the schema both sides import).
    expect(decodeGatewayStatus(JSON.stringify(birth.payload))).toMatchObject({ ok: true });
  });

  it('applies an acknowledgement sent by the server and reports it back on the alarm channel', async () => {
    const { detector, broker, startGateway, alarms } = await plant();
    await startGateway();
    detector.setValue(0, 30);
    await alarms.waitFor((m) => payload(m).transition === 'raised');
    const raised = payload(alarms.messages.find((m) => payload(m).transition === 'raised')!);
    const server = await mqtt.connectAsync(broker.url);
    cleanups.push(() => server.endAsync());
    const command: GatewayCommand = {
      v: 1,
      commandId: 'cmd-1',
      type: 'acknowledge',
      alarmId: raised.alarmId,
      by: 'regulator:alice',
      ts: Date.now(),
    };
    const topic = topicFor('ent-1', 'gw-edge-1', 'command');
    await server.publishAsync(topic, JSON.stringify(command), { qos: 1 });
    // A redelivered command and a malformed one change nothing more.
    await server.publishAsync(topic, JSON.stringify(command), { qos: 1 });
    await server.publishAsync(topic, '{"v":1,"type":"explode"}', { qos: 1 });
    await alarms.waitFor((m) => payload(m).transition === 'acknowledged');
    const acks = alarms.messages.filter((m) => payload(m).transition === 'acknowledged');
    expect(acks).toHaveLength(1);
    expect(payload(acks[0]!)).toMatchObject({
      alarmId: raised.alarmId,
      state: 'acknowledged',
      acknowledgedBy: 'regulator:alice',
    });
  });

  it('keeps an acknowledged alarm acknowledged across a gateway restart', async () => {
    const { detector, startGateway, alarms } = await plant();
    const first = await startGateway();
    detector.setValue(0, 30);
    await alarms.waitFor((m) => payload(m).transition === 'raised');
    const { alarmId } = first.engine.active()[0]!;
    first.applyCommand({
      v: 1,
      commandId: 'c',
      type: 'acknowledge',
      alarmId,
      by: 'op',
      ts: Date.now(),
    });
    await first.stop();
    const second = await startGateway();
    const [alarm] = second.engine.active();
    expect(alarm).toMatchObject({ alarmId, state: 'acknowledged' });
  });
});
