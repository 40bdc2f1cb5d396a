/**
 * The workbench API through app.inject(): ranking with explained terms, risk history,
 * indicators, trends, the alarm desk, reports; each scoped (a regulator of another county sees
 * nothing of this one).
 */
import ExcelJS from 'exceljs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { trendInterval } from '../../server/api/workbench-routes.js';
import { SENSORS, status } from '../server/fixtures.js';
import { type Harness, startHarness } from './harness.js';

const H = 60 * 60_000;
let h: Harness;
let admin: string;
let regK2: string;
let regC1: string;

beforeEach(async () => {
  h = await startHarness();
  admin = await h.login('admin');
  regK2 = await h.login('reg-k2');
  regC1 = await h.login('reg-c1');
});
afterEach(async () => {
  await h.stop();
});

const get = (token: string, url: string) =>
  h.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
const post = (token: string, url: string, payload: object) =>
  h.app.inject({ method: 'POST', url, payload, headers: { authorization: `Bearer ${token}` } });
const W = '/api/v1/workbench';

describe('workbench ranking and risk', () => {
  it('ranks by the stable score and keeps the colour after the values return to normal', async () => {
    const alarms = [];
    for (let i = 0; i < 3; i++) alarms.push(await h.raise('ent-a', { alarmId: `a-${i}` }));
    let body = (await get(regC1, `${W}/ranking`)).json();
    expect(body.enterprises.map((e: { id: string }) => e.id)).toEqual(['ent-a', 'ent-b']);
    const before = body.enterprises[0];
    expect(before.risk.colour).toBe('red');
    expect(before.counts).toMatchObject({ inAlarmLevel2: 3, unacknowledged: 3 });
    for (const a of alarms) await h.raise('ent-a', { alarmId: a.alarmId, transition: 'cleared' });
    h.clock.advance(10_000);
    body = (await get(regC1, `${W}/ranking`)).json();
    const after = body.enterprises[0];
    expect(after.id).toBe('ent-a');
    expect(after.risk.colour).toBe('red');
    const terms = Object.fromEntries(
      after.risk.terms.map((t: { factor: string }) => [t.factor, t]),
    );
    expect(terms.unacknowledged.live).toBe(3);
    expect(terms.level2InAlarm.decaying).toBe(3);
  });

  it('shows no enterprise of another county', async () => {
    await h.raise('ent-a');
    const body = (await get(regK2, `${W}/ranking`)).json();
    expect(body.enterprises.map((e: { id: string }) => e.id)).toEqual(['ent-b']);
    expect((await get(regK2, `${W}/enterprises/ent-a/risk-history`)).statusCode).toBe(403);
    expect((await get(regK2, `${W}/enterprises/ent-b/risk-history?days=2`)).statusCode).toBe(200);
  });

  it('gives an hourly colour history over the last days', async () => {
    await h.raise('ent-a');
    h.clock.advance(30 * H);
    const fresh = await h.login('reg-c1'); // sessions last 12 h
    const body = (await get(fresh, `${W}/enterprises/ent-a/risk-history?days=2`)).json();
    expect(body.samples.length).toBeGreaterThanOrEqual(48);
    expect(new Set(body.samples.map((s: { colour: string }) => s.colour)).size).toBeGreaterThan(1);
  });

  it('needs a token', async () => {
    expect((await h.app.inject({ method: 'GET', url: `${W}/ranking` })).statusCode).toBe(401);
  });
});

describe('workbench indicators', () => {
  it('leaves gateway diagnostic points out of the online rate, and defines every indicator', async () => {
    await h.send(
      'ent-b',
      'gw-ent-b',
      'status',
      status({
        gatewayId: 'gw-ent-b',
        enterpriseId: 'ent-b',
        sensors: [
          ...SENSORS,
          { sensorId: '_uplink.backlog', name: 'backlog', kind: 'other', unit: '' },
        ],
      }),
    );
    const body = (await get(regK2, `${W}/indicators?lang=en`)).json();
    expect(body.indicators.online.denominator).toBe(2);
    expect(body.indicators.points.map((p: { sensorId: string }) => p.sensorId)).toEqual([
      'GT-101',
      'TT-201',
    ]);
    for (const id of [
      'onlineRate',
      'alarmsPerDay',
      'acknowledgedInTime',
      'disposalRate',
      'meanDisposalTime',
      'overdueDisposals',
      'colourDistribution',
    ])
      expect(body.definitions[id]).toMatch(/\w{4}/);
    expect(body.definitions.acknowledgedInTime).toContain('5 min');
  });

  it('counts acknowledgement in time, disposal rate and alarms per day by level', async () => {
    const fast = await h.raise('ent-b', { alarmId: 'fast' });
    await h.raise('ent-b', { alarmId: 'slow', level: 1 });
    h.clock.advance(60_000);
    await post(regK2, `/api/v1/alarms/${fast}/acknowledge`, {});
    await h.raise('ent-b', { alarmId: 'fast', transition: 'cleared' });
    await post(regK2, `${W}/alarms/${fast}/close`, { note: 'vented' });
    h.clock.advance(10 * 60_000);
    const body = (await get(regK2, `${W}/indicators?utcOffsetMin=480`)).json();
    const ind = body.indicators;
    expect(ind.acknowledgedInTime).toMatchObject({ numerator: 1, denominator: 2 });
    expect(ind.disposal).toMatchObject({ numerator: 1, denominator: 2 });
    expect(ind.meanDisposalMs).toBe(60_000);
    expect(ind.alarmsPerDay.reduce((s: number, d: { level1: number }) => s + d.level1, 0)).toBe(1);
    expect(ind.alarmsPerDay.reduce((s: number, d: { level2: number }) => s + d.level2, 0)).toBe(1);
    expect(body.definitions.onlineRate).toContain('在线率');
  });
});

describe('workbench overview', () => {
  const D = 24 * H;

  it('answers the ranking, the 24 h totals and 7 days per day as the separate routes do, in scope', async () => {
    const fast = await h.raise('ent-b', { alarmId: 'fast' });
    await h.raise('ent-b', { alarmId: 'slow', level: 1 });
    await h.raise('ent-a', { alarmId: 'a-1' });
    h.clock.advance(60_000);
    await post(regC1, `/api/v1/alarms/${fast}/acknowledge`, {});
    await h.raise('ent-b', { alarmId: 'fast', transition: 'cleared' });
    await post(regC1, `${W}/alarms/${fast}/close`, { note: 'vented' });
    h.clock.advance(2 * D); // one alarm day inside the 7 days, outside the last 24 h
    await h.raise('ent-a', { alarmId: 'a-2', level: 1 });
    const now = h.clock.now();
    const c1Token = await h.login('reg-c1'); // sessions last 12 h
    const k2Token = await h.login('reg-k2');
    for (const token of [c1Token, k2Token]) {
      const overview = (await get(token, `${W}/overview?utcOffsetMin=480&lang=en`)).json();
      const ranking = (await get(token, `${W}/ranking`)).json();
      const day = (await get(token, `${W}/indicators?utcOffsetMin=480&lang=en`)).json();
      const week = (
        await get(token, `${W}/indicators?utcOffsetMin=480&from=${now - 7 * D + 1}&to=${now}`)
      ).json();
      expect(overview.at).toBe(ranking.at);
      expect(overview.halfLifeMs).toBe(ranking.halfLifeMs);
      expect(overview.enterprises).toEqual(ranking.enterprises);
      const { enterprises, points, ...totals } = day.indicators;
      expect(enterprises.length).toBeGreaterThan(0);
      expect(points.length).toBeGreaterThan(0);
      expect(overview.indicators).toEqual(totals); // without the per-enterprise and per-point lists
      expect(overview.definitions).toEqual(day.definitions);
      expect(overview.targets).toEqual(day.targets);
      expect(overview.days).toEqual({
        from: now - 7 * D + 1,
        to: now,
        alarmsPerDay: week.indicators.alarmsPerDay,
      });
    }
    const c1 = (await get(c1Token, `${W}/overview`)).json();
    expect(c1.enterprises.map((e: { id: string }) => e.id).sort()).toEqual(['ent-a', 'ent-b']);
    const count = (days: { level1: number; level2: number }[]) =>
      days.reduce((s, d) => s + d.level1 + d.level2, 0);
    expect(count(c1.indicators.alarmsPerDay)).toBe(1); // a-2
    expect(count(c1.days.alarmsPerDay)).toBe(4);
    const k2 = (await get(k2Token, `${W}/overview`)).json();
    expect(k2.enterprises.map((e: { id: string }) => e.id)).toEqual(['ent-b']);
    expect(count(k2.days.alarmsPerDay)).toBe(2);
  });

  it('counts an alarm that arrived late in its days even when its raise is older than the score reads', async () => {
    // Raised on the edge 20 h before it arrived (an outbox backlog), handled, then 7.9 days
    // pass: its raise lies beyond the score's 8.5-day lookback, its arrival within 8 days.
    const late = await h.raise('ent-b', { alarmId: 'late', ts: h.clock.now() - 20 * H });
    await post(regK2, `/api/v1/alarms/${late}/acknowledge`, {});
    await h.raise('ent-b', { alarmId: 'late', transition: 'cleared' });
    await post(regK2, `${W}/alarms/${late}/close`, { note: 'vented' });
    h.clock.advance(7.9 * D);
    const token = await h.login('reg-k2'); // sessions last 12 h
    const now = h.clock.now();
    const overview = (await get(token, `${W}/overview?days=8&utcOffsetMin=0`)).json();
    const period = (
      await get(token, `${W}/indicators?utcOffsetMin=0&from=${now - 8 * D + 1}&to=${now}`)
    ).json();
    expect(overview.days.alarmsPerDay).toEqual(period.indicators.alarmsPerDay);
    const total = overview.days.alarmsPerDay.reduce(
      (s: number, d: { level2: number }) => s + d.level2,
      0,
    );
    expect(total).toBe(1);
  });

  it('refuses a number of days out of range and needs a token', async () => {
    expect((await get(regK2, `${W}/overview?days=0`)).statusCode).toBe(400);
    expect((await get(regK2, `${W}/overview?days=32`)).statusCode).toBe(400);
    expect((await h.app.inject({ method: 'GET', url: `${W}/overview` })).statusCode).toBe(401);
  });
});

describe('workbench trend', () => {
  it('asks for whole-hour buckets from about three weeks up, whole seconds below', async () => {
    expect(trendInterval(0, 60 * 60_000)).toBe(5_000);
    expect(trendInterval(0, 7 * 24 * H)).toBe(840_000);
    expect(trendInterval(0, 29 * 24 * H)).toBe(H);
    expect(trendInterval(0, 30 * 24 * H + 60_000)).toBe(H);
    expect(trendInterval(0, 45 * 24 * H)).toBe(2 * H);
  });

  it('answers a 30-day window in a bounded number of buckets, with setpoints and alarms', async () => {
    await h.raise('ent-b', { alarmId: 'tr-1', setpoint: 50 });
    const from = h.clock.now() - 30 * 24 * H;
    const res = await get(
      regK2,
      `${W}/trend?gatewayId=gw-ent-b&sensorId=GT-101&from=${from}&to=${h.clock.now()}`,
    );
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect((body.to - body.from) / body.intervalMs).toBeLessThanOrEqual(2_000);
    // Whole hours, so the store answers from its hourly rollups (sqlite-rollups.ts).
    expect(body.intervalMs).toBe(H);
    expect(body.sensor).toMatchObject({ unit: '%LEL', setpointLevel2: 50 });
    expect(body.alarms.map((a: { alarmId: string }) => a.alarmId)).toEqual(['tr-1']);
    expect((await get(regK2, `${W}/trend?gatewayId=gw-ent-a&sensorId=GT-101`)).statusCode).toBe(
      403,
    );
  });
});

describe('workbench alarm desk', () => {
  it('filters, puts escalated and level-2 first, pages, and scopes', async () => {
    await h.raise('ent-b', { alarmId: 'l1-old', level: 1 });
    h.clock.advance(2 * 60_000);
    await h.platform.tick(); // l1-old escalates to the county (60 s in the harness)
    await h.raise('ent-b', { alarmId: 'l2-new', level: 2 });
    await h.raise('ent-b', { alarmId: 'l1-new', level: 1 });
    await h.raise('ent-a', { alarmId: 'other-county' });
    const all = (await get(regK2, `${W}/alarms`)).json();
    expect(all.items.map((i: { alarm: { id: string } }) => i.alarm.id)).toEqual([
      'l1-old',
      'l2-new',
      'l1-new',
    ]);
    const level1 = (await get(regK2, `${W}/alarms?level=1&pageSize=1&page=2`)).json();
    expect(level1.total).toBe(2);
    expect(level1.items.map((i: { alarm: { id: string } }) => i.alarm.id)).toEqual(['l1-new']);
    const filtered = (await get(regK2, `${W}/alarms?enterpriseId=ent-a`)).json();
    expect(filtered.total).toBe(0);
    expect((await get(regK2, `${W}/alarms/ent-a/gw-ent-a/other-county`)).statusCode).toBe(403);
  });

  it('acknowledges in bulk with one note; a second acknowledgement answers a conflict per alarm', async () => {
    const a = await h.raise('ent-b', { alarmId: 'b1' });
    const b = await h.raise('ent-b', { alarmId: 'b2' });
    const c = await h.raise('ent-a', { alarmId: 'not-mine' });
    const body = {
      alarms: [a, b, c].map(({ enterpriseId, gatewayId, alarmId }) => ({
        enterpriseId,
        gatewayId,
        alarmId,
      })),
      note: 'seen on CCTV',
    };
    const first = (await post(regK2, `${W}/alarms/acknowledge`, body)).json();
    expect(first.acknowledged).toBe(2);
    expect(first.results.map((r: { ok: boolean; code?: string }) => r.code ?? 'ok')).toEqual([
      'ok',
      'ok',
      'HW_FORBIDDEN',
    ]);
    const second = (await post(regK2, `${W}/alarms/acknowledge`, body)).json();
    expect(second.acknowledged).toBe(0);
    expect(second.results[0]).toMatchObject({ ok: false, code: 'HW_CONFLICT' });
    const detail = (await get(regK2, `${W}/alarms/${a}`)).json();
    expect(detail.steps.map((s: { action: string }) => s.action)).toEqual([
      'raised',
      'acknowledged',
    ]);
    expect(detail.steps[1].detail).toEqual({ note: 'seen on CCTV' });
  });

  it('refuses to close an alarm still in alarm unless an override is given, and records it', async () => {
    const a = await h.raise('ent-b', { alarmId: 'still' });
    await post(regK2, `/api/v1/alarms/${a}/acknowledge`, {});
    const refused = await post(regK2, `${W}/alarms/${a}/close`, { note: 'done' });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().message).toContain('still in alarm');
    const closed = await post(regK2, `${W}/alarms/${a}/close`, {
      note: 'done',
      override: 'detector under maintenance, value not real',
    });
    expect(closed.statusCode).toBe(200);
    expect(closed.json().disposition.status).toBe('closed');
    const steps = (await get(regK2, `${W}/alarms/${a}`)).json().steps;
    expect(steps.map((s: { action: string }) => s.action)).toEqual([
      'raised',
      'acknowledged',
      'measure',
      'closed',
    ]);
    expect(steps[2].detail.measure).toContain('override');
    const again = await post(regK2, `${W}/alarms/${a}/close`, { note: 'again' });
    expect(again.statusCode).toBe(409);
  });

  it('lets an emergency centre read but not close', async () => {
    const a = await h.raise('ent-d', { alarmId: 'd1', transition: 'raised' });
    const ecc = await h.login('ecc-p2');
    expect((await get(ecc, `${W}/alarms/${a}`)).statusCode).toBe(200);
    expect((await post(ecc, `${W}/alarms/${a}/close`, { note: 'x' })).statusCode).toBe(403);
  });
});

describe('workbench reports', () => {
  it('exports CSV with a byte-order mark, Chinese headers and local times', async () => {
    await h.raise('ent-b', { alarmId: 'r1' });
    const res = await get(
      regK2,
      `${W}/report?period=day&utcOffsetMin=480&format=csv&date=2026-01-01`,
    );
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/csv');
    expect(res.body.charCodeAt(0)).toBe(0xfeff);
    expect(res.body).toContain('接收时间');
    expect(res.body).toContain('2026-01-01 16:00:00'); // T0 08:00 UTC at UTC+8
    expect(res.body).toContain('B 化工');
    expect(res.body).not.toContain('A 化工');
  });

  it('writes an XLSX workbook that exceljs reads back', async () => {
    await h.raise('ent-a', { alarmId: 'x1' });
    const res = await get(
      admin,
      `${W}/report?period=week&date=2026-01-01&utcOffsetMin=480&format=xlsx`,
    );
    expect(res.statusCode).toBe(200);
    const book = new ExcelJS.Workbook();
    await book.xlsx.load(res.rawPayload as unknown as ArrayBuffer);
    expect(book.worksheets.map((s) => s.name)).toEqual([
      '统计',
      '风险排名前列企业',
      '每日报警',
      '报警与处置台账',
    ]);
    const alarms = book.getWorksheet('报警与处置台账')!;
    expect(alarms.getRow(1).getCell(1).value).toBe('接收时间');
    expect(alarms.getRow(2).getCell(2).value).toBe('A 化工');
    expect(alarms.getRow(2).getCell(5).value).toBe('二级');
  });
});

describe('workbench config', () => {
  it('rejects a site for an enterprise that is not configured, naming its key path', async () => {
    const { parseServerConfig } = await import('../../server/config/index.js');
    expect(() =>
      parseServerConfig({
        enterprises: [{ id: 'ent-a', name: 'A' }],
        platform: { enterpriseSites: [{ enterpriseId: 'ent-x', lat: 30, lon: 114 }] },
      }),
    ).toThrow(/platform\.enterpriseSites\[0\]\.enterpriseId: not in enterprises \(got 'ent-x'\)/);
  });
});

describe('workbench in the API document', () => {
  it('lists every workbench route with its schemas in /docs/openapi.json', async () => {
    const doc = (await h.app.inject({ method: 'GET', url: '/docs/openapi.json' })).json();
    const paths = Object.keys(doc.paths).filter((p) => p.startsWith('/api/v1/workbench'));
    expect(paths.sort()).toEqual(
      [
        '/api/v1/workbench/alarms',
        '/api/v1/workbench/alarms/acknowledge',
        '/api/v1/workbench/alarms/{enterpriseId}/{gatewayId}/{alarmId}',
        '/api/v1/workbench/alarms/{enterpriseId}/{gatewayId}/{alarmId}/close',
        '/api/v1/workbench/enterprises/{id}/risk-history',
        '/api/v1/workbench/indicators',
        '/api/v1/workbench/overview',
        '/api/v1/workbench/ranking',
        '/api/v1/workbench/report',
        '/api/v1/workbench/reports',
        '/api/v1/workbench/reports/{name}',
        '/api/v1/workbench/trend',
      ].sort(),
    );
  });
});
