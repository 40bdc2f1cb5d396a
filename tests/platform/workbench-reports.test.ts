/** Report periods, local times and the daily schedule (manual clock, temporary folder). */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { computeIndicators } from '../../server/platform/indicators.js';
import {
  buildReport,
  formatLocal,
  localName,
  periodWindow,
} from '../../server/platform/reports.js';
import { principalOf, ReportSchedule } from '../../server/platform/reports-schedule.js';

const UTC8 = 480;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('report periods and times', () => {
  it('writes local times as YYYY-MM-DD HH:mm:ss at the given offset', () => {
    expect(formatLocal(Date.UTC(2026, 0, 1, 16, 5, 9), UTC8)).toBe('2026-01-02 00:05:09');
    expect(formatLocal(null, UTC8)).toBe('');
  });

  it('takes a day, the 7 days ending on a date, and the calendar month, in local time', () => {
    const day = periodWindow('day', '2026-03-01', UTC8);
    expect(formatLocal(day.from, UTC8)).toBe('2026-03-01 00:00:00');
    expect(formatLocal(day.to, UTC8)).toBe('2026-03-01 23:59:59');
    expect(formatLocal(periodWindow('week', '2026-03-01', UTC8).from, UTC8)).toBe(
      '2026-02-23 00:00:00',
    );
    const month = periodWindow('month', '2026-02-14', UTC8);
    expect([formatLocal(month.from, UTC8), formatLocal(month.to, UTC8)]).toEqual([
      '2026-02-01 00:00:00',
      '2026-02-28 23:59:59',
    ]);
    expect(() => periodWindow('day', '1 March', UTC8)).toThrow(/must be YYYY-MM-DD/);
  });

  it('shows a name configured in both languages in the report’s language', () => {
    expect(localName('储罐区 (Tank farm)', null, 'zh-CN')).toBe('储罐区');
    expect(localName('储罐区 (Tank farm)', null, 'en')).toBe('Tank farm');
    expect(localName('B 化工', 'B Chemicals', 'en')).toBe('B Chemicals');
  });
});

describe('report indicator names', () => {
  const settings = {
    halfLifeMs: 6 * 3_600_000,
    overdueMs: 3_600_000,
    acknowledgeWithinMs: [300_000],
    disposeWithinMs: [3_600_000],
    acknowledgeTargetMs: 300_000,
    disposeTargetMs: 3_600_000,
    onlineRateTarget: 0.995,
    staleMs: 300_000,
  };
  const report = (lang: 'zh-CN' | 'en') => {
    const window = { from: 0, to: 86_400_000 - 1, now: 86_400_000, utcOffsetMin: UTC8 };
    const indicators = computeIndicators([], new Map(), window, settings);
    return buildReport({
      lang,
      scope: 'P',
      ...window,
      inputs: [],
      ranking: [],
      indicators,
      settings,
    });
  };

  it('labelled the rate of points online at this moment “在线率”, the name of the rate over time: now 当前在线率（此刻） / Points online now (docs/indicators.md)', () => {
    const zh = report('zh-CN').summary.rows[0] ?? [];
    expect(zh[0]).toBe('当前在线率（此刻）');
    expect(String(zh[2])).toContain('当前在线率（此刻）');
    const en = report('en').summary.rows[0] ?? [];
    expect(en[0]).toBe('Points online now');
    expect(String(en[2])).toContain('Points online now');
  });
});

describe('scheduled reports', () => {
  const users = [
    {
      username: 'reg-a',
      role: 'regulator' as const,
      password: 'x',
      jurisdiction: { province: 'P' },
    },
    {
      username: 'reg-b',
      role: 'regulator' as const,
      password: 'x',
      jurisdiction: { province: 'Q' },
    },
    { username: 'op', role: 'enterprise' as const, password: 'x', enterpriseId: 'e' },
  ];

  function schedule(hour: number, clock: ManualClock) {
    const dir = mkdtempSync(join(tmpdir(), 'hw-reports-'));
    dirs.push(dir);
    const rendered: string[] = [];
    const s = new ReportSchedule({
      dir,
      hour,
      users,
      utcOffsetMin: () => UTC8,
      clock,
      render: async (principal, day) => {
        rendered.push(`${principal.username}:${day}`);
        return { xlsx: Buffer.from('x'), csv: '\uFEFFa,b\r\n' };
      },
    });
    return { s, dir, rendered };
  }

  it('writes yesterday’s report of each regulator once the local hour has come, and only once', async () => {
    const clock = new ManualClock(Date.UTC(2026, 2, 1, 22, 30)); // 06:30 on 2 March at UTC+8
    const { s, dir, rendered } = schedule(7, clock);
    expect(await s.tick()).toBe(0);
    clock.advance(60 * 60_000); // 07:30
    expect(await s.tick()).toBe(4);
    expect(await s.tick()).toBe(0);
    expect(rendered).toEqual(['reg-a:2026-03-01', 'reg-b:2026-03-01']);
    expect(readdirSync(dir).sort()).toEqual([
      'report-reg-a-2026-03-01.csv',
      'report-reg-a-2026-03-01.xlsx',
      'report-reg-b-2026-03-01.csv',
      'report-reg-b-2026-03-01.xlsx',
    ]);
  });

  it('lists a regulator only their own files, and refuses another’s by name', async () => {
    const clock = new ManualClock(Date.UTC(2026, 2, 1, 23, 30));
    const { s } = schedule(7, clock);
    await s.tick();
    const regA = principalOf(users[0]!);
    expect((await s.list(regA)).map((f) => f.name)).toEqual([
      'report-reg-a-2026-03-01.csv',
      'report-reg-a-2026-03-01.xlsx',
    ]);
    expect(await s.path(regA, 'report-reg-b-2026-03-01.xlsx')).toBeNull();
    expect(await s.path(regA, '../report-reg-a-2026-03-01.xlsx')).toBeNull();
  });

  it('does nothing when no hour is configured', async () => {
    const { s } = schedule(-1, new ManualClock(Date.UTC(2026, 2, 1, 23, 30)));
    expect(s.enabled).toBe(false);
    expect(await s.tick()).toBe(0);
  });
});
