/** Condition types and data-quality figures as tables of cases, on fixed times (no clock needed). */
import { describe, expect, it } from 'vitest';
import { liveInventory, quantityFromLevel } from '../../server/platform/grading.js';
import type { SensorRecord } from '../../server/platform/registry.js';
import { alarmChattering, DAY_MS } from '../../server/supervision/conditions/alarm-chattering.js';
import type { ScreeningContext } from '../../server/supervision/conditions/index.js';
import { setpointProblems } from '../../server/supervision/conditions/setpoint-looser.js';
import { defaultSupervisionConfig } from '../../server/supervision/config.js';
import { pointQualities, summarise } from '../../server/supervision/data-quality.js';
import { EvidenceTracker } from '../../server/supervision/evidence.js';
import { loadPacks } from '../../server/supervision/packs.js';
import { T0 } from '../server/fixtures.js';

const limits = loadPacks(['accident-hazards'])[0]!.rules.find(
  (r) => r.condition === 'setpoint-looser-than-standard',
)!.options;

function sensor(o: Partial<SensorRecord>): SensorRecord {
  return {
    gatewayId: 'gw-a',
    enterpriseId: 'ent-a',
    sensorId: 'GT-101',
    name: 'detector',
    kind: 'gas',
    unit: '%LEL',
    gas: 'methane',
    installationId: 'unit-1',
    location: null,
    rangeMin: 0,
    rangeMax: 100,
    setpointLevel1: null,
    setpointLevel2: null,
    ...o,
  };
}

describe('setpoints against GB/T 50493-2019 §5.5.3', () => {
  const cases: [string, Partial<SensorRecord>, string[]][] = [
    ['combustible at 20 / 40 %LEL', { setpointLevel1: 20, setpointLevel2: 40 }, []],
    ['combustible at the maxima 25 / 50 %LEL', { setpointLevel1: 25, setpointLevel2: 50 }, []],
    ['combustible level 1 at 30 %LEL', { setpointLevel1: 30 }, ['level 1 30 %LEL > 25 %LEL']],
    ['combustible level 2 at 60 %LEL', { setpointLevel2: 60 }, ['level 2 60 %LEL > 50 %LEL']],
    [
      'H2S at 10 / 20 ppm (OEL 7.06 ppm)',
      { gas: 'H2S', unit: 'ppm', setpointLevel1: 10, setpointLevel2: 20 },
      ['level 1 10 ppm > 100 %OEL (7.06 ppm)', 'level 2 20 ppm > 200 %OEL (14.12 ppm)'],
    ],
    ['H2S at 5 / 10 ppm', { gas: 'H2S', unit: 'ppm', setpointLevel1: 5, setpointLevel2: 10 }, []],
    [
      'oxygen deficiency at 18 %VOL',
      { kind: 'oxygen', gas: 'oxygen', unit: '%VOL', setpointLevel1: 18 },
      ['deficiency setpoint 18 %VOL < 19.5 %VOL'],
    ],
    [
      'oxygen enrichment at 25 %VOL',
      { kind: 'oxygen', gas: 'oxygen', unit: '%VOL', setpointLevel2: 25 },
      ['enrichment setpoint 25 %VOL > 23.5 %VOL'],
    ],
    ['a gas the pack has no OEL for', { gas: 'xenon', unit: 'ppm', setpointLevel1: 1e6 }, []],
    ['not a gas detector', { kind: 'temperature', unit: '°C', setpointLevel1: 500 }, []],
  ];
  it.each(cases)('%s', (_, o, expected) => {
    expect(setpointProblems(sensor(o), limits)).toEqual(expected);
  });
});

describe('live inventory (GB 18218-2018 q from a level)', () => {
  it('q = level fraction × capacity × density, overfill above 1, nothing below empty', () => {
    const v = { levelEmpty: 0, levelFull: 100, capacityM3: 200, densityTPerM3: 0.45 };
    expect(quantityFromLevel({ ...v, value: 50 })).toBeCloseTo(45, 9);
    expect(quantityFromLevel({ ...v, value: 110 })).toBeCloseTo(99, 9);
    expect(quantityFromLevel({ ...v, value: -3 })).toBe(0);
    expect(quantityFromLevel({ ...v, levelEmpty: 4, levelFull: 20, value: 12 })).toBeCloseTo(45, 9);
    expect(() => quantityFromLevel({ ...v, levelFull: 0, value: 1 })).toThrow(/gives no fraction/);
  });

  it('replaces registered quantities with live ones and keeps the rest', () => {
    const registered = [
      { chemical: 'methane', quantityT: 30 },
      { chemical: 'chlorine', quantityT: 2 },
    ];
    expect(liveInventory(registered, new Map([['methane', 72]]))).toEqual([
      { chemical: 'methane', quantityT: 72 },
      { chemical: 'chlorine', quantityT: 2 },
    ]);
    expect(liveInventory(registered, new Map([['hydrogen', 1]]))).toHaveLength(3);
  });
});

describe('chattering for days', () => {
  const rule = loadPacks(['alarm-management'])[0]!.rules.find(
    (r) => r.condition === 'alarm-chattering',
  )!;
  const ctx = (counts: number[]): ScreeningContext => {
    const today = Math.floor(T0 / DAY_MS);
    const days = new Map(counts.map((c, i) => [today - counts.length + 1 + i, c]));
    return {
      now: T0,
      raisesByDay: new Map([['ent-a\u0000gw-a\u0000GT-101-gas', days]]),
    } as unknown as ScreeningContext;
  };
  it.each([
    [[10, 12, 15], 1],
    [[10, 9, 15], 0],
    [[0, 40, 40], 0],
    [[30, 30, 30, 30], 1],
  ])('raises per day %j: %i finding(s)', (counts, findings) => {
    expect(alarmChattering.evaluate(ctx(counts), rule).findings).toHaveLength(findings);
  });
});

describe('data quality of a point', () => {
  const config = defaultSupervisionConfig();
  const build = (feed: (t: EvidenceTracker) => void, now: number, sensors: SensorRecord[]) => {
    const tracker = new EvidenceTracker({ windowMs: config.windowMs, staleMs: config.staleMs });
    feed(tracker);
    return pointQualities({
      now,
      config,
      tracker,
      sensors,
      gateways: [],
      offlineGateways: new Map(),
      outages: [],
      setpointLimits: limits,
      flatLineMs: 60 * 60_000,
    });
  };
  const reading = (value: number, ts: number) => ({
    sensorId: 'GT-101',
    value,
    quality: 'good' as const,
    ts,
  });

  it('a point read every minute for two hours is online and complete', () => {
    const [q] = build(
      (t) => {
        for (let i = 0; i <= 120; i++)
          t.noteReading('gw-a', 'ent-a', reading(i % 3, T0 + i * 60_000), T0 + i * 60_000);
      },
      T0 + 120 * 60_000,
      [sensor({})],
    );
    expect(q!.onlineRate).toBeCloseTo(1, 2);
    expect(q!.completeness).toBeCloseTo(1, 1);
    expect(q!).toMatchObject({
      status: 'online',
      flatForMs: null,
      clockSkewed: false,
      standardName: true,
    });
  });

  it('a point silent for the second hour is half online and half complete', () => {
    const [q] = build(
      (t) => {
        for (let i = 0; i <= 60; i++)
          t.noteReading('gw-a', 'ent-a', reading(i % 3, T0 + i * 60_000), T0 + i * 60_000);
      },
      T0 + 120 * 60_000,
      [sensor({})],
    );
    expect(q!.status).toBe('offline');
    // online until 5 min (staleMs) after the last reading
    expect(q!.onlineRate).toBeCloseTo(65 / 120, 2);
    expect(q!.completeness).toBeCloseTo(61 / 120, 2);
  });

  it('flags a flat line, a wrong clock, an unknown setpoint and a non-standard name', () => {
    const [q] = build(
      (t) => {
        for (let i = 0; i <= 90; i++) {
          const at = T0 + i * 60_000;
          t.noteReading(
            'gw-a',
            'ent-a',
            { sensorId: 'gas1', value: 7, quality: 'good', ts: at + 120_000 },
            at,
          );
        }
      },
      T0 + 90 * 60_000,
      [sensor({ sensorId: 'gas1' })],
    );
    expect(q!).toMatchObject({
      flatForMs: 90 * 60_000,
      clockSkewMs: 120_000,
      clockSkewed: true,
      setpoint: 'not-seen',
      standardName: false,
    });
    const s = summarise([q!], []);
    expect(s).toMatchObject({
      flatLined: 1,
      clockSkewed: 1,
      setpointsNotSeen: 1,
      nonStandardNames: 1,
    });
  });

  it('a detector reading exactly 0 in clean air is not flat-lined', () => {
    const [q] = build(
      (t) => {
        for (let i = 0; i <= 90; i++)
          t.noteReading('gw-a', 'ent-a', reading(0, T0 + i * 60_000), T0 + i * 60_000);
      },
      T0 + 90 * 60_000,
      [sensor({})],
    );
    expect(q!.flatForMs).toBeNull();
  });
});
