import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { DisposalLedger } from '../../server/alarms/disposal.js';
import { Database } from '../../server/db/database.js';
import { dueLevel, Escalator } from '../../server/platform/escalation.js';
import { T0 } from '../server/fixtures.js';
import { alarmRecord } from './fixtures.js';

const MIN = 60_000;

const A1 = { enterpriseId: 'ent-01', gatewayId: 'gw-01', alarmId: 'a-1' };

describe('escalation', () => {
  let clock: ManualClock;
  let ledger: DisposalLedger;
  let database: Database;
  let escalator: Escalator;
  let notified: string[];

  beforeEach(async () => {
    clock = new ManualClock(T0);
    database = new Database({ kind: 'sqlite', path: ':memory:' });
    await database.start();
    ledger = new DisposalLedger({ database, clock });
    await ledger.start();
    notified = [];
    escalator = new Escalator({
      disposal: ledger,
      clock,
      acknowledgeWithinMs: [5 * MIN, 15 * MIN, 30 * MIN],
      disposeWithinMs: [60 * MIN, 120 * MIN, 240 * MIN],
      onEscalated: (e) => notified.push(`${e.alarmId}:${String(e.detail.to)}`),
    });
  });

  afterEach(async () => {
    escalator.stop();
    await ledger.stop();
    await database.stop();
  });

  it.each([
    ['open', 0, 0],
    ['open', 5 * MIN - 1, 0],
    ['open', 5 * MIN, 1],
    ['open', 15 * MIN, 2],
    ['open', 31 * MIN, 3],
    ['acknowledged', 31 * MIN, 0],
    ['acknowledged', 60 * MIN, 1],
    ['acknowledged', 500 * MIN, 3],
    ['closed', 500 * MIN, 0],
  ] as const)('puts a %s alarm %i ms old at level %i', (status, age, level) => {
    expect(
      dueLevel(
        { status, openedAt: T0 },
        T0 + age,
        [5 * MIN, 15 * MIN, 30 * MIN],
        [60 * MIN, 120 * MIN, 240 * MIN],
      ),
    ).toBe(level);
  });

  it('escalates an unacknowledged alarm to county, city and province, each once', async () => {
    await ledger.track(alarmRecord());
    clock.advance(4 * MIN);
    expect(await escalator.tick()).toHaveLength(0);
    clock.advance(1 * MIN);
    await escalator.tick();
    await escalator.tick();
    expect(notified).toEqual(['a-1:county']);
    clock.advance(10 * MIN);
    await escalator.tick();
    clock.advance(60 * MIN);
    await escalator.tick();
    await escalator.tick();
    expect(notified).toEqual(['a-1:county', 'a-1:city', 'a-1:province']);
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('stops at acknowledgement, then escalates again when disposal is overdue', async () => {
    await ledger.track(alarmRecord());
    clock.advance(3 * MIN);
    await ledger.acknowledge(A1, 'op');
    clock.advance(40 * MIN);
    await escalator.tick();
    expect(notified).toEqual([]);
    clock.advance(20 * MIN); // 63 min after the raise
    await escalator.tick();
    expect(notified).toEqual(['a-1:county']);
    expect((await ledger.events(A1)).at(-1)?.detail).toMatchObject({ reason: 'not disposed' });
  });

  it('never escalates a closed or drill alarm', async () => {
    await ledger.track(alarmRecord());
    await ledger.track(alarmRecord({ alarmId: 'drill-1', drill: true }));
    await ledger.acknowledge(A1, 'op');
    await ledger.close(A1, 'op', 'false alarm: calibration gas');
    clock.advance(1000 * MIN);
    expect(await escalator.tick()).toEqual([]);
    expect(notified).toEqual([]);
  });
});
