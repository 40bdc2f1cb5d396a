import { describe, expect, it } from 'vitest';
import {
  decay,
  escalationLevelAt,
  type RiskAlarm,
  riskHistory,
  stableRiskAt,
} from '../../server/platform/risk-score.js';

const H = 60 * 60_000;
const settings = {
  halfLifeMs: 6 * H,
  overdueMs: H,
  acknowledgeWithinMs: [5 * 60_000, 15 * 60_000, 30 * 60_000],
  disposeWithinMs: [H, 2 * H, 4 * H],
};
const alarm = (o: Partial<RiskAlarm> = {}): RiskAlarm => ({
  level: 2,
  drill: false,
  openedAt: 0,
  clearedAt: null,
  acknowledgedAt: null,
  closedAt: null,
  ...o,
});
const score = (alarms: RiskAlarm[], now: number) =>
  stableRiskAt({ grade: null, alarms, offlinePoints: 0 }, now, settings);

describe('stable risk score', () => {
  it('went orange → blue in 10 s while 8 alarms were unacknowledged (issue 15): now keeps its colour', () => {
    // Eight level-2 alarms raised at 0, back to normal at 5 s, nobody acknowledged them.
    const alarms = Array.from({ length: 8 }, () => alarm({ clearedAt: 5_000 }));
    const before = score(alarms, 4_000);
    const after = score(alarms, 10_000);
    expect(before.colour).toBe('red');
    expect(after.colour).toBe('red');
    expect(after.score).toBeGreaterThan(before.score - 1);
  });

  it('keeps counting unacknowledged, escalated and overdue alarms until handled', () => {
    const open = [alarm({ clearedAt: 1_000 })];
    const at2h = score(open, 2 * H);
    const terms = Object.fromEntries(at2h.terms.map((t) => [t.factor, t]));
    expect(terms.unacknowledged).toMatchObject({ points: 8, live: 1 });
    expect(terms.escalated).toMatchObject({ points: 18, live: 1 }); // 3 levels × 6
    expect(terms.overdue).toMatchObject({ points: 10, live: 1 });
    // The level-2 term decays since the value returned to normal.
    expect(terms.level2InAlarm?.decaying).toBe(1);
  });

  it('decays a handled alarm with the configured half-life, not at once', () => {
    const handled = [
      alarm({ clearedAt: 1_000, acknowledgedAt: 2 * 60_000, closedAt: 10 * 60_000 }),
    ];
    const atClose = score(handled, 10 * 60_000).score;
    const sixHoursLater = score(handled, 10 * 60_000 + 6 * H).score;
    expect(sixHoursLater).toBeGreaterThan(0);
    expect(sixHoursLater).toBeCloseTo(atClose / 2, 0);
    expect(score(handled, 10 * 60_000 + 48 * H).score).toBe(0);
    expect(decay(6 * H, 0, 6 * H)).toBeCloseTo(0.5);
  });

  it('is never blue or yellow while a level-2 alarm is in alarm', () => {
    const r = score([alarm({ acknowledgedAt: 1 })], 2);
    expect(r.colour).toBe('orange');
  });

  it('leaves drills out', () => {
    expect(score([alarm({ drill: true })], 10 * H).score).toBe(0);
  });

  it('takes escalation levels from the deadlines, frozen at close', () => {
    const a = alarm({ acknowledgedAt: 20 * 60_000, closedAt: 3 * H });
    expect(escalationLevelAt(a, 10 * 60_000, settings)).toBe(1);
    expect(escalationLevelAt(a, 2.5 * H, settings)).toBe(2);
    expect(escalationLevelAt(a, 10 * H, settings)).toBe(2);
  });

  it('gives an hourly history whose colour changes over hours', () => {
    const history = riskHistory(
      {
        grade: null,
        alarms: Array.from({ length: 4 }, () =>
          alarm({ clearedAt: 1, acknowledgedAt: 2, closedAt: 3 }),
        ),
      },
      0,
      48 * H,
      H,
      settings,
    );
    expect(history).toHaveLength(49);
    const changes = history.filter((s, i) => i > 0 && s.colour !== history[i - 1]?.colour);
    expect(changes.length).toBeGreaterThan(0);
    expect(changes.length).toBeLessThanOrEqual(3);
    expect(history.at(-1)?.colour).toBe('blue');
  });
});
