/** The hazard ledger through the API: the closed loop, listed supervision, the chain, scoping. */
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { HazardNotice } from '../../server/supervision/service.js';
import { type Harness, SENSORS_A, startHarness } from './harness.js';

const DAY = 24 * 60 * 60_000;
const HOUR = 60 * 60_000;

interface HazardDto {
  hazardId: string;
  status: string;
  listingLevel: number;
  severity: string;
  conditionActive: boolean;
}
interface EventDto {
  seq: number;
  action: string;
  actor: string;
  detail: Record<string, unknown>;
}

let h: Harness;
afterEach(async () => {
  await h?.stop();
});

const LISTING = { majorDeadlineMs: DAY, listingEscalateAfterMs: [0, DAY, 2 * DAY] };

async function openMajor(token: string): Promise<HazardDto> {
  const opened = await h.post<{ hazard: HazardDto }>(token, '/api/v1/supervision/hazards', {
    enterpriseId: 'ent-a',
    installationId: 'unit-1',
    severity: 'major',
    title: 'ESD valve of tank 1 in manual',
    evidence: 'Found in manual during the inspection of 1 Jan',
    item: {
      standard: '化工和危险化学品生产经营单位重大生产安全事故隐患判定标准（试行）',
      number: '4',
      text: 'emergency shutdown not in service',
      checked: false,
    },
  });
  expect(opened.status).toBe(200);
  return opened.body.hazard;
}

describe('an overdue major hazard', () => {
  it('is listed with the county at its deadline and escalated once per level on its own timer', async () => {
    h = await startHarness(LISTING);
    const notices: HazardNotice[] = [];
    h.events.on('hazard', (n) => notices.push(n));
    const regulator = await h.login('reg-k1');
    const hazard = await openMajor(regulator);
    expect(hazard).toMatchObject({ status: 'open', listingLevel: 0, severity: 'major' });

    expect(await h.supervision.listNow()).toHaveLength(0); // not yet due
    h.clock.advance(DAY + 1);
    expect((await h.supervision.listNow()).map((l) => l.to)).toEqual(['county']);
    expect(await h.supervision.listNow()).toHaveLength(0); // never twice
    h.clock.advance(DAY);
    expect((await h.supervision.listNow()).map((l) => l.to)).toEqual(['city']);
    h.clock.advance(DAY);
    expect((await h.supervision.listNow()).map((l) => l.to)).toEqual(['province']);
    h.clock.advance(10 * DAY);
    expect(await h.supervision.listNow()).toHaveLength(0);

    const later = await h.login('reg-k1'); // sessions last 12 h
    const detail = await h.get<{ hazard: HazardDto; events: EventDto[] }>(
      later,
      `/api/v1/supervision/hazards/${hazard.hazardId}`,
    );
    expect(detail.body.hazard.listingLevel).toBe(3);
    const listed = detail.body.events.filter((e) => e.action === 'listed');
    expect(listed.map((e) => e.detail.to)).toEqual(['county', 'city', 'province']);
    expect(notices.filter((n) => n.action === 'listed')).toHaveLength(3);

    const report = await h.get<{ total: Record<string, unknown> }>(
      later,
      '/api/v1/supervision/report',
    );
    expect(report.body.total).toMatchObject({
      found: 1,
      overdue: 1,
      listed: 1,
      open: 1,
      rectified: 0,
    });
  });

  it('is not listed when it was rectified and verified before its deadline', async () => {
    h = await startHarness(LISTING);
    const regulator = await h.login('reg-k1');
    const enterprise = await h.login('op-a');
    const hazard = await openMajor(regulator);
    const base = `/api/v1/supervision/hazards/${hazard.hazardId}`;
    expect(
      (await h.post(enterprise, `${base}/assign`, { responsible: 'Wang, shift lead' })).status,
    ).toBe(200);
    const plan = await h.post<{ hazard: HazardDto }>(enterprise, `${base}/plan`, {
      plan: 'Put the ESD back in auto, lock the selector',
      deadline: new Date(h.clock.now() + 12 * HOUR).toISOString(),
    });
    expect(plan.body.hazard.status).toBe('rectifying');
    expect(
      (await h.post(enterprise, `${base}/rectify`, { evidence: 'photo 17, DCS log' })).status,
    ).toBe(200);
    // A major hazard is verified by the regulator, not by the enterprise itself.
    expect(
      (await h.post(enterprise, `${base}/verify`, { outcome: 'passed', note: 'ok' })).status,
    ).toBe(403);
    const verified = await h.post<{ hazard: HazardDto }>(regulator, `${base}/verify`, {
      outcome: 'passed',
      note: 'Checked on site',
    });
    expect(verified.body.hazard.status).toBe('closed');
    h.clock.advance(5 * DAY);
    expect(await h.supervision.listNow()).toHaveLength(0);
    const later = await h.login('reg-k1'); // sessions last 12 h
    const report = await h.get<{ total: Record<string, unknown> }>(
      later,
      '/api/v1/supervision/report',
    );
    expect(report.body.total).toMatchObject({
      found: 1,
      rectified: 1,
      rectifiedOnTime: 1,
      overdue: 0,
    });
  });
});

describe('steps out of order', () => {
  it('answer 409 and leave the record as it was', async () => {
    h = await startHarness();
    const regulator = await h.login('reg-k1');
    const hazard = await openMajor(regulator);
    const r = await h.post(regulator, `/api/v1/supervision/hazards/${hazard.hazardId}/verify`, {
      outcome: 'passed',
      note: 'too early',
    });
    expect(r.status).toBe(409);
    expect(await h.supervision.store.events(hazard.hazardId)).toHaveLength(1);
  });

  it('a screening record whose condition still holds cannot pass verification', async () => {
    h = await startHarness({ ruleOverrides: [{ rule: 'gas-detector-not-working', forMs: HOUR }] });
    await h.status('ent-a', 'gw-a', 'online', SENSORS_A);
    await h.read('ent-a', 'gw-a', [{ sensorId: 'GT-101' }]);
    h.clock.advance(2 * HOUR);
    const [opened] = (await h.supervision.screenNow()).opened;
    const enterprise = await h.login('op-a');
    const regulator = await h.login('reg-k1');
    const base = `/api/v1/supervision/hazards/${opened!.hazardId}`;
    await h.post(enterprise, `${base}/rectify`, { evidence: 'replaced the detector head' });
    const refused = await h.post(regulator, `${base}/verify`, { outcome: 'passed', note: 'ok' });
    expect(refused.status).toBe(409);
    await h.read('ent-a', 'gw-a', [{ sensorId: 'GT-101' }]);
    await h.supervision.screenNow(); // evidence side closes
    const passed = await h.post<{ hazard: HazardDto }>(regulator, `${base}/verify`, {
      outcome: 'passed',
      note: 'ok',
    });
    expect(passed.body.hazard.status).toBe('closed');
  });
});

describe('the hazard chain', () => {
  it('holds every hazard event, and verifies; a forged record is found and located', async () => {
    h = await startHarness(LISTING);
    const regulator = await h.login('reg-k1');
    const enterprise = await h.login('op-a');
    const a = await openMajor(regulator);
    await h.post(enterprise, `/api/v1/supervision/hazards/${a.hazardId}/assign`, {
      responsible: 'Li',
    });
    await h.status('ent-a', 'gw-a', 'online', SENSORS_A);
    await h.read('ent-a', 'gw-a', [{ sensorId: 'GT-101' }]);
    h.clock.advance(DAY + 1);
    await h.supervision.screenNow();
    await h.supervision.listNow();

    const all = [];
    for await (const e of h.supervision.store.allEvents()) all.push(e);
    const perHazard = [];
    for (const x of await h.supervision.store.hazards()) {
      perHazard.push(...(await h.supervision.store.events(x.hazardId)));
    }
    expect(perHazard.map((e) => e.seq).sort((x, y) => x - y)).toEqual(all.map((e) => e.seq));
    expect(all.map((e) => e.seq)).toEqual(all.map((_, i) => i + 1));
    const admin = await h.login('admin');
    const ok = await h.get<{ ok: boolean; rows: number }>(
      admin,
      '/api/v1/supervision/ledger/verify',
    );
    expect(ok.body).toMatchObject({ ok: true, rows: all.length });

    // Someone with write access to the file closes the record by hand.
    const db = new Database(h.path);
    const row = db
      .prepare('SELECT record FROM hazards WHERE hazard_id = ?')
      .pluck()
      .get(a.hazardId) as string;
    db.prepare('UPDATE hazards SET status = ?, record = ? WHERE hazard_id = ?').run(
      'closed',
      JSON.stringify({ ...JSON.parse(row), status: 'closed' }),
      a.hazardId,
    );
    db.close();
    const bad = await h.get<{ ok: boolean; brokenAt: number; reason: string }>(
      admin,
      '/api/v1/supervision/ledger/verify',
    );
    expect(bad.body.ok).toBe(false);
    expect(bad.body.reason).toContain(a.hazardId);
    const lastOfA = (await h.supervision.store.events(a.hazardId)).at(-1)!.seq;
    expect(bad.body.brokenAt).toBe(lastOfA);
  });
});

describe('scoping', () => {
  it('a regulator of another county sees none of it', async () => {
    h = await startHarness({ ruleOverrides: [{ rule: 'gas-detector-not-working', forMs: HOUR }] });
    await h.status('ent-a', 'gw-a', 'online', SENSORS_A);
    await h.read('ent-a', 'gw-a', [{ sensorId: 'GT-101' }]);
    h.clock.advance(2 * HOUR);
    const [opened] = (await h.supervision.screenNow()).opened;
    expect(opened).toBeDefined();
    const other = await h.login('reg-k2');
    const own = await h.login('reg-k1');

    const list = await h.get<{ hazards: HazardDto[] }>(other, '/api/v1/supervision/hazards');
    expect(list.body.hazards).toEqual([]);
    expect((await h.get(other, `/api/v1/supervision/hazards/${opened!.hazardId}`)).status).toBe(
      403,
    );
    const step = await h.post(other, `/api/v1/supervision/hazards/${opened!.hazardId}/verify`, {
      outcome: 'failed',
      note: 'x',
    });
    expect(step.status).toBe(403);
    const dq = await h.get<{ total: { points: number }; outages: unknown[] }>(
      other,
      '/api/v1/supervision/data-quality',
    );
    expect(dq.body.total.points).toBe(0);
    expect((await h.get(other, '/api/v1/supervision/data-quality?enterpriseId=ent-a')).status).toBe(
      403,
    );
    const report = await h.get<{ total: { found: number } }>(other, '/api/v1/supervision/report');
    expect(report.body.total.found).toBe(0);
    const gradings = await h.get<{ installations: unknown[] }>(
      other,
      '/api/v1/supervision/gradings',
    );
    expect(gradings.body.installations).toEqual([]);
    const opening = await h.post(other, '/api/v1/supervision/hazards', {
      enterpriseId: 'ent-a',
      severity: 'general',
      title: 'x',
      evidence: 'y',
    });
    expect(opening.status).toBe(403);

    const ownList = await h.get<{ hazards: HazardDto[] }>(own, '/api/v1/supervision/hazards');
    expect(ownList.body.hazards.map((x) => x.hazardId)).toEqual([opened!.hazardId]);
    const enterpriseB = await h.login('op-b');
    const listB = await h.get<{ hazards: HazardDto[] }>(enterpriseB, '/api/v1/supervision/hazards');
    expect(listB.body.hazards).toEqual([]);
  });

  it('needs a token', async () => {
    h = await startHarness();
    const r = await h.app.inject({ method: 'GET', url: '/api/v1/supervision/hazards' });
    expect(r.statusCode).toBe(401);
  });
});
