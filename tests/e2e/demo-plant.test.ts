import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DemoPlant } from '../../bin/plant.js';

/**
 * The whole plant in one process, every part real: simulated Modbus and OPC UA
 * devices, the gateway with its rules, the MQTT uplink, the central server with
 * SQLite, and the simulated emergency centre receiving signed webhooks.
 */
describe('the demo plant, end to end', () => {
  let plant: DemoPlant;
  let tmp: string;

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'hw-e2e-'));
    plant = new DemoPlant({
      httpPort: 0,
      mqttPort: 0,
      modbusPort: 0,
      opcuaPort: 0,
      receiverPort: 0,
      storePath: path.join(tmp, 'hazardwatch.db'),
      pkiDir: path.join(tmp, 'pki'),
      scenario: path.join(import.meta.dirname, 'fixtures/leak-and-hold.yaml'),
      modbusPollIntervalMs: 100,
      publishIntervalMs: 200,
    });
    await plant.start();
  }, 60_000);

  afterAll(async () => {
    await plant?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  const api = async <T>(route: string): Promise<T> => {
    const response = await fetch(new URL(route, plant.dashboardUrl));
    expect(response.status).toBe(200);
    return (await response.json()) as T;
  };

  it('delivers the leak’s level-2 alarm to the emergency centre with what a dispatcher needs', async () => {
    const notification = await plant.receiver.waitFor((n) => n.level === 2, 30_000);
    expect(notification).toMatchObject({
      enterpriseId: 'ent-demo',
      enterpriseName: expect.stringContaining('Demo Chemical'),
      gatewayId: 'gw-demo-01',
      installationId: 'unit-1',
      sensorId: 'GT-101',
      gas: 'methane',
      unit: '%LEL',
      level: 2,
      drill: false,
    });
    expect(notification.value).toBeGreaterThanOrEqual(notification.setpoint);
    expect(Date.parse(notification.raisedAt)).toBeLessThanOrEqual(
      Date.parse(notification.receivedAt),
    );
  });

  it('raises level 1 before level 2, each once, in the server’s alarm ledger', async () => {
    await plant.receiver.waitFor((n) => n.level === 2, 30_000);
    const { alarms } = await api<{
      alarms: { id: string; sensorId: string; level: number; state: string; raisedAt: string }[];
    }>('/api/v1/alarms?state=all');
    const methane = alarms.filter((a) => a.sensorId === 'GT-101');
    const level1 = methane.filter((a) => a.level === 1);
    const level2 = methane.filter((a) => a.level === 2);
    expect(level1.length).toBeGreaterThanOrEqual(1);
    expect(level2.length).toBeGreaterThanOrEqual(1);
    expect(Date.parse(level1.at(-1)!.raisedAt)).toBeLessThanOrEqual(
      Date.parse(level2.at(-1)!.raisedAt),
    );
    // One notification per alarm, however the alarm was delivered.
    const pages = plant.receiver.notifications.filter((n) => n.alarmId === level2.at(-1)!.id);
    expect(pages).toHaveLength(1);
  });

  it('reports the gateway online and fresh telemetry from both devices in health and sensors', async () => {
    await expect
      .poll(async () => (await api<{ gatewaysOnline: number }>('/api/v1/health')).gatewaysOnline, {
        timeout: 10_000,
      })
      .toBe(1);
    const health = await api<{ newestTelemetryAgeMs: number | null }>('/api/v1/health');
    expect(health.newestTelemetryAgeMs).not.toBeNull();
    expect(health.newestTelemetryAgeMs!).toBeLessThan(5_000);
    await expect
      .poll(
        async () => {
          const { sensors } = await api<{ sensors: { sensorId: string; quality: string }[] }>(
            '/api/v1/sensors',
          );
          return sensors
            .filter((s) => s.quality === 'good')
            .map((s) => s.sensorId)
            .sort();
        },
        { timeout: 15_000 },
      )
      .toEqual([
        'AT-102',
        'AT-103',
        'AT-104',
        'GT-101',
        'LT-203',
        'PT-202',
        'TT-201',
        // The gateway's own status points: its storage faults and outbox (reported from the
        // start, never "no data yet"), and each device's communication state.
        '_gateway.storage_faults',
        '_uplink.backlog',
        '_uplink.dropped',
        'gas-controller-1.online',
        'tank-farm-1.online',
      ]);
  });

  it('relays a regulator’s acknowledgement to the gateway, whose alarm engine confirms it', async () => {
    const page = await plant.receiver.waitFor((n) => n.level === 2, 30_000);
    const login = await fetch(new URL('/api/v1/auth/login', plant.dashboardUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'regulator', password: 'demo-regulator' }),
    });
    expect(login.status).toBe(200);
    const { token } = (await login.json()) as { token: string };
    const ack = await fetch(
      new URL(
        `/api/v1/alarms/${page.enterpriseId}/${page.gatewayId}/${encodeURIComponent(page.alarmId)}/acknowledge`,
        plant.dashboardUrl,
      ),
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ note: 'ventilation started, area evacuated' }),
      },
    );
    expect(ack.status).toBe(200);
    await expect
      .poll(() => plant.gateway!.engine.active().find((a) => a.alarmId === page.alarmId)?.state, {
        timeout: 10_000,
      })
      .toBe('acknowledged');
  });

  it('shows an acknowledgement made at the edge in the platform’s disposal loop', async () => {
    await plant.receiver.waitFor((n) => n.level === 2, 30_000);
    const levelOne = plant.gateway!.engine.active().find((a) => a.level === 1)!;
    expect(levelOne.state).toBe('unacknowledged');
    plant.gateway!.applyCommand({
      v: 1,
      commandId: 'local-hmi-1',
      type: 'acknowledge',
      alarmId: levelOne.alarmId,
      by: 'operator:zhang',
      ts: Date.now(),
    });
    const login = await fetch(new URL('/api/v1/auth/login', plant.dashboardUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'regulator', password: 'demo-regulator' }),
    });
    const { token } = (await login.json()) as { token: string };
    const disposal = async () => {
      const response = await fetch(
        new URL(
          `/api/v1/alarms/ent-demo/gw-demo-01/${encodeURIComponent(levelOne.alarmId)}/disposal`,
          plant.dashboardUrl,
        ),
        { headers: { authorization: `Bearer ${token}` } },
      );
      const body = (await response.json()) as {
        disposition: { status: string; acknowledgedBy: string | null };
      };
      return body.disposition;
    };
    await expect
      .poll(async () => (await disposal()).status, { timeout: 10_000 })
      .toBe('acknowledged');
    expect((await disposal()).acknowledgedBy).toBe('edge:operator:zhang');
  });

  it('serves the live dashboard in Simplified Chinese', async () => {
    const response = await fetch(plant.dashboardUrl);
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('lang="zh-CN"');
  });
});

describe('npm start', () => {
  it('refuses a taken port with a message naming the port and how to change it', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          'bin/demo-plant.ts',
          '--http-port',
          String(port),
          '--mqtt-port',
          '0',
          '--modbus-port',
          '0',
          '--opcua-port',
          '0',
          '--receiver-port',
          '0',
          '--store',
          ':memory:',
        ],
        {
          cwd: path.resolve(import.meta.dirname, '../..'),
          env: { ...process.env, LOG_LEVEL: 'silent' },
        },
      );
      let stderr = '';
      child.stderr.on('data', (chunk) => {
        stderr += chunk;
      });
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      expect(code).toBe(1);
      expect(stderr).toContain(`port ${port} is already in use`);
      expect(stderr).toMatch(/--http-port or HAZARDWATCH_HTTP_PORT/);
    } finally {
      blocker.close();
    }
  }, 60_000);
});
