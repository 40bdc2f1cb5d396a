/**
 * The engine's boundary against misbehaving time and data (issue 12): clock steps
 * reported, implausible times and non-finite values as faults, the shelve cap at
 * expiry, occurrence ids unique across restarts.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import {
  AlarmEngine,
  type AlarmEngineOptions,
  type ClockStep,
  compileRuleSet,
} from '../../edge/engine/index.js';
import { loadRuleSources } from '../../edge/rule-loader.js';
import { MemoryAlarmStateStore } from '../../edge/state-store.js';
import type { Reading } from '../../protocol/index.js';
import { demoSensors, methaneRuleFile } from './fixtures.js';

const T0 = Date.UTC(2026, 0, 1, 8, 0, 0);
const HOUR = 3_600_000;

const FAULT_AND_GAS = `${methaneRuleFile()}  - { id: GT-101-fault, sensor: GT-101, type: fault }
`;

function engineWith(text: string, clock: ManualClock, options: Partial<AlarmEngineOptions> = {}) {
  const compiled = compileRuleSet(loadRuleSources([{ file: 'r.yaml', text }]), demoSensors());
  return new AlarmEngine(compiled, { clock, ...options });
}

const gas = (value: number, ts: number, quality: Reading['quality'] = 'good'): Reading => ({
  sensorId: 'GT-101',
  value,
  quality,
  ts,
});

describe('non-finite values at the boundary', () => {
  it('keeps an active alarm, marks it value unreliable until a good reading decides, and counts', () => {
    const clock = new ManualClock(T0);
    const engine = engineWith(FAULT_AND_GAS, clock);
    engine.evaluate([gas(45, T0)]);
    clock.advance(1000);
    const out = engine.evaluate([gas(Number.POSITIVE_INFINITY, T0 + 1000)]);
    expect(out.map((t) => `${t.ruleId} ${t.transition}`)).toEqual(['GT-101-fault raised']);
    expect(engine.active().filter((a) => a.ruleId === 'GT-101-gas')).toMatchObject([
      { limitName: 'level1', valueUnreliable: true, lastValue: 45 },
      { limitName: 'level2', valueUnreliable: true, lastValue: 45 },
    ]);
    expect(engine.alarms().find((a) => a.key === 'GT-101-gas.level2')?.valueUnreliable).toBe(true);
    expect(engine.kpis()).toMatchObject({ nonFiniteReadings: 1, activeAlarms: 3 });
    clock.advance(1000);
    engine.evaluate([gas(44, T0 + 2000)]);
    expect(engine.active().every((a) => !a.valueUnreliable)).toBe(true);
  });
});

describe('plausible time', () => {
  it('treats readings stamped before 2000, older than 24 h or more than 5 min ahead as clock faults', () => {
    const clock = new ManualClock(T0);
    const engine = engineWith(FAULT_AND_GAS, clock);
    const stamps = [Date.UTC(1999, 11, 31), T0 - 25 * HOUR, T0 + 5 * 60_000 + 1, Number.NaN];
    for (const ts of stamps) {
      const out = engine.evaluate([gas(45, ts)]);
      // No gas alarm from a reading whose time cannot be believed; the fault rule sees it.
      expect(out.every((t) => t.ruleId === 'GT-101-fault')).toBe(true);
      for (const t of out) expect(t.ts).toBe(T0); // the gateway time stands in
    }
    expect(engine.counters().clockFault).toBe(4);
    // Within tolerance (4 min ahead) is a reading like any other.
    const ok = engine.evaluate([gas(45, T0 + 4 * 60_000)]);
    expect(ok.map((t) => `${t.ruleId}.${t.transition}`)).toContain('GT-101-gas.raised');
  });

  it('takes its tolerances from the options', () => {
    const clock = new ManualClock(T0);
    const engine = engineWith(methaneRuleFile(), clock, { futureToleranceMs: 1000 });
    expect(engine.evaluate([gas(45, T0 + 2000)])).toEqual([]);
    expect(engine.counters().clockFault).toBe(1);
  });
});

describe('wall-clock steps', () => {
  it('reports each step with its size and time through onClockStep, and counts it', () => {
    const clock = new ManualClock(T0);
    const steps: ClockStep[] = [];
    const engine = engineWith(methaneRuleFile(), clock, { onClockStep: (s) => steps.push(s) });
    clock.advance(10_000);
    engine.tick();
    clock.step(-HOUR);
    engine.tick();
    clock.advance(1000);
    clock.step(1500); // below the 2 s threshold: drift, not a step
    engine.tick();
    expect(steps).toEqual([{ stepMs: -HOUR, at: T0 + 10_000 - HOUR }]);
    expect(engine.kpis().clockSteps).toBe(1);
  });

  it('keeps readings stamped on the stepped-back clock in order (they are newer, not late)', () => {
    const clock = new ManualClock(T0);
    const engine = engineWith(methaneRuleFile(), clock);
    engine.evaluate([gas(5, T0)]);
    clock.advance(1000);
    clock.step(-HOUR);
    const out = engine.evaluate([gas(25, clock.now())]);
    expect(out.map((t) => t.transition)).toEqual(['raised']);
    expect(engine.counters().outOfOrder).toBe(0);
  });
});

describe('shelving on monotonic time', () => {
  it('ends a shelve at its 24 h cap even when the saved end lies days ahead (cap at expiry)', () => {
    const clock = new ManualClock(T0);
    const store = new MemoryAlarmStateStore();
    store.save({
      version: 1,
      savedAt: T0,
      points: {
        'GT-101-gas.level1': {
          active: false,
          alarmId: 'GT-101-gas.level1',
          raisedAt: 0,
          raisedValue: 0,
          open: false,
          acked: false,
          ackedBy: '',
          latchedWaiting: false,
          shelve: 'timed',
          shelvedUntil: T0 + 10 * 24 * HOUR, // written by a clock ten days ahead
          shelvedAt: T0,
          shelvedBy: 'op',
          suppressed: false,
          outOfService: false,
          overrideBy: '',
        },
      },
    });
    const engine = engineWith(methaneRuleFile(), clock, { store });
    clock.advance(24 * HOUR - 1000);
    expect(engine.tick()).toEqual([]);
    clock.advance(1000);
    expect(engine.tick().map((t) => t.transition)).toEqual(['unshelved']);
  });

  it('neither shortens a shelve when the clock steps ahead nor stretches it when it steps back', () => {
    for (const step of [5 * HOUR, -5 * HOUR]) {
      const clock = new ManualClock(T0);
      const engine = engineWith(methaneRuleFile(), clock);
      engine.shelve('GT-101-gas.level1', 'op', { durationMs: 600_000 });
      clock.advance(1000);
      clock.step(step);
      expect(engine.tick()).toEqual([]);
      clock.advance(598_999);
      expect(engine.tick()).toEqual([]);
      clock.advance(1);
      expect(engine.tick().map((t) => t.transition)).toEqual(['unshelved']);
    }
  });
});

describe('occurrence ids', () => {
  it('stay unique across a restart (persisted counter) and never reuse a closed occurrence id', () => {
    const clock = new ManualClock(T0);
    const store = new MemoryAlarmStateStore();
    const ids = new Set<string>();
    for (let boot = 0; boot < 3; boot++) {
      const engine = engineWith(methaneRuleFile(), clock, { store, gatewayId: 'gw-1' });
      for (let i = 0; i < 3; i++) {
        clock.advance(1000);
        for (const t of engine.evaluate([gas(i % 2 === 0 ? 25 : 0, clock.now())])) {
          if (t.transition === 'raised') {
            expect(ids.has(t.alarmId)).toBe(false);
            ids.add(t.alarmId);
          }
        }
      }
    }
    // 2 raises in the first boot; later boots start with the alarm restored active: 1 each.
    expect(ids.size).toBe(4);
    expect(store.load()?.nextOccurrence).toBe(5);
  });
});
