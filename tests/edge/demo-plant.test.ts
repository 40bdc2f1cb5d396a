import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { AlarmEngine, compileRuleSet, type EdgeAlarmTransition } from '../../edge/engine/index.js';
import { loadRuleFiles } from '../../edge/rule-loader.js';
import type { Reading } from '../../protocol/index.js';
import { demoRulesPath, demoSensors } from './fixtures.js';

const T0 = Date.UTC(2026, 0, 1, 8, 0, 0);
const POLL_MS = 500; // the demo gas controller's poll interval

/** Deterministic noise in [-amplitude, +amplitude] (a small LCG, so runs repeat exactly). */
function noiseSource(amplitude: number, seed = 42) {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return (state / 2 ** 31) * 2 * amplitude - amplitude;
  };
}

/** Feeds a signal to the demo engine, polled every POLL_MS, ticking in between. */
function run(sensorId: string, durationMs: number, signal: (tMs: number) => number) {
  const compiled = compileRuleSet(loadRuleFiles([demoRulesPath]), demoSensors());
  const clock = new ManualClock(T0);
  const engine = new AlarmEngine(compiled, { clock });
  const transitions: EdgeAlarmTransition[] = [];
  for (let t = 0; t <= durationMs; t += POLL_MS / 5) {
    clock.set(T0 + t);
    if (t % POLL_MS === 0) {
      const reading: Reading = { sensorId, value: signal(t), quality: 'good', ts: T0 + t };
      transitions.push(...engine.evaluate([reading]));
    }
    transitions.push(...engine.tick());
  }
  return transitions;
}

describe('demo plant rules (rules/demo-plant.yaml)', () => {
  it('compile against the demo plant sensor catalogue', () => {
    const compiled = compileRuleSet(loadRuleFiles([demoRulesPath]), demoSensors());
    expect(compiled.limitCount).toBe(15);
    expect([...compiled.limitsBySensor.keys()].sort()).toEqual(
      ['AT-102', 'AT-103', 'AT-104', 'GT-101', 'LT-203', 'PT-202', 'TT-201'].sort(),
    );
  });

  it('raise methane level 2 within 35 s of the start of a fast leak with noise', () => {
    const noise = noiseSource(1.5);
    // 0 → 60 %LEL in 30 s, then held.
    const leak = (t: number) => Math.max(0, Math.min(60, (t / 30_000) * 60) + noise());
    const raised = run('GT-101', 40_000, leak).filter((t) => t.transition === 'raised');
    expect(raised.map((t) => t.level)).toEqual([1, 2]);
    const level2 = raised[1]!;
    expect(level2.ts - T0).toBeLessThanOrEqual(35_000);
  });

  it('stay silent for ten minutes of baseline noise', () => {
    const noise = noiseSource(1.5, 7);
    const baseline = (t: number) => Math.max(0, 2 + noise() + Math.sin(t / 60_000));
    expect(run('GT-101', 600_000, baseline)).toEqual([]);
  });

  it('raise once, not on every reading, while methane hovers around the level 1 setpoint', () => {
    const noise = noiseSource(1.5, 3);
    const hovering = () => 20 + noise(); // 18.5 .. 21.5 %LEL: never below the 18 %LEL return
    const out = run('GT-101', 120_000, hovering);
    expect(out.map((t) => `${t.transition} level ${t.level}`)).toEqual(['raised level 1']);
  });

  it('raise oxygen deficiency when nitrogen displaces air', () => {
    const falling = (t: number) => Math.max(17, 20.9 - t / 10_000); // -0.1 %VOL/s
    const out = run('AT-103', 60_000, falling);
    expect(out.map((t) => `${t.transition} ${t.alarmId.split('.')[1]}`)).toEqual([
      'raised deficiency',
    ]);
    expect(out[0]?.value).toBeLessThanOrEqual(19.5);
  });
});
