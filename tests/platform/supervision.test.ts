import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SensorInfo } from '../../protocol/index.js';
import { assessRisk, isDiagnosticPoint } from '../../server/platform/supervision.js';
import { SENSORS, status } from '../server/fixtures.js';
import { type Harness, startHarness } from './harness.js';

describe('risk score and colour', () => {
  const none = {
    grade: null,
    activeLevel1: 0,
    activeLevel2: 0,
    offlinePoints: 0,
    overdueDisposals: 0,
  };
  it.each([
    ['nothing going on', none, 0, 'blue'],
    ['a grade-4 installation', { ...none, grade: 4 }, 10, 'blue'],
    ['a grade-1 installation', { ...none, grade: 1 }, 40, 'yellow'],
    ['one level-1 alarm', { ...none, activeLevel1: 1 }, 10, 'blue'],
    ['one level-2 alarm (never below orange)', { ...none, activeLevel2: 1 }, 25, 'orange'],
    ['grade 2 with a level-2 alarm', { ...none, grade: 2, activeLevel2: 1 }, 55, 'orange'],
    ['grade 1 with two level-2 alarms', { ...none, grade: 1, activeLevel2: 2 }, 90, 'red'],
    ['many offline points are capped', { ...none, offlinePoints: 1000 }, 20, 'blue'],
    [
      'everything at once is capped at 100',
      { grade: 1, activeLevel1: 9, activeLevel2: 9, offlinePoints: 99, overdueDisposals: 9 },
      100,
      'red',
    ],
  ] as const)('scores %s', (_name, factors, score, colour) => {
    const r = assessRisk(factors);
    expect(r.score).toBe(score);
    expect(r.colour).toBe(colour);
  });
});

describe('diagnostic points', () => {
  it.each([
    ['_uplink.backlog', 'status', true],
    ['_anything', 'gas', true],
    ['plc-1.online', 'status', true],
    ['GT-101', 'gas', false],
    ['valve.online', 'other', false], // a process point that happens to be named so
  ] as const)('%s (%s) is diagnostic: %s', (sensorId, kind, expected) => {
    expect(isDiagnosticPoint({ sensorId, kind })).toBe(expected);
  });
});

describe('supervision views', () => {
  let h: Harness;
  let token: string;

  beforeEach(async () => {
    h = await startHarness();
    token = await h.login('reg-p1');
  });

  afterEach(async () => {
    await h.stop();
  });

  const get = async (url: string) =>
    (
      await h.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } })
    ).json() as Record<string, unknown>;

  it('ranks the enterprise with a graded installation and a level-2 alarm first, in red', async () => {
    await h.raise('ent-a');
    await h.raise('ent-a', { alarmId: 'second', sensorId: 'TT-201' });
    await h.raise('ent-c', { level: 1, setpoint: 25 });
    const { enterprises } = (await get('/api/v1/enterprises')) as {
      enterprises: { id: string; risk: { score: number; colour: string; grade: number | null } }[];
    };
    expect(enterprises.map((e) => e.id)).toEqual(['ent-a', 'ent-c', 'ent-b']);
    // grade 2: 30, two level-2 alarms: 50, TT-201 without a reading: 2
    expect(enterprises[0]?.risk).toMatchObject({ grade: 2, colour: 'red', score: 82 });
    expect(enterprises[1]?.risk.colour).toBe('blue');
  });

  it('counts overdue disposals and offline points', async () => {
    await h.raise('ent-b', { level: 1, setpoint: 25 });
    h.clock.advance(2 * 60 * 60_000); // 2 h: overdue, and every reading is stale
    const { enterprises } = (await get('/api/v1/enterprises')) as {
      enterprises: { id: string; risk: { overdueDisposals: number; offlinePoints: number } }[];
    };
    const b = enterprises.find((e) => e.id === 'ent-b');
    expect(b?.risk.overdueDisposals).toBe(1);
    expect(b?.risk.offlinePoints).toBe(2);
  });

  it("does not count the gateway's own diagnostic points as offline process points (issue 11 item 6)", async () => {
    const diagnostics: SensorInfo[] = [
      { sensorId: '_uplink.backlog', name: 'Uplink outbox fill', kind: 'status', unit: '%' },
      { sensorId: '_uplink.dropped', name: 'Readings shed', kind: 'status', unit: 'readings' },
      { sensorId: 'plc-1.online', name: 'PLC 1 online', kind: 'status', unit: '' },
    ];
    await h.send(
      'ent-b',
      'gw-ent-b',
      'status',
      status({
        gatewayId: 'gw-ent-b',
        enterpriseId: 'ent-b',
        sensors: [...SENSORS, ...diagnostics],
      }),
    );
    h.clock.advance(2 * 60 * 60_000); // every reading stale, diagnostics never had one
    const { enterprises } = (await get('/api/v1/enterprises')) as {
      enterprises: { id: string; risk: { offlinePoints: number } }[];
    };
    expect(enterprises.find((e) => e.id === 'ent-b')?.risk.offlinePoints).toBe(SENSORS.length);
  });

  it('shows an enterprise with its GB 18218 grading derivation, sensors and alarm history', async () => {
    const id = await h.raise('ent-a');
    const detail = (await get('/api/v1/enterprises/ent-a')) as {
      installations: { grading: { grade: number; r: number; derivation: string[] } }[];
      sensors: { sensorId: string; value: unknown; setpointLevel2: number | null }[];
      alarms: { alarm: { id: string }; disposition: { status: string } }[];
    };
    expect(detail.installations[0]?.grading.grade).toBe(2);
    expect(detail.installations[0]?.grading.r).toBeCloseTo(96);
    expect(detail.installations[0]?.grading.derivation.join('\n')).toContain('Table 6');
    expect(detail.sensors.find((s) => s.sensorId === 'GT-101')).toMatchObject({
      value: 3,
      setpointLevel2: 50,
    });
    expect(detail.alarms[0]).toMatchObject({
      alarm: { id: id.alarmId, enterpriseId: 'ent-a', gatewayId: 'gw-ent-a' },
      disposition: { status: 'open', gatewayId: 'gw-ent-a' },
    });
  });

  it('gives a jurisdiction overview by colour and by the level below', async () => {
    await h.raise('ent-a');
    const overview = (await get('/api/v1/overview')) as {
      enterprises: number;
      byColour: Record<string, number>;
      regions: { name: string; enterprises: number }[];
    };
    expect(overview.enterprises).toBe(3);
    expect(overview.byColour.orange).toBe(1); // grade 2 + one level-2 alarm
    expect(overview.regions).toEqual([
      expect.objectContaining({ name: 'C1', enterprises: 2 }),
      expect.objectContaining({ name: 'C2', enterprises: 1 }),
    ]);
  });
});
