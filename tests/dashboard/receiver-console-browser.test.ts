/**
 * The emergency-centre console (simulators/emergency-receiver.ts) in headless Chromium on a
 * phone (390×844): Chinese by default, values rounded with their unit, no sideways scroll, the
 * state a follow-up reported, receipt confirmed by a button; English on request.
 */
import { createHmac } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { EmergencyReceiver } from '../../simulators/emergency-receiver.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/lib/chromium/chromium';
const ARTIFACTS = process.env.HW_ARTIFACTS ?? join(tmpdir(), 'hazardwatch-artifacts');
const SECRET = 'console-secret-0123456789';

async function post(receiver: EmergencyReceiver, body: object) {
  const raw = JSON.stringify(body);
  const timestamp = String(Date.now());
  const signature = `sha256=${createHmac('sha256', SECRET).update(`${timestamp}.${raw}`).digest('hex')}`;
  const response = await fetch(receiver.notifyUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-hazardwatch-timestamp': timestamp,
      'x-hazardwatch-signature': signature,
    },
    body: raw,
  });
  expect(response.status).toBe(202);
}

describe('the emergency-centre console', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    while (cleanups.length) await cleanups.pop()!();
  });

  it('showed 50.513343811035156 %LEL, scrolled sideways and spoke English only (issue 15): now fits a phone in Chinese', async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const receiver = new EmergencyReceiver({ port: 0, secret: SECRET });
    await receiver.start();
    cleanups.push(() => receiver.stop());
    await post(receiver, {
      v: 1,
      notificationId: 'ntf-1',
      alarmId: 'GT-101-gas.L2.7',
      enterpriseId: 'ent-demo',
      enterpriseName: '示范化工有限公司 (Demo Chemical Co.)',
      gatewayId: 'gw-01',
      installationId: 'unit-1',
      sensorId: 'GT-101',
      sensorName: 'Reactor hall methane, a long name that would widen a table on a phone',
      location: 'Reactor hall, east wall',
      gas: 'methane',
      level: 2,
      value: 50.513343811035156,
      unit: '%LEL',
      setpoint: 50,
      raisedAt: new Date().toISOString(),
      drill: false,
      message: 'methane level 2',
    });
    await post(receiver, {
      v: 1,
      kind: 'cleared',
      followUpId: 'ntf-1.cleared',
      notificationId: 'ntf-1',
      alarmId: 'GT-101-gas.L2.7',
      enterpriseId: 'ent-demo',
      gatewayId: 'gw-01',
      at: new Date().toISOString(),
    });
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    cleanups.push(() => browser.close());
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
    await page.goto(receiver.url);
    await page.waitForSelector('article.card[data-notification-id="ntf-1"]');
    const card = page.locator('article.card[data-notification-id="ntf-1"]');
    const text = await card.innerText();
    expect(text).toContain('50.5 %LEL');
    expect(text).not.toContain('50.513');
    expect(text).toContain('已恢复正常');
    expect(text).toMatch(/\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}/);
    expect(
      await page.evaluate('document.documentElement.scrollWidth - window.innerWidth'),
    ).toBeLessThanOrEqual(0);
    await page.screenshot({ path: join(ARTIFACTS, 'receiver-console-390.png'), fullPage: true });
    await card.locator('button[data-confirm]').click();
    await page.waitForSelector('article.card[data-notification-id="ntf-1"] .confirmed');
    expect(receiver.notifications[0]?.confirmedAt).not.toBeNull();
    await page.click('#lang');
    await page.waitForSelector('text=Returned to normal');
    expect(await page.textContent('#title')).toBe('Emergency centre · alarm receiver');
  }, 30_000);
});
