import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { AlarmEngine, compileRuleSet, type EdgeAlarmTransition } from '../../edge/engine.js';
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
  it('gives each occurrence the deterministic id ruleId.limit.raisedTs, kept from raise to clear', () => {
    const { engine } = methaneEngine();
    const raised = engine.evaluate([gas(25, T0 + 1000)]);
    const cleared = engine.evaluate([gas(0, T0 + 5000)]);
    expect(raised.map((t) => t.alarmId)).toEqual([`GT-101-gas.level1.${T0 + 1000}`]);
    expect(cleared.map((t) => t.alarmId)).toEqual([`GT-101-gas.level1.${T0 + 1000}`]);
    const again = methaneEngine().engine.evaluate([gas(25, T0 + 1000)]);
    expect(again.map((t) => t.alarmId)).toEqual(raised.map((t) => t.alarmId));
  });

  it('keeps alarm ids unique when an alarm re-raises within the same millisecond', () => {
    const { engine } = methaneEngine();
    const ts = T0 + 1000;
    const out = engine.evaluate([gas(25, ts), gas(0, ts), gas(25, ts)]);
    expect(out.map((t) => `${t.transition} ${t.alarmId}`)).toEqual([
      `raised GT-101-gas.level1.${ts}`,
      `cleared GT-101-gas.level1.${ts}`,
      `raised GT-101-gas.level1.${ts + 1}`,
    ]);
  });

  it('emits transitions that, wrapped in the uplink envelope, are valid AlarmEvents', () => {
    const { engine } = methaneEngine('', { drill: true });
    const [level1, level2] = engine.evaluate([gas(60, T0)]);
    expect(level2).toEqual({
      alarmId: `GT-101-gas.level2.${T0}`,
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
        alarmId: `GT-101-gas.level1.${T0}`,
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

  it('restarts an on-delay rather than shortening it when timestamps step backwards', () => {
    const { engine, clock } = methaneEngine('    onDelayMs: 1000\n');
    expect(engine.evaluate([gas(30, T0 + 10_000)])).toHaveLength(0);
    expect(engine.evaluate([gas(30, T0 + 5_000)])).toHaveLength(0); // device clock corrected back
    expect(engine.evaluate([gas(30, T0 + 5_900)])).toHaveLength(0);
    clock.set(T0 + 5_999);
    expect(engine.tick()).toHaveLength(0);
    expect(engine.evaluate([gas(30, T0 + 6_000)]).map((t) => t.ts)).toEqual([T0 + 6_000]);
  });
});
