/**
 * The supervision pages in headless Chromium against a real server: the hazard ledger (list,
 * filters, listed-supervision badge, scoping), one hazard (evidence, steps), the enterprise
 * recording its rectification in English while the regulator's Chinese page follows live and
 * then verifies and closes it; and data quality, where a gateway that went offline is one
 * outage, not a device fault per point. Screenshots go to $HW_ARTIFACTS.
 */
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batch, SENSORS, status } from '../server/fixtures.js';
import { startWorkbench, type Workbench } from './workbench-fixture.js';

const ARTIFACTS = process.env.HW_ARTIFACTS ?? join(tmpdir(), 'hazardwatch-artifacts');
const DAY = 86_400_000;
/** Latin the Chinese pages may show: ids, point names and units from the config, standards. */
const ALLOWED_LATIN = [
  'HazardWatch',
  'English',
  'Reactor hall methane',
  'Tank 2 temperature',
  'GT-101',
  'TT-201',
  'gw-01',
  'gw-02',
  'GB/T 50493-2019',
  'min',
];

async function latinWords(page: Page): Promise<string[] | null> {
  let words = await page.locator('body').innerText();
  for (const allowed of ALLOWED_LATIN) words = words.replaceAll(allowed, '');
  return words.match(/[A-Za-z]{2,}[^\n]{0,20}/g);
}

describe('supervision pages in a browser', () => {
  let w: Workbench;
  let majorId: string;
  let listedId: string;
  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    w = await startWorkbench();
    const s = w.server.supervision;
    const item = {
      standard: '化工和危险化学品生产经营单位重大生产安全事故隐患判定标准（试行）',
      number: '12',
      text: 'No gas detection where leaks can occur',
      checked: false,
    };
    const open = async (enterpriseId: string, severity: 'major' | 'general', deadline: number) => {
      const h = await s.hazards.open(
        {
          enterpriseId,
          installationId: null,
          kind: 'accident',
          severity,
          title: 'Gas detector not working',
          ruleId: 'gas-detector-not-working',
          subject: 'gw-01/GT-101',
          item,
          source: 'screening',
          evidence: { sensorId: 'GT-101', offlineForMs: 7_200_000 },
          deadline,
        },
        'system',
      );
      s.emit(h, 'opened');
      return h.hazardId;
    };
    majorId = await open('ent-01', 'major', Date.now() + 7 * DAY);
    listedId = await open('ent-01', 'major', Date.now() - 10 * DAY);
    await open('ent-09', 'general', Date.now() + DAY); // another county: never shown
    await s.listNow(); // the overdue one: county at once, city after 7 days
    // A second gateway of ent-02 that goes offline: one outage, its points suppressed.
    const gw02 = await w.gateway('ent-02', 'gw-02');
    const now = Date.now();
    await gw02(
      'status',
      status({ gatewayId: 'gw-02', enterpriseId: 'ent-02', sensors: SENSORS, ts: now }),
    );
    await gw02(
      'telemetry',
      batch([{ value: 3, ts: now }], { gatewayId: 'gw-02', enterpriseId: 'ent-02', seq: now }),
    );
    await gw02(
      'status',
      status({ gatewayId: 'gw-02', enterpriseId: 'ent-02', state: 'offline', ts: now }),
    );
    for (let i = 0; i < 100 && !(await s.offlineGateways()).has('gw-02'); i++)
      await new Promise((r) => setTimeout(r, 50));
  }, 30_000);
  afterAll(async () => {
    await w?.stop();
  });

  it('lists the jurisdiction’s hazards with the listing badge, filters, and opens one', async () => {
    const page = await w.open({ width: 1366, height: 768 }, 'zh-CN', { hash: '#/hazards' });
    await page.waitForSelector('html[data-view="hazards"][data-ready="true"]');
    const rows = page.locator('#pf-hazards tbody tr[data-hazard-id]');
    expect(await rows.count()).toBe(2);
    const listed = page.locator(`#pf-hazards tr[data-hazard-id="${listedId}"] .pf-listed`);
    expect(await listed.getAttribute('data-listing')).toBe('2');
    expect(await listed.textContent()).toBe('市级挂牌督办');
    expect(await latinWords(page)).toBeNull();
    await page.screenshot({ path: join(ARTIFACTS, 'hazards-1366.png') });
    await page.selectOption('#pf-hazard-form select[name="status"]', 'closed');
    await page.click('#pf-hazard-form button[type="submit"]');
    await page.waitForSelector('#pf-hazards tbody tr:not([data-hazard-id])');
    await page.goto(`${w.url}/platform#/hazard/${majorId}`);
    await page.waitForSelector('html[data-view="hazard"][data-ready="true"]');
    expect(await page.getAttribute('#pf-hazard', 'data-status')).toBe('open');
    expect(await page.textContent('#pf-hazard [data-fact="item"]')).toContain('第 12 项');
    expect(await page.textContent('#pf-hazard-evidence')).toContain('offlineForMs: 7200000');
    expect(await page.locator('#pf-hazard-steps li[data-action="opened"]').count()).toBe(1);
    // A regulator does not rectify: the enterprise does.
    expect(await page.locator('form[data-form="hazard-rectify"]').count()).toBe(0);
    await page.context().close();
  }, 60_000);

  it('the enterprise records its rectification; the regulator’s page follows live and closes it', async () => {
    const regulator = await w.open({ width: 1366, height: 768 }, 'zh-CN', {
      hash: `#/hazard/${majorId}`,
    });
    await regulator.waitForSelector('html[data-view="hazard"][data-ready="true"]');
    await regulator.waitForSelector('#pf-connection[data-state="open"]');
    const operator = await w.open({ width: 390, height: 844 }, 'en', {
      user: 'operator',
      hash: `#/hazard/${majorId}`,
    });
    await operator.waitForSelector('html[data-view="hazard"][data-ready="true"]');
    await operator.fill(
      'form[data-form="hazard-rectify"] textarea[name="evidence"]',
      'Detector replaced, tested with gas',
    );
    await operator.click('form[data-form="hazard-rectify"] button[type="submit"]');
    await operator.click('#pf-confirm button[data-confirm="yes"]');
    await operator.waitForSelector('#pf-hazard[data-status="rectified"]');
    expect(await operator.textContent('#pf-hazard-msg')).toBe('Submitted; awaiting verification');
    // Screening's condition still holds for this record: say it stopped, as screening would.
    const s = w.server.supervision;
    s.emit(
      await s.hazards.evidence(majorId, 'condition-cleared', { sensorId: 'GT-101' }),
      'condition-cleared',
    );
    // The regulator's page updates from the stream, without a reload.
    await regulator.waitForSelector('#pf-hazard[data-status="rectified"]');
    await regulator.waitForSelector('form[data-form="hazard-verify"]');
    await regulator.fill('form[data-form="hazard-verify"] textarea[name="note"]', '现场核查通过');
    await regulator.click('form[data-form="hazard-verify"] button[type="submit"]');
    await regulator.click('#pf-confirm button[data-confirm="yes"]');
    await regulator.waitForSelector('#pf-hazard[data-status="closed"]');
    expect(await regulator.textContent('#pf-hazard-msg')).toBe('验收已记录：验收通过，销号');
    expect((await w.server.supervision.hazards.get(majorId))?.status).toBe('closed');
    await regulator.screenshot({ path: join(ARTIFACTS, 'hazard-closed-1366.png') });
    await operator.context().close();
    await regulator.context().close();
  }, 60_000);

  it('counts an offline gateway once, not as device faults, in both languages', async () => {
    const page = await w.open({ width: 1920, height: 1080 }, 'zh-CN', { hash: '#/quality' });
    await page.waitForSelector('html[data-view="quality"][data-ready="true"]');
    const row = page.locator('#pf-quality tr[data-enterprise-id="ent-02"]');
    expect(await row.getAttribute('data-outages')).toBe('1');
    expect(await row.getAttribute('data-faults')).toBe('0');
    expect(await row.getAttribute('data-suppressed')).toBe(String(SENSORS.length));
    expect(await page.locator('#pf-outages li[data-gateway-id="gw-02"]').count()).toBe(1);
    expect(await page.textContent('#pf-quality-def')).toContain('点位在线率（时间）');
    expect(await latinWords(page)).toBeNull();
    await page.click('#pf-quality tr[data-enterprise-id="ent-02"] a');
    await page.waitForSelector('#pf-quality-points tbody tr');
    const statuses = await page
      .locator('#pf-quality-points tbody tr')
      .evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-status')));
    expect(new Set(statuses)).toEqual(new Set(['gateway-offline']));
    await page.screenshot({ path: join(ARTIFACTS, 'quality-1920.png') });
    await page.context().close();
    const en = await w.open({ width: 1366, height: 768 }, 'en', { hash: '#/quality' });
    await en.waitForSelector('html[data-view="quality"][data-ready="true"]');
    const text = (await en.locator('body').innerText())
      .replace(/示范[省市县]/gu, '')
      .replace('中文', '');
    expect(text.match(/[\u3400-\u9fff]+/gu)).toBeNull();
    expect(text).toContain('counted as one outage');
    await en.context().close();
  }, 60_000);
});
