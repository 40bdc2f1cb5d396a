import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { AlarmEngine, compileRuleSet, type EdgeAlarmTransition } from '../../edge/engine/index.js';
import { loadRuleSources } from '../../edge/rule-loader.js';
import { decodeAlarmEvent, type Reading } from '../../protocol/index.js';
import { demoSensors, methaneRuleFile } from './fixtures.js';

const T0 = Date.UTC(2026, 0, 1, 8, 0, 0);

function methaneEngine(extra = '', options: { drill?: boolean } = {}) {
  const ruleSet = loadRuleSources([{ file: 'gas.yaml', text: methaneRuleFile(extra) }]);
  const compiled = compileRuleSet(ruleSet, demoSensors());
  const clock = new ManualClock(T0);
  return { engine: new AlarmEngine(compiled, { clock, ...options }), clock, compiled };
}

const gas = (value: number | null, ts: number, quality: Reading['quality'] = 'good'): Reading => ({
  sensorId: 'GT-101',
  value,
  quality,
  ts,
});

describe('AlarmEngine', () => {
  it('gives each occurrence its own id <ruleId>.<limit>.<gateway>-<random>-<n>, kept from raise to clear', () => {
    const { engine, compiled, clock } = methaneEngine();
    const raised = engine.evaluate([gas(25, T0 + 1000)]);
    const cleared = engine.evaluate([gas(0, T0 + 5000)]);
    const again = engine.evaluate([gas(25, T0 + 6000)]);
    expect(raised[0]?.alarmId).toMatch(/^GT-101-gas\.level1\.edge-[0-9a-f]{8}-1$/);
    expect(cleared.map((t) => t.alarmId)).toEqual([raised[0]?.alarmId]);
    expect(again[0]?.alarmId).toMatch(/-2$/);
    // Another gateway raising at the same instant never collides (gateway id in the id).
    const other = new AlarmEngine(compiled, { clock, gatewayId: 'gw.2' });
    expect(other.evaluate([gas(25, T0 + 1000)])[0]?.alarmId).toMatch(
      /^GT-101-gas\.level1\.gw_2-[0-9a-f]{8}-1$/,
    );
  });

  it('never derives an alarm id from the reading time (bug: ids shifted after one reading ten years ahead)', () => {
    const { engine } = methaneEngine();
    const tenYears = 10 * 365 * 86_400_000;
    engine.evaluate([gas(1, T0 + tenYears)]);
    const [raised] = engine.evaluate([gas(25, T0 + 1000)]);
    expect(raised?.alarmId).not.toContain(String(T0));
    expect(raised?.alarmId).not.toContain(String(T0 + tenYears));
    expect(raised?.ts).toBe(T0 + 1000);
  });

  it('emits transitions that, wrapped in the uplink envelope, are valid AlarmEvents', () => {
    const { engine } = methaneEngine('', { drill: true });
    const [level1, level2] = engine.evaluate([gas(60, T0)]);
    expect(level2).toEqual({
      alarmId: expect.stringMatching(/^GT-101-gas\.level2\.edge-[0-9a-f]{8}-2$/),
      ruleId: 'GT-101-gas',
      sensorId: 'GT-101',
      sensorName: 'Reactor hall methane detector',
      installationId: 'unit-1',
      location: 'Reactor hall, east wall',
      gas: 'methane',
      level: 2,
      transition: 'raised',
      value: 60,
      unit: '%LEL',
      setpoint: 40,
      ts: T0,
      drill: true,
      message: 'GT-101 methane 60 %LEL, at or above level2 setpoint 40 %LEL (level 2)',
      state: 'unacknowledged',
    } satisfies EdgeAlarmTransition);
    const envelope = { v: 1, gatewayId: 'gw-1', enterpriseId: 'ent-1', seq: 7, sentAt: T0 };
    for (const transition of [level1, level2]) {
      const decoded = decodeAlarmEvent(JSON.stringify({ ...envelope, ...transition }));
      expect(decoded).toMatchObject({ ok: true });
    }
    const [clear] = engine.evaluate([gas(17.5, T0 + 1000)]);
    expect(clear?.message).toBe(
      'GT-101 methane 17.5 %LEL, back below 18 %LEL: level1 (level 1) cleared',
    );
  });

  it('returns one shared, frozen empty array whenever nothing transitions', () => {
    const { engine } = methaneEngine();
    const quiet = engine.evaluate([gas(1, T0)]);
    expect(quiet).toHaveLength(0);
    expect(Object.isFrozen(quiet)).toBe(true);
    expect(engine.evaluate([gas(2, T0 + 100)])).toBe(quiet);
    expect(engine.evaluate([])).toBe(quiet);
    expect(engine.tick()).toBe(quiet);
  });

  it('ignores sensors without rules and values that are not finite numbers', () => {
    const { engine } = methaneEngine();
    const out = engine.evaluate([
      { sensorId: 'TT-201', value: 500, quality: 'good', ts: T0 },
      { sensorId: 'GT-101', value: '60', quality: 'good', ts: T0 },
      { sensorId: 'GT-101', value: true, quality: 'good', ts: T0 },
      gas(Number.NaN, T0),
      gas(Number.POSITIVE_INFINITY, T0),
    ]);
    expect(out).toHaveLength(0);
    expect(engine.active()).toEqual([]);
  });

  it('lists active alarms with their raise time, raise value and latest value', () => {
    const { engine } = methaneEngine('', { drill: false });
    engine.evaluate([gas(30, T0), gas(33, T0 + 500)]);
    expect(engine.active()).toEqual([
      {
        alarmId: expect.stringMatching(/^GT-101-gas\.level1\./),
        ruleId: 'GT-101-gas',
        limitName: 'level1',
        sensorId: 'GT-101',
        level: 1,
        direction: 'high',
        setpoint: 20,
        unit: '%LEL',
        gas: 'methane',
        raisedAt: T0,
        raisedValue: 30,
        lastValue: 33,
        drill: false,
        state: 'unacknowledged',
        valueUnreliable: false,
      },
    ]);
  });

  it('keeps the state of each engine apart when two engines share one compiled rule set', () => {
    const { engine, compiled, clock } = methaneEngine();
    const other = new AlarmEngine(compiled, { clock });
    engine.evaluate([gas(30, T0)]);
    expect(engine.active()).toHaveLength(1);
    expect(other.active()).toHaveLength(0);
  });
});
