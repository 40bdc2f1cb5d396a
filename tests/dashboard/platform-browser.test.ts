/**
 * The platform page in headless Chromium (Debian's `chromium`, driven by playwright-core)
 * against a real server: a regulator logs in, sees a live alarm appear on the alarm desk,
 * acknowledges it from the alarm's page; in a second case an alarm left alone escalates on the
 * desk. Chromium missing fails the test.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { topicFor } from '../../protocol/index.js';
import { CentralServer } from '../../server/central-server.js';
import { parseServerConfig } from '../../server/config/index.js';
import { alarmEvent, SENSORS, status } from '../server/fixtures.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/lib/chromium/chromium';

describe('platform page in a browser', () => {
  let browser: Browser;
  let server: CentralServer | null = null;
  let gateway: MqttClient | null = null;
  let page: Page | null = null;
  let dir: string;

  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });

  afterAll(async () => {
    await browser?.close();
  });

  afterEach(async () => {
    await page?.close();
    page = null;
    await gateway?.endAsync(true);
    gateway = null;
    await server?.stop();
    server = null;
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(escalation?: { acknowledgeWithinMs: number[]; tickMs: number }) {
    dir = mkdtempSync(join(tmpdir(), 'hw-browser-'));
    server = new CentralServer(
      parseServerConfig({
        http: { port: 0 },
        mqtt: { port: 0 },
        store: { path: join(dir, 'db.sqlite') },
        enterprises: [
          {
            id: 'ent-01',
            name: '示范化工有限公司',
            province: '示范省',
            city: '示范市',
            county: '示范县',
          },
        ],
        platform: {
          users: [
            {
              username: 'regulator',
              name: '示范县应急管理局',
              role: 'regulator',
              jurisdiction: { province: '示范省', city: '示范市', county: '示范县' },
              password: 'demo-regulator',
            },
          ],
          ...(escalation ? { escalation } : {}),
        },
      }),
    );
    await server.start();
    gateway = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, {
      clientId: 'gw-01',
      reconnectPeriod: 0,
    });
    await gateway.publishAsync(
      topicFor('ent-01', 'gw-01', 'status'),
      JSON.stringify(status({ sensors: SENSORS })),
      {
        qos: 1,
      },
    );
    page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${server.httpPort}/platform`);
    await page.fill('#pf-username', 'regulator');
    await page.fill('#pf-password', 'demo-regulator');
    await page.click('#pf-login-submit');
    await page.waitForSelector('html[data-ready="true"]');
    await page.waitForSelector('#pf-connection[data-state="open"]');
    return page;
  }

  const raise = (alarmId: string) =>
    gateway!.publishAsync(
      topicFor('ent-01', 'gw-01', 'alarm'),
      JSON.stringify(alarmEvent({ alarmId, seq: Date.now(), ts: Date.now(), sentAt: Date.now() })),
      { qos: 1 },
    );

  it('lets a regulator log in, see a live alarm appear and acknowledge it', async () => {
    const p = await start();
    expect(await p.textContent('#pf-user')).toContain('监管部门');
    expect(await p.locator('#pf-ranking tbody tr[data-enterprise-id="ent-01"]').count()).toBe(1);
    await p.click('#pf-nav a[data-nav="desk"]');
    await p.waitForSelector('html[data-view="desk"][data-ready="true"]');
    await raise('live-1');
    const row = p.locator('#pf-desk tbody tr[data-alarm-id="live-1"]');
    await row.waitFor();
    expect(await row.getAttribute('data-status')).toBe('open');
    expect(await row.textContent()).toContain('二级');
    await row.locator('a').click();
    await p.waitForSelector('html[data-view="alarm"][data-ready="true"]');
    await p.click('form[data-form="acknowledge"] button[type="submit"]');
    await p.click('#pf-confirm button[data-confirm="yes"]');
    await p.waitForSelector('#pf-alarm[data-status="acknowledged"]');
    expect(
      await server!.platform.disposal.disposition({
        enterpriseId: 'ent-01',
        gatewayId: 'gw-01',
        alarmId: 'live-1',
      }),
    ).toMatchObject({
      status: 'acknowledged',
      acknowledgedBy: 'regulator',
    });
    // English on request.
    await p.click('#pf-lang');
    await p.waitForSelector('#pf-alarm h2 >> text=Acknowledged');
  }, 20_000);

  it('shows an alarm left alone escalating to county, city and province', async () => {
    const p = await start({ acknowledgeWithinMs: [600, 1200, 1800], tickMs: 100 });
    await p.click('#pf-nav a[data-nav="desk"]');
    await p.waitForSelector('html[data-view="desk"][data-ready="true"]');
    await raise('alone-1');
    await p.locator('#pf-desk tbody tr[data-alarm-id="alone-1"]').waitFor();
    // The page refreshes at most every 2 s, so it may show county and province without city.
    await p.waitForSelector(
      '#pf-desk tbody tr[data-alarm-id="alone-1"]:not([data-escalation="0"])',
      { timeout: 5_000 },
    );
    await p.waitForSelector('#pf-desk tbody tr[data-alarm-id="alone-1"][data-escalation="3"]', {
      timeout: 5_000,
    });
    expect(await p.textContent('#pf-desk tbody tr[data-alarm-id="alone-1"] .pf-escalation')).toBe(
      '已升级至省级',
    );
    const escalations = (
      await server!.platform.disposal.events({
        enterpriseId: 'ent-01',
        gatewayId: 'gw-01',
        alarmId: 'alone-1',
      })
    ).filter((e) => e.action === 'escalated');
    expect(escalations.map((e) => e.detail.to)).toEqual(['county', 'city', 'province']);
  }, 20_000);
});
