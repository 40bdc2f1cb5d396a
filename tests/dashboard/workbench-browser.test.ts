/**
 * The regulator's job on the workbench in headless Chromium (Debian's, via playwright-core)
 * against a real server and a gateway on MQTT: find the riskiest enterprise (by keyboard), see
 * the terms behind its colour, open its alarm, read the trend (time axis, unit, setpoint),
 * acknowledge it, acknowledge one someone else already acknowledged (a message, no uncaught
 * error), be refused closing while still in alarm. Screenshots go to $HW_ARTIFACTS (default
 * <tmp>/hazardwatch-artifacts). Export and language checks: workbench-export-browser.test.ts.
 */
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkbench, type Workbench } from './workbench-fixture.js';

const ARTIFACTS = process.env.HW_ARTIFACTS ?? join(tmpdir(), 'hazardwatch-artifacts');

describe('the workbench in a browser', () => {
  let w: Workbench;
  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    w = await startWorkbench();
  }, 30_000);
  afterAll(async () => {
    await w?.stop();
  });

  it('finds the riskiest enterprise, its terms, its alarm and trend; acknowledges; refuses closing in alarm', async () => {
    const page = await w.open({ width: 1366, height: 768 }, 'zh-CN', { blockStream: true });
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(err.message));
    // The riskiest first; reached and opened by keyboard.
    const first = page.locator('#pf-ranking tbody tr').first();
    expect(await first.getAttribute('data-enterprise-id')).toBe('ent-01');
    await first.focus();
    await page.keyboard.press('Enter');
    await page.waitForSelector('html[data-view="enterprise"][data-ready="true"]');
    expect(await page.locator('#pf-detail').isVisible()).toBe(true);
    const inView = await page
      .locator('#pf-detail')
      .evaluate(
        (node) =>
          node.getBoundingClientRect().top < node.ownerDocument.defaultView!.innerHeight &&
          node.getBoundingClientRect().top >= -1,
      );
    expect(inView).toBe(true);
    // The terms that make it red or orange.
    const unack = page.locator('#pf-terms tr[data-factor="unacknowledged"]');
    expect(Number(await unack.getAttribute('data-points'))).toBeGreaterThan(0);
    expect(await unack.textContent()).toContain('未确认报警');
    await page.screenshot({ path: join(ARTIFACTS, 'workbench-enterprise-1366.png') });
    // Its alarm, with the trend around it.
    await page.click('#pf-history a[data-alarm-id="gas-high"]');
    await page.waitForSelector('html[data-view="alarm"][data-ready="true"]');
    await page.waitForSelector('#pf-alarm-trend[data-chart="trend"]');
    // A string, so the test runner does not rewrite the page's dynamic import.
    const axes = await page.evaluate(`(async () => {
      const echarts = await import('/assets/vendor/echarts.js');
      const option = echarts.getInstanceByDom(document.getElementById('pf-alarm-trend')).getOption();
      return { x: option.xAxis[0].type, xName: option.xAxis[0].name, y: option.yAxis[0].name };
    })()`);
    expect(axes).toEqual({ x: 'time', xName: '时间', y: '%LEL' });
    expect(await page.getAttribute('#pf-alarm-trend', 'data-setpoints')).toContain('50');
    expect(Number(await page.getAttribute('#pf-alarm-trend', 'data-buckets'))).toBeGreaterThan(0);
    // Acknowledge through its own labelled form, with confirmation.
    await page.click('form[data-form="acknowledge"] button[type="submit"]');
    await page.click('#pf-confirm button[data-confirm="yes"]');
    await page.waitForSelector('#pf-alarm[data-status="acknowledged"]');
    expect(await page.textContent('#pf-alarm-msg')).toBe('已确认');
    // Close while the value is still in alarm: refused, with the reason on the page.
    await page.fill('form[data-form="close"] textarea[name="note"]', '已处置');
    await page.click('form[data-form="close"] button[type="submit"]');
    expect(await page.textContent('form[data-form="close"] .pf-msg')).toContain('仍在报警中');
    expect((await w.disposition('gas-high'))?.status).toBe('acknowledged');
    // An alarm someone else acknowledged meanwhile (this page's stream is down, so it still
    // offers the form): the 409 becomes a sentence.
    await page.goto(`${w.url}/platform#/alarm/ent-01/gw-01/temp-high`);
    await page.waitForSelector('html[data-view="alarm"][data-ready="true"]');
    await w.acknowledgeElsewhere('temp-high');
    await page.click('form[data-form="acknowledge"] button[type="submit"]');
    await page.click('#pf-confirm button[data-confirm="yes"]');
    await page.waitForSelector('#pf-alarm-msg[data-kind="error"]');
    expect(await page.textContent('#pf-alarm-msg')).toContain('报警状态已变化');
    expect(pageErrors).toEqual([]);
    await page.screenshot({ path: join(ARTIFACTS, 'workbench-alarm-1366.png'), fullPage: true });
    await page.close();
  }, 60_000);
});
