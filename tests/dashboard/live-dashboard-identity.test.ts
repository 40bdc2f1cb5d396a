/**
 * The live dashboard keeps two plants' alarms apart when they carry the same alarm id (issue 13:
 * an alarm's identity is enterprise, gateway and id). Before, its alarm maps were keyed by the
 * id alone, so the second plant's alarm replaced the first one's row. Headless Chromium
 * (Debian's) against a real server; two gateways publish through the real broker.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { topicFor } from '../../protocol/index.js';
import { CentralServer } from '../../server/central-server.js';
import { parseServerConfig } from '../../server/config/index.js';
import { alarmEvent, SENSORS, status } from '../server/fixtures.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/lib/chromium/chromium';

describe('the live dashboard', () => {
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  afterAll(async () => {
    while (cleanups.length) await cleanups.pop()!();
  });

  it('merged two plants’ alarms with the same id into one row: now shows both', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hw-live-identity-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const server = new CentralServer(
      parseServerConfig({
        http: { port: 0 },
        mqtt: { port: 0 },
        store: { path: join(dir, 'db.sqlite') },
      }),
    );
    await server.start();
    cleanups.push(() => server.stop());
    const gateways: [string, string][] = [
      ['ent-01', 'gw-01'],
      ['ent-02', 'gw-02'],
    ];
    const clients: MqttClient[] = [];
    for (const [enterpriseId, gatewayId] of gateways) {
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, {
        clientId: gatewayId,
        reconnectPeriod: 0,
      });
      cleanups.push(() => client.endAsync(true));
      clients.push(client);
      await client.publishAsync(
        topicFor(enterpriseId, gatewayId, 'status'),
        JSON.stringify(status({ gatewayId, enterpriseId, sensors: SENSORS })),
        { qos: 1 },
      );
    }
    const browser: Browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox'],
    });
    cleanups.push(() => browser.close());
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${server.httpPort}/`);
    await page.waitForSelector('#connection-state[data-state="open"]');
    for (const [i, [enterpriseId, gatewayId]] of gateways.entries()) {
      await clients[i]!.publishAsync(
        topicFor(enterpriseId, gatewayId, 'alarm'),
        JSON.stringify(
          alarmEvent({
            enterpriseId,
            gatewayId,
            alarmId: 'GT-101-gas.L2.same',
            seq: Date.now() + i,
            ts: Date.now(),
            sentAt: Date.now(),
          }),
        ),
        { qos: 1 },
      );
    }
    await expect
      .poll(() => page.locator('#active-alarms > [data-alarm-id="GT-101-gas.L2.same"]').count(), {
        timeout: 10_000,
      })
      .toBe(2);
  }, 30_000);
});
