/** Screening scenarios with the real ingest, stores and service, on a ManualClock. */
import { afterEach, describe, expect, it } from 'vitest';
import type { GradeChangeRecord } from '../../server/supervision/store.js';
import { type Harness, SENSORS_A, startHarness } from './harness.js';

const MIN = 60_000;
const HOUR = 60 * MIN;

let h: Harness;
afterEach(async () => {
  await h?.stop();
});

const screeningHazards = async (rule: string) =>
  (await h.supervision.store.hazards()).filter((x) => x.ruleId === rule);

describe('a gas detector that goes offline', () => {
  it('opens exactly one hazard with its evidence after the limit, and closes the evidence side when it returns', async () => {
    h = await startHarness();
    await h.status('ent-a', 'gw-a', 'online', SENSORS_A);
    await h.read('ent-a', 'gw-a', [{ sensorId: 'GT-101', value: 0 }]);
    const offlineAt = h.clock.now();

    h.clock.advance(3 * HOUR); // offline, but not yet for the 4 h of the pack
    await h.supervision.screenNow();
    expect(await screeningHazards('gas-detector-not-working')).toHaveLength(0);

    h.clock.advance(HOUR + MIN);
    const pass = await h.supervision.screenNow();
    h.clock.advance(MIN);
    await h.supervision.screenNow(); // a second pass while it still holds opens nothing more
    const hazards = await screeningHazards('gas-detector-not-working');
    expect(pass.failedRules).toEqual([]);
    expect(pass.opened).toHaveLength(1);
    expect(hazards).toHaveLength(1);
    const hazard = hazards[0]!;
    expect(hazard).toMatchObject({
      enterpriseId: 'ent-a',
      installationId: 'unit-1',
      kind: 'accident',
      severity: 'major',
      source: 'screening',
      subject: 'gw-a/GT-101',
      conditionActive: true,
      status: 'open',
    });
    expect(hazard.item).toMatchObject({ number: '12', checked: false });
    const opened = (await h.supervision.store.events(hazard.hazardId))[0]!;
    expect(opened.detail.evidence).toMatchObject({
      state: 'offline',
      sensorId: 'GT-101',
      since: new Date(offlineAt).toISOString(),
      lastReading: { value: 0, quality: 'good' },
    });

    await h.read('ent-a', 'gw-a', [{ sensorId: 'GT-101', value: 0 }]);
    const back = await h.supervision.screenNow();
    expect(back.cleared.map((x) => x.hazardId)).toEqual([hazard.hazardId]);
    const after = (await h.supervision.store.hazard(hazard.hazardId))!;
    expect(after.conditionActive).toBe(false);
    expect(after.status).toBe('open'); // a person still verifies the closure
    expect((await h.supervision.store.events(hazard.hazardId)).map((e) => e.action)).toEqual([
      'opened',
      'condition-cleared',
    ]);
  });

  it('counts its timer from when it went silent, also across a restart of the service', async () => {
    h = await startHarness();
    await h.status('ent-a', 'gw-a', 'online', SENSORS_A);
    await h.read('ent-a', 'gw-a', [{ sensorId: 'GT-101', value: 0 }]);
    h.clock.advance(HOUR);
    await h.supervision.screenNow(); // the condition starts holding (since the last reading)
    await h.supervision.stop();
    await h.supervision.start();
    h.clock.advance(3 * HOUR + MIN);
    expect((await h.supervision.screenNow()).opened).toHaveLength(1);
  });

  it('reports a faulted detector (NE 43 fault current) as fault', async () => {
    h = await startHarness({ ruleOverrides: [{ rule: 'gas-detector-not-working', forMs: HOUR }] });
    await h.status('ent-a', 'gw-a', 'online', SENSORS_A);
    for (let i = 0; i < 14; i++) {
      await h.read('ent-a', 'gw-a', [
        { sensorId: 'GT-101', value: null, quality: 'bad', reason: 'ne43 fault low' },
      ]);
      h.clock.advance(5 * MIN);
    }
    const pass = await h.supervision.screenNow();
    expect(pass.opened).toHaveLength(1);
    expect(
      (await h.supervision.store.events(pass.opened[0]!.hazardId))[0]!.detail.evidence,
    ).toMatchObject({
      state: 'fault',
    });
  });
});

describe('a level sensor filling a tank past the registered quantity', () => {
  it('moves the GB 18218-2018 grade, keeps its history, emits the change once and opens a hazard', async () => {
    h = await startHarness();
    const changes: GradeChangeRecord[] = [];
    h.events.on('gradeChanged', (c) => changes.push(c));
    await h.status('ent-a', 'gw-a', 'online', SENSORS_A);
    // 30 % of 200 m³ × 0.45 t/m³ = 27 t ≤ 30 t registered: S = 0.54, not major.
    await h.read('ent-a', 'gw-a', [{ sensorId: 'GT-101' }, { sensorId: 'LT-301', value: 30 }]);
    await h.supervision.screenNow();
    expect(changes).toHaveLength(0);
    expect((await h.supervision.liveGradings())[0]!.live).toMatchObject({
      isMajorHazard: false,
      grade: null,
    });

    // 80 %: 72 t > 30 t registered; S = 72/50 = 1.44 >= 1 (§4.2.2); R = 1.2 × 1.5 × 1.44 = 2.59: grade 4.
    await h.read('ent-a', 'gw-a', [{ sensorId: 'GT-101' }, { sensorId: 'LT-301', value: 80 }]);
    await h.supervision.screenNow();
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({
      installationId: 'unit-1',
      grade: 4,
      previousGrade: null,
      isMajorHazard: true,
    });
    expect(changes[0]!.r).toBeCloseTo(2.592, 3);
    const history = await h.supervision.store.gradeHistory('unit-1');
    expect(history.map((r) => r.grade)).toEqual([4, null]);

    h.clock.advance(11 * MIN); // the pack's 10 min against sloshing during a transfer
    await h.read('ent-a', 'gw-a', [{ sensorId: 'GT-101' }, { sensorId: 'LT-301', value: 80 }]);
    await h.supervision.screenNow();
    const storage = await screeningHazards('storage-over-registered');
    expect(storage.map((x) => x.subject).sort()).toEqual(['unit-1/critical', 'unit-1/methane']);
    const evidence = (
      await h.supervision.store.events(
        storage.find((x) => x.subject === 'unit-1/methane')!.hazardId,
      )
    )[0]!.detail.evidence;
    expect(evidence).toMatchObject({ liveQuantityT: 72, registeredQuantityT: 30 });
    expect(changes).toHaveLength(1); // the grade did not move again
  });

  it('keeps the registered quantity while the level sensor is silent', async () => {
    h = await startHarness();
    await h.status('ent-a', 'gw-a', 'online', SENSORS_A);
    await h.read('ent-a', 'gw-a', [{ sensorId: 'LT-301', value: 95 }]);
    h.clock.advance(10 * MIN); // stale after 5 min
    await h.supervision.screenNow();
    const g = (await h.supervision.liveGradings())[0]!;
    expect(g.liveChemicals).toEqual([]);
    expect(g.vessels[0]!.missing).toBe('stale');
    expect(g.live!.items[0]!.quantityT).toBe(30);
  });
});

describe('a gateway outage', () => {
  it('is one outage, not a flood: its points are suppressed, not device faults', async () => {
    h = await startHarness({ ruleOverrides: [{ rule: 'gas-detector-not-working', forMs: HOUR }] });
    const sensors = Array.from({ length: 200 }, (_, i) => ({
      sensorId: `GT-${500 + i}`,
      name: `Detector ${i}`,
      kind: 'gas' as const,
      unit: '%LEL',
      gas: 'methane',
      installationId: 'unit-1',
    }));
    await h.status('ent-a', 'gw-big', 'online', sensors);
    await h.read(
      'ent-a',
      'gw-big',
      sensors.map((s) => ({ sensorId: s.sensorId, value: 0 })),
    );
    h.clock.advance(MIN);
    await h.status('ent-a', 'gw-big', 'offline'); // its last will
    h.clock.advance(6 * HOUR);
    const pass = await h.supervision.screenNow();
    expect(pass.failedRules).toEqual([]);
    expect(pass.opened.map((x) => x.ruleId)).toEqual(['gateway-outage']);
    expect(await screeningHazards('gas-detector-not-working')).toHaveLength(0);
    expect(await h.supervision.store.outages(0)).toHaveLength(1);

    const admin = await h.login('admin');
    const dq = await h.get<{
      total: Record<string, number>;
      enterprises: { enterpriseId: string; summary: Record<string, number> }[];
    }>(admin, '/api/v1/supervision/data-quality');
    expect(dq.status).toBe(200);
    expect(dq.body.total).toMatchObject({
      gatewayOutages: 1,
      pointsSuppressed: 200,
      deviceFaults: 0,
    });
    // Per enterprise: the outage and its points are ent-a's alone, and the parts add up.
    const perEnterprise = dq.body.enterprises;
    expect(perEnterprise.find((e) => e.enterpriseId === 'ent-a')!.summary).toMatchObject({
      gatewayOutages: 1,
      pointsSuppressed: 200,
    });
    for (const key of ['points', 'pointsSuppressed', 'gatewayOutages'] as const) {
      expect(perEnterprise.reduce((sum, e) => sum + (e.summary[key] ?? 0), 0)).toBe(
        dq.body.total[key],
      );
    }

    // Back online: the outage ends. A pass before the first readings arrive opens no detector
    // record (their silence is the outage's), and neither does one after them.
    await h.status('ent-a', 'gw-big', 'online', sensors);
    const back = await h.supervision.screenNow();
    expect(back.opened).toHaveLength(0);
    expect(back.cleared.map((x) => x.ruleId)).toEqual(['gateway-outage']);
    expect((await h.supervision.store.outages(0))[0]!.endedAt).toBe(h.clock.now());
    h.clock.advance(MIN);
    await h.read(
      'ent-a',
      'gw-big',
      sensors.map((s) => ({ sensorId: s.sensorId, value: 0 })),
    );
    expect((await h.supervision.screenNow()).opened).toHaveLength(0);
    expect(await screeningHazards('gas-detector-not-working')).toHaveLength(0);
  });
});
