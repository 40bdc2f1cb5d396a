/**
 * What the workbench reads for ranking, indicators and reports (server/platform/risk-inputs.ts):
 * the alarms of the time windows it needs, through the ledger's time-range query, plus every
 * alarm not yet closed or still in alarm, however old. It used to read the newest 20,000 alarms
 * of the scope, so a busy neighbour pushed an old, still unhandled alarm out of its enterprise's
 * risk, and a past period out of its report.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mergeWindows } from '../../server/platform/risk-inputs.js';
import { type Harness, startHarness } from './harness.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const W = '/api/v1/workbench';
let h: Harness;
let regC1: string;

beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.stop();
});

const get = (url: string) =>
  h.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${regC1}` } });

/** More than the old 20,000-alarm window of ent-b (same scope as ent-a), newer than anything else. */
async function floodEntB(count = 20_001): Promise<void> {
  const now = h.clock.now();
  for (let i = 0; i < count; i++) {
    await h.ledger.record({
      v: 1,
      gatewayId: 'gw-ent-b',
      enterpriseId: 'ent-b',
      seq: 1_000_000 + i,
      sentAt: now,
      alarmId: `flood-${i}`,
      ruleId: 'GT-101-gas',
      sensorId: 'GT-101',
      level: 1,
      transition: 'raised',
      value: 30,
      unit: '%LEL',
      setpoint: 25, // GB/T 50493-2019 §5.5.3 item 1: level 1 <= 25 %LEL
      ts: now - DAY + (i % 1_000) * MIN,
      drill: false,
    });
  }
}

interface Term {
  factor: string;
  live: number;
}

describe('workbench inputs beyond the newest 20,000 alarms', () => {
  it('with more than 20,000 newer alarms of other enterprises, an old unacknowledged alarm still counts in its enterprise’s risk', async () => {
    const t0 = h.clock.now();
    // Raised 40 days ago by the edge's clock, back to normal a minute later, never acknowledged.
    await h.raise('ent-a', { alarmId: 'old-unacked', ts: t0 - 40 * DAY });
    await h.raise('ent-a', {
      alarmId: 'old-unacked',
      transition: 'cleared',
      value: 3,
      ts: t0 - 40 * DAY + MIN,
    });
    h.clock.advance(2 * HOUR);
    await floodEntB();
    regC1 = await h.login('reg-c1'); // after the clock moved: a session lasts hours, not days

    const ranking = (await get(`${W}/ranking`)).json();
    const entA = ranking.enterprises.find((e: { id: string }) => e.id === 'ent-a');
    const terms = Object.fromEntries(entA.risk.terms.map((t: Term) => [t.factor, t]));
    expect(terms.unacknowledged.live).toBe(1);
    expect(terms.overdue.live).toBe(1);
    expect(entA.counts.unacknowledged).toBe(1);

    const indicators = (await get(`${W}/indicators`)).json().indicators;
    const entAIndicators = indicators.enterprises.find(
      (e: { enterpriseId: string }) => e.enterpriseId === 'ent-a',
    );
    expect(entAIndicators.overdue).toBe(1);
  });

  it('a report of a past period counts its alarms however many newer alarms there are', async () => {
    const t0 = h.clock.now();
    const alarm = await h.raise('ent-a', { alarmId: 'last-month' });
    await h.platform.disposal.acknowledge(alarm, 'tester');
    await h.platform.disposal.close(alarm, 'tester', 'ventilated, detector checked');
    await h.raise('ent-a', { alarmId: 'last-month', transition: 'cleared', value: 3 });
    h.clock.advance(10 * DAY);
    await floodEntB();
    regC1 = await h.login('reg-c1'); // after the clock moved: a session lasts hours, not days

    const window = `from=${t0 - HOUR}&to=${t0 + DAY}`;
    const indicators = (await get(`${W}/indicators?${window}`)).json().indicators;
    expect(indicators.disposal).toMatchObject({ numerator: 1, denominator: 1 });
    const report = (await get(`${W}/report?period=custom&${window}&format=json`)).json();
    const rows: unknown[][] = report.model.alarms.rows;
    expect(rows).toHaveLength(1);
    expect(rows[0]).toContain('A 化工');
    expect(rows[0]).toContain('tester'); // closed by
  });
});

describe('mergeWindows', () => {
  it('reads overlapping or touching windows once and drops empty ones', async () => {
    expect(
      mergeWindows([
        { from: 50, to: 60 },
        { from: 0, to: 10 },
        { from: 11, to: 20 },
        { from: 55, to: 70 },
        { from: 30, to: 29 },
      ]),
    ).toEqual([
      { from: 0, to: 20 },
      { from: 50, to: 70 },
    ]);
  });
});
