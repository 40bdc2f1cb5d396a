/**
 * A real server (free ports, temporary store), a gateway on MQTT with an hour of readings and
 * two active alarms, and Debian's Chromium, for the workbench browser tests.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { type Browser, chromium, type Page } from 'playwright-core';
import { topicFor } from '../../protocol/index.js';
import { CentralServer } from '../../server/central-server.js';
import { parseServerConfig } from '../../server/config/index.js';
import { alarmEvent, batch, SENSORS, status } from '../server/fixtures.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/lib/chromium/chromium';
const COUNTY = { province: '示范省', city: '示范市', county: '示范县' };

export interface Workbench {
  url: string;
  server: CentralServer;
  browser: Browser;
  open(
    viewport: { width: number; height: number },
    lang: 'zh-CN' | 'en',
    options?: { blockStream?: boolean; hash?: string; user?: 'regulator' | 'operator' },
  ): Promise<Page>;
  disposition(alarmId: string): Promise<{ status: string } | undefined>;
  acknowledgeElsewhere(alarmId: string): Promise<void>;
  /** Another gateway on MQTT (its own client id), publishing on its own topics. */
  gateway(
    enterpriseId: string,
    gatewayId: string,
  ): Promise<(channel: 'status' | 'telemetry' | 'alarm', payload: object) => Promise<unknown>>;
  stop(): Promise<void>;
}

export async function startWorkbench(): Promise<Workbench> {
  const dir = mkdtempSync(join(tmpdir(), 'hw-workbench-'));
  const server = new CentralServer(
    parseServerConfig({
      http: { port: 0 },
      mqtt: { port: 0 },
      store: { path: join(dir, 'db.sqlite') },
      enterprises: [
        { id: 'ent-01', name: '示范化工有限公司 (Demo Chemical Co.)', ...COUNTY },
        { id: 'ent-02', name: '东方涂料厂 (Eastern Coatings)', ...COUNTY },
        { id: 'ent-09', name: '邻县化肥厂 (Next County Fertiliser)', ...COUNTY, county: '邻县' },
      ],
      platform: {
        enterpriseSites: [
          { enterpriseId: 'ent-01', lat: 30.52, lon: 114.31 },
          { enterpriseId: 'ent-02', lat: 30.48, lon: 114.39 },
        ],
        installations: [
          {
            id: 'unit-1',
            enterpriseId: 'ent-01',
            name: '储罐区 (Tank farm)',
            peopleWithin500m: 40,
            inventory: [{ chemical: 'chlorine', quantityT: 20 }],
          },
        ],
        users: [
          {
            username: 'regulator',
            name: '示范县应急管理局 (Demo County Emergency Management Bureau)',
            role: 'regulator',
            jurisdiction: COUNTY,
            password: 'demo-regulator',
          },
          {
            username: 'operator',
            role: 'enterprise',
            enterpriseId: 'ent-01',
            password: 'demo-operator',
          },
        ],
      },
    }),
  );
  await server.start();
  const gateway: MqttClient = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, {
    clientId: 'gw-01',
    reconnectPeriod: 0,
  });
  const publish = (channel: 'status' | 'telemetry' | 'alarm', payload: object) =>
    gateway.publishAsync(topicFor('ent-01', 'gw-01', channel), JSON.stringify(payload), { qos: 1 });
  const now = Date.now();
  await publish('status', status({ sensors: SENSORS, ts: now }));
  // An hour of readings, one a minute, rising to 52 %LEL; the temperature steady.
  const readings = [];
  for (let i = 0; i <= 60; i++) {
    const ts = now - (60 - i) * 60_000;
    readings.push({
      sensorId: 'GT-101',
      value: i < 50 ? 8 + (i % 3) : 52.3,
      quality: 'good' as const,
      ts,
    });
    readings.push({ sensorId: 'TT-201', value: 64.2, quality: 'good' as const, ts });
  }
  await publish('telemetry', batch(readings, { seq: now, sentAt: now }));
  await publish(
    'alarm',
    alarmEvent({
      alarmId: 'gas-high',
      seq: now + 1,
      ts: now - 10 * 60_000,
      sentAt: now,
      value: 52.3,
    }),
  );
  await publish(
    'alarm',
    alarmEvent({
      alarmId: 'temp-high',
      ruleId: 'TT-201-high',
      sensorId: 'TT-201',
      sensorName: 'Tank 2 temperature',
      level: 1,
      unit: '°C',
      setpoint: 60,
      value: 64.2,
      gas: undefined,
      seq: now + 2,
      ts: now - 5 * 60_000,
      sentAt: now,
    }),
  );
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  const url = `http://127.0.0.1:${server.httpPort}`;
  const key = (alarmId: string) => ({ enterpriseId: 'ent-01', gatewayId: 'gw-01', alarmId });
  const others: MqttClient[] = [];
  // Alarms arrive through the broker: wait until the ledger has both.
  for (let i = 0; i < 100 && !(await server.platform.disposal.disposition(key('temp-high'))); i++)
    await new Promise((r) => setTimeout(r, 50));
  return {
    url,
    server,
    browser,
    async open(viewport, lang, options = {}) {
      const context = await browser.newContext({ viewport, locale: lang, acceptDownloads: true });
      const page = await context.newPage();
      if (options.blockStream) await page.route('**/api/v1/stream**', (route) => route.abort());
      await page.goto(`${url}/platform?lang=${lang === 'en' ? 'en' : 'zh'}${options.hash ?? ''}`);
      const user = options.user ?? 'regulator';
      await page.fill('#pf-username', user);
      await page.fill('#pf-password', `demo-${user}`);
      await page.click('#pf-login-submit');
      await page.waitForSelector('html[data-ready="true"]');
      return page;
    },
    disposition: (alarmId) => server.platform.disposal.disposition(key(alarmId)),
    async acknowledgeElsewhere(alarmId) {
      await server.platform.disposal.acknowledge(key(alarmId), 'county-duty-officer');
    },
    async gateway(enterpriseId, gatewayId) {
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, {
        clientId: gatewayId,
        reconnectPeriod: 0,
      });
      others.push(client);
      return (channel, payload) =>
        client.publishAsync(topicFor(enterpriseId, gatewayId, channel), JSON.stringify(payload), {
          qos: 1,
        });
    },
    async stop() {
      await browser.close();
      await gateway.endAsync(true);
      for (const client of others) await client.endAsync(true);
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
