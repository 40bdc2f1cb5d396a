import { describe, expect, it } from 'vitest';
import {
  clockOffsetMs,
  compareAlarms,
  DISPLAY_DEFAULTS,
  displayState,
  durationParts,
  estimateIntervalMs,
  formatLocalDateTime,
  formatLocalTime,
  formatNumber,
  formatValue,
  groupSensors,
  isStale,
  mergeAlarm,
  partitionAlarms,
  plottable,
  pushBounded,
  sparklinePoints,
  staleAfterMs,
} from '../../server/dashboard/public/format.js';

const now = Date.UTC(2026, 10, 28, 6, 0, 0);

describe('value formatting', () => {
  it.each([
    [0, '0'],
    [-0, '0'],
    [25, '25.0'],
    [25.349, '25.3'],
    [999.94, '999.9'],
    [1234.5, '1235'],
    [4, '4.00'],
    [0.452, '0.452'],
    [0.0004, '0.00040'],
    [-0.00012, '-0.00012'],
    [-12.34, '-12.3'],
  ])('formats %d as %s', (value, text) => {
    expect(formatNumber(value)).toBe(text);
  });

  it('shows a dash for what is not a finite number', () => {
    expect(formatNumber(Number.NaN)).toBe('—');
    expect(formatNumber(Number.POSITIVE_INFINITY)).toBe('—');
    expect(formatValue(null)).toBe('—');
    expect(formatValue(undefined)).toBe('—');
  });

  it('writes booleans with the words it is given and cuts long text', () => {
    expect(formatValue(true, { on: '开', off: '关' })).toBe('开');
    expect(formatValue(false, { on: '开', off: '关' })).toBe('关');
    expect(formatValue('RUN')).toBe('RUN');
    const long = formatValue('x'.repeat(200));
    expect(long).toHaveLength(DISPLAY_DEFAULTS.maxTextLength);
    expect(long.endsWith('…')).toBe(true);
  });
});

describe('staleness', () => {
  it('estimates the usual update interval as the median gap, ignoring repeats', () => {
    expect(estimateIntervalMs([])).toBeNull();
    expect(estimateIntervalMs([now, now])).toBeNull();
    expect(estimateIntervalMs([now, now + 1000, now + 2000, now + 3000])).toBe(1000);
    // One outage of 60 s does not move the median of 1 s updates.
    expect(estimateIntervalMs([now, now + 1000, now + 2000, now + 62_000, now + 63_000])).toBe(
      1000,
    );
    expect(estimateIntervalMs([now, now + 1000, now + 3000])).toBe(1500);
  });

  it('calls a value stale after 3 usual intervals, but never under 10 s', () => {
    expect(staleAfterMs(null)).toBe(10_000);
    expect(staleAfterMs(1000)).toBe(10_000);
    expect(staleAfterMs(5000)).toBe(15_000);
    expect(staleAfterMs(60_000)).toBe(180_000);
    expect(isStale(now - 10_000, now)).toBe(false);
    expect(isStale(now - 10_001, now)).toBe(true);
    expect(isStale(now - 14_000, now, 5000)).toBe(false);
    expect(isStale(now - 16_000, now, 5000)).toBe(true);
    expect(isStale(null, now)).toBe(true);
  });

  it('never shows a stale good value as good', () => {
    const reading = { value: 3.2, quality: 'good', ts: now - 30_000 };
    expect(displayState(reading, now).status).toBe('stale');
    expect(displayState(reading, now).ageMs).toBe(30_000);
    expect(displayState({ ...reading, ts: now - 2000 }, now)).toEqual({
      status: 'good',
      reason: null,
      ageMs: 2000,
    });
  });

  it('keeps a bad value bad with its reason, whatever its age', () => {
    const bad = { value: null, quality: 'bad', reason: 'comm lost', ts: now - 500 };
    expect(displayState(bad, now)).toEqual({ status: 'bad', reason: 'comm lost', ageMs: 500 });
    expect(displayState({ ...bad, ts: now - 600_000 }, now).status).toBe('bad');
  });

  it('flags uncertain values, and values without a value or a time as no data', () => {
    expect(
      displayState({ value: 20.6, quality: 'uncertain', reason: 'ne43 suspect', ts: now }, now),
    ).toEqual({ status: 'uncertain', reason: 'ne43 suspect', ageMs: 0 });
    expect(displayState({ value: null, quality: 'good', ts: null }, now).status).toBe('nodata');
    expect(displayState({ value: 1, quality: 'good', ts: null }, now).status).toBe('nodata');
    expect(displayState({ value: 1, quality: 'weird', ts: now }, now).status).toBe('uncertain');
  });
});

const alarm = (
  id: string,
  level: 1 | 2,
  raisedAt: string | null,
  extra: Partial<{ drill: boolean; state: string; clearedAt: string | null }> = {},
) => ({ id, level, raisedAt, drill: false, state: 'active', clearedAt: null, ...extra });

describe('alarm ordering', () => {
  it('puts level 2 before level 1, real before drill, then the newest raise first', () => {
    const alarms = [
      alarm('l1-old', 1, '2026-11-28T06:00:00Z'),
      alarm('l2-drill', 2, '2026-11-28T06:05:00Z', { drill: true }),
      alarm('l1-new', 1, '2026-11-28T06:03:00Z'),
      alarm('l2-old', 2, '2026-11-28T06:01:00Z'),
      alarm('l2-new', 2, '2026-11-28T06:02:00Z'),
      alarm('l1-drill', 1, '2026-11-28T06:06:00Z', { drill: true }),
    ];
    expect(alarms.sort(compareAlarms).map((a) => a.id)).toEqual([
      'l2-new',
      'l2-old',
      'l1-new',
      'l1-old',
      'l2-drill',
      'l1-drill',
    ]);
  });

  it('splits active from recently cleared, newest clear first, bounded', () => {
    const alarms = [
      alarm('a1', 1, '2026-11-28T06:00:00Z'),
      alarm('c1', 2, '2026-11-28T05:00:00Z', {
        state: 'cleared',
        clearedAt: '2026-11-28T05:10:00Z',
      }),
      alarm('c2', 1, '2026-11-28T05:20:00Z', {
        state: 'cleared',
        clearedAt: '2026-11-28T05:30:00Z',
      }),
      alarm('a2', 2, '2026-11-28T05:59:00Z'),
      alarm('c3', 1, '2026-11-28T04:00:00Z', { state: 'cleared', clearedAt: null }),
    ];
    const { active, recent } = partitionAlarms(alarms, 2);
    expect(active.map((a) => a.id)).toEqual(['a2', 'a1']);
    expect(recent.map((a) => a.id)).toEqual(['c2', 'c1']);
  });

  it('never reopens a cleared occurrence from a late active copy', () => {
    const cleared = alarm('x', 2, '2026-11-28T06:00:00Z', {
      state: 'cleared',
      clearedAt: '2026-11-28T06:01:00Z',
    });
    const active = alarm('x', 2, '2026-11-28T06:00:00Z');
    expect(mergeAlarm(cleared, active)).toBe(cleared);
    expect(mergeAlarm(active, cleared)).toBe(cleared);
    expect(mergeAlarm(undefined, active)).toBe(active);
  });
});

describe('grouping and sparklines', () => {
  it('groups sensors by gateway, then installation, in catalogue order', () => {
    const sensors = [
      { gatewayId: 'gw-b', enterpriseId: 'e2', installationId: 'T-1', sensorId: 's1' },
      { gatewayId: 'gw-a', enterpriseId: 'e1', sensorId: 's2' },
      { gatewayId: 'gw-a', enterpriseId: 'e1', installationId: 'T-9', sensorId: 's3' },
      { gatewayId: 'gw-a', enterpriseId: 'e1', installationId: 'T-9', sensorId: 's4' },
    ];
    const groups = groupSensors(sensors);
    expect(groups.map((g) => g.gatewayId)).toEqual(['gw-a', 'gw-b']);
    expect(
      groups[0]!.installations.map((i) => [i.installationId, i.sensors.map((s) => s.sensorId)]),
    ).toEqual([
      ['T-9', ['s3', 's4']],
      [null, ['s2']],
    ]);
    expect(groups[1]!.enterpriseId).toBe('e2');
  });

  it('keeps a bounded history', () => {
    const history: number[] = [];
    for (let i = 0; i < 70; i++) pushBounded(history, i, 60);
    expect(history).toHaveLength(60);
    expect(history[0]).toBe(10);
    expect(history.at(-1)).toBe(69);
  });

  it('plots numbers and booleans only', () => {
    expect(plottable(2.5)).toBe(2.5);
    expect(plottable(true)).toBe(1);
    expect(plottable(false)).toBe(0);
    expect(plottable('RUN')).toBeNull();
    expect(plottable(null)).toBeNull();
    expect(plottable(Number.NaN)).toBeNull();
  });

  it('scales a sparkline into its box, highest value at the top', () => {
    const points = sparklinePoints([0, 5, 10], 104, 24, 2);
    expect(points).toEqual([
      { x: 2, y: 22 },
      { x: 52, y: 12 },
      { x: 102, y: 2 },
    ]);
    expect(sparklinePoints([7, 7], 100, 20).map((p) => p.y)).toEqual([10, 10]);
    expect(sparklinePoints([], 100, 20)).toEqual([]);
  });
});

describe('times', () => {
  it('splits ages into the largest whole unit', () => {
    expect(durationParts(999)).toEqual({ unit: 's', n: 0 });
    expect(durationParts(59_999)).toEqual({ unit: 's', n: 59 });
    expect(durationParts(60_000)).toEqual({ unit: 'min', n: 1 });
    expect(durationParts(7_200_000)).toEqual({ unit: 'h', n: 2 });
    expect(durationParts(3 * 86_400_000)).toEqual({ unit: 'd', n: 3 });
    expect(durationParts(-5000)).toEqual({ unit: 's', n: 0 });
  });

  it('writes local times 24-hour and unambiguous', () => {
    const local = new Date(2026, 0, 2, 3, 4, 5).getTime();
    expect(formatLocalDateTime(local)).toBe('2026-01-02 03:04:05');
    expect(formatLocalDateTime(new Date(local).toISOString())).toBe('2026-01-02 03:04:05');
    expect(formatLocalTime(local)).toBe('03:04:05');
    expect(formatLocalDateTime(null)).toBe('—');
    expect(formatLocalTime('not a time')).toBe('—');
  });

  it('estimates how far the server clock is ahead from its Date header', () => {
    const serverNow = Date.UTC(2026, 10, 28, 6, 0, 0);
    const header = new Date(serverNow).toUTCString();
    // Browser 60 s behind the server, 100 ms round trip.
    expect(clockOffsetMs(header, serverNow - 60_050, serverNow - 59_950)).toBe(60_500);
    // Agreeing within the header's resolution: trust the local clock.
    expect(clockOffsetMs(header, serverNow + 100, serverNow + 200)).toBe(0);
    expect(clockOffsetMs(null, 0, 0)).toBe(0);
    expect(clockOffsetMs('garbage', 0, 0)).toBe(0);
  });
});
