/**
 * Reload off the alarm path (issue 12): files read in a worker thread, compiled and
 * built in steps while readings keep being evaluated, swapped in at once with the
 * alarm state carried across.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { rootLogger } from '../../common/logger.js';
import type { EdgeAlarmTransition } from '../../edge/engine/index.js';
import { RuleRuntime } from '../../edge/rule-runtime.js';
import type { Reading } from '../../protocol/index.js';
import { demoSensors, methaneRuleFile } from './fixtures.js';

const T0 = Date.UTC(2026, 0, 1, 8, 0, 0);
const reading = (sensorId: string, value: number, ts: number): Reading => ({
  sensorId,
  value,
  quality: 'good',
  ts,
});

/** Many threshold rules, one per temperature sensor TT-<i>, so the build takes many steps. */
const manyRules = (n: number, setpoint: number) =>
  `${methaneRuleFile()}${Array.from(
    { length: n },
    (_, i) =>
      `  - { id: T${i}, sensor: TT-${i}, type: threshold, limits: [{ name: H, level: 1, direction: high, setpoint: ${setpoint}, deadband: 1 }] }`,
  ).join('\n')}\n`;

function sensors() {
  const all = demoSensors();
  for (let i = 0; i < 1200; i++) {
    all.set(`TT-${i}`, { sensorId: `TT-${i}`, name: `TT-${i}`, kind: 'temperature', unit: '°C' });
  }
  return all;
}

let dir: string;
beforeEach(() => {
  rootLogger.level = 'silent';
  dir = mkdtempSync(join(tmpdir(), 'hw-edge-reload-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('reloadInBackground', () => {
  it('keeps evaluating while the new set is read and built, then carries the alarm state across', async () => {
    const file = join(dir, 'plant.yaml');
    writeFileSync(file, manyRules(1200, 100));
    const clock = new ManualClock(T0);
    const runtime = new RuleRuntime({ files: [file], sensors: sensors(), clock });
    const [raised] = runtime.engine.evaluate([reading('GT-101', 25, T0)]);
    runtime.engine.acknowledge('GT-101-gas.level1', 'op-zhang');
    writeFileSync(file, manyRules(1200, 50).replace('level1: 20', 'level1: 15'));

    let done = false;
    const reload = runtime.reloadInBackground().finally(() => {
      done = true;
    });
    // Readings keep coming while the reload runs; each is evaluated at once.
    const during: EdgeAlarmTransition[] = [];
    let evaluations = 0;
    let value = 0;
    while (!done) {
      clock.advance(10);
      value = value === 0 ? 30 : 0; // GT-102 has no rule: only proves evaluation runs
      during.push(...runtime.engine.evaluate([reading('GT-102', value, clock.now())]));
      evaluations++;
      await nextTurn();
    }
    const result = await reload;
    expect(result).toMatchObject({ ok: true, rules: 1201, transitions: [] });
    expect(evaluations).toBeGreaterThan(3); // the reload gave the event loop back repeatedly
    expect(during).toEqual([]);
    // The occurrence and its acknowledgement survived; the new setpoints are in force.
    expect(runtime.engine.active().map((a) => `${a.alarmId} ${a.state}`)).toEqual([
      `${raised!.alarmId} acknowledged`,
    ]);
    expect(runtime.engine.evaluate([reading('GT-101', 16, clock.now())])).toEqual([]);
    clock.advance(10);
    const hot = runtime.engine.evaluate([reading('TT-7', 50, clock.now())]);
    expect(hot.map((t) => t.ruleId)).toEqual(['T7']);
  });

  it('refuses a bad set with every problem, and the old rules stay in force', async () => {
    const file = join(dir, 'plant.yaml');
    writeFileSync(file, methaneRuleFile());
    const clock = new ManualClock(T0);
    const runtime = new RuleRuntime({ files: [file], sensors: demoSensors(), clock });
    writeFileSync(file, methaneRuleFile().replace('level1: 20', 'level1: 30'));
    const result = await runtime.reloadInBackground();
    expect(result.ok).toBe(false);
    expect(!result.ok && result.problems).toEqual([
      `${file}:8:13 rules[0].level1: level1 30 %LEL is above the 25 %LEL maximum of GB/T 50493-2019 §5.5.3 item 1 (add a justification to deviate)`,
    ]);
    expect(runtime.engine.evaluate([reading('GT-101', 22, T0)])).toHaveLength(1);
  });

  it('closes the open alarms of rules the new set removes', async () => {
    const file = join(dir, 'plant.yaml');
    writeFileSync(file, methaneRuleFile());
    const clock = new ManualClock(T0);
    const runtime = new RuleRuntime({ files: [file], sensors: demoSensors(), clock });
    const [raised] = runtime.engine.evaluate([reading('GT-101', 25, T0)]);
    writeFileSync(file, 'version: 1\nrules: []\n');
    const result = await runtime.reloadInBackground();
    expect(result.ok && result.transitions.map((t) => `${t.transition} ${t.alarmId}`)).toEqual([
      `cleared ${raised!.alarmId}`,
    ]);
  });
});
