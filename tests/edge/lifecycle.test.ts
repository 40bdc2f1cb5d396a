import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { AlarmEngine, compileRuleSet } from '../../edge/engine/index.js';
import { loadRuleSources } from '../../edge/rule-loader.js';
import { RuleRuntime } from '../../edge/rule-runtime.js';
import {
  type AlarmStateStore,
  FileAlarmStateStore,
  MemoryAlarmStateStore,
} from '../../edge/state-store.js';
import type { Reading } from '../../protocol/index.js';
import { demoSensors, methaneRuleFile } from './fixtures.js';

const T0 = Date.UTC(2026, 0, 1, 8, 0, 0);
const reading = (sensorId: string, value: number, ts: number): Reading => ({
  sensorId,
  value,
  quality: 'good',
  ts,
});

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hw-edge-life-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function engineWith(text: string, clock: ManualClock, store?: AlarmStateStore) {
  const compiled = compileRuleSet(loadRuleSources([{ file: 'r.yaml', text }]), demoSensors());
  return new AlarmEngine(compiled, { clock, ...(store ? { store } : {}) });
}

/** 12 threshold limits on TT-201 (10, 20, ... 120 °C): one hot reading raises all of them. */
const twelveLimits = `version: 1
rules:
${Array.from({ length: 12 }, (_, i) => `  - { id: T${i}, sensor: TT-201, type: threshold, limits: [{ name: H, level: 1, direction: high, setpoint: ${(i + 1) * 10}, deadband: 1 }] }`).join('\n')}
`;

describe('alarm state survives a gateway restart', () => {
  it('keeps active, acknowledged, shelved and out-of-service alarms, and their ids', () => {
    const path = join(dir, 'alarms.json');
    const clock = new ManualClock(T0);
    const before = engineWith(methaneRuleFile(), clock, new FileAlarmStateStore(path));
    const [level1, level2] = before.evaluate([reading('GT-101', 45, T0)]).map((t) => t.alarmId);
    clock.set(T0 + 1000);
    before.acknowledge('GT-101-gas.level1', 'op-zhang');
    before.shelve(level2!, 'op-zhang', { durationMs: 3_600_000 });
    const expected = before.alarms();

    // Restart: a new engine on the same file.
    clock.set(T0 + 5000);
    const after = engineWith(methaneRuleFile(), clock, new FileAlarmStateStore(path));
    expect(after.alarms()).toEqual(expected);
    expect(after.stateOf('GT-101-gas.level1')).toBe('acknowledged');
    expect(after.stateOf('GT-101-gas.level2')).toBe('shelved');
    // The restored alarm clears with its original id; no duplicate raise.
    expect(after.evaluate([reading('GT-101', 45, T0 + 6000)])).toEqual([]);
    const cleared = after.evaluate([reading('GT-101', 0, T0 + 7000)]);
    expect(cleared.map((t) => `${t.transition} ${t.alarmId} ${t.state}`)).toEqual([
      `cleared ${level1} normal`,
      `cleared ${level2} shelved`,
    ]);
  });

  it('an unacknowledged alarm is still unacknowledged after the restart, and can be acknowledged', () => {
    const store = new MemoryAlarmStateStore();
    const clock = new ManualClock(T0);
    const [raised] = engineWith(methaneRuleFile(), clock, store).evaluate([
      reading('GT-101', 25, T0),
    ]);
    const alarmId = raised!.alarmId;
    const after = engineWith(methaneRuleFile(), clock, store);
    expect(after.stateOf(alarmId)).toBe('unacknowledged');
    const acked = after.acknowledge(alarmId, 'server:op-li');
    expect(acked).toMatchObject([{ transition: 'acknowledged', acknowledgedBy: 'server:op-li' }]);
    // An acknowledgement arriving twice (edge and server) changes nothing the second time.
    expect(after.acknowledge(alarmId, 'server:op-li')).toEqual([]);
  });
});

describe('flood, first-out and chattering (ISA-18.2)', () => {
  it('marks raises after the 10th in 10 minutes as a flood, naming the first-out alarm', () => {
    const clock = new ManualClock(T0);
    const engine = engineWith(twelveLimits, clock);
    const out = engine.evaluate([reading('TT-201', 200, T0)]);
    expect(out).toHaveLength(12);
    expect(out.slice(0, 10).every((t) => t.flood === undefined)).toBe(true);
    expect(out.slice(10).map((t) => [t.flood, t.firstOut])).toEqual([
      [true, out[0]!.alarmId],
      [true, out[0]!.alarmId],
    ]);
    expect(engine.kpis()).toMatchObject({ floodActive: true, floods: 1, alarmsLast10Min: 12 });
    clock.set(T0 + 11 * 60_000);
    engine.tick();
    const kpis = engine.kpis();
    expect(kpis.floodActive).toBe(false);
    expect(kpis.timeInFloodMs).toBe(600_000);
    expect(kpis.alarmsLast10Min).toBe(0);
    expect(kpis.alarmsPer10MinAverage).toBeCloseTo(12 / 1.1, 1);
  });

  it('counts chattering alarms (3 raises in 60 s) and stale alarms (standing > 24 h)', () => {
    const clock = new ManualClock(T0);
    const engine = engineWith(methaneRuleFile(), clock);
    for (let i = 0; i < 3; i++) {
      engine.evaluate([reading('GT-101', 25, T0 + i * 10_000)]);
      const cleared = engine.evaluate([reading('GT-101', 0, T0 + i * 10_000 + 5000)]);
      expect(cleared).toHaveLength(1);
    }
    const third = engine.evaluate([reading('GT-101', 25, T0 + 40_000)]);
    expect(third[0]?.chattering).toBe(true);
    expect(engine.kpis().chatteringAlarms).toBe(1);
    clock.set(T0 + 25 * 3_600_000);
    expect(engine.kpis()).toMatchObject({ staleAlarms: 1, chatteringAlarms: 0, activeAlarms: 1 });
  });
});

describe('hot reload (RuleRuntime)', () => {
  const write = (name: string, text: string) => {
    const file = join(dir, name);
    writeFileSync(file, text);
    return file;
  };

  it('swaps in new rules without losing alarm state, and closes alarms of removed rules', () => {
    const file = write('plant.yaml', methaneRuleFile());
    const clock = new ManualClock(T0);
    const runtime = new RuleRuntime({ files: [file], sensors: demoSensors(), clock });
    const [raised] = runtime.engine.evaluate([reading('GT-101', 25, T0)]);
    runtime.engine.acknowledge('GT-101-gas.level1', 'op-zhang');
    write(
      'plant.yaml',
      `${methaneRuleFile().replace('level1: 20', 'level1: 15')}  - { id: TT-201-t, sensor: TT-201, type: threshold, limits: [{ name: H, level: 1, direction: high, setpoint: 60, deadband: 1 }] }\n`,
    );
    const result = runtime.reload();
    expect(result).toMatchObject({ ok: true, rules: 2, transitions: [] });
    expect(runtime.engine.active().map((a) => `${a.alarmId} ${a.state}`)).toEqual([
      `${raised!.alarmId} acknowledged`,
    ]);
    // The new setpoint is in force: 16 %LEL keeps level 1 (15 - 2 deadband = 13 clears).
    expect(runtime.engine.evaluate([reading('GT-101', 16, T0 + 1000)])).toEqual([]);

    write('plant.yaml', 'version: 1\nrules: []\n');
    const removed = runtime.reload();
    expect(removed.ok && removed.transitions.map((t) => `${t.transition} ${t.alarmId}`)).toEqual([
      `cleared ${raised!.alarmId}`,
    ]);
  });

  it('refuses a bad rule file on reload, keeps the old rules running and says why', () => {
    const file = write('plant.yaml', methaneRuleFile());
    const clock = new ManualClock(T0);
    const runtime = new RuleRuntime({ files: [file], sensors: demoSensors(), clock });
    write('plant.yaml', methaneRuleFile().replace('level1: 20', 'level1: 30'));
    const result = runtime.reload();
    expect(result.ok).toBe(false);
    expect(!result.ok && result.problems).toEqual([
      `${file}:8:13 rules[0].level1: level1 30 %LEL is above the 25 %LEL maximum of GB/T 50493-2019 §5.5.3 item 1 (add a justification to deviate)`,
    ]);
    // Old rules (level 1 at 20 %LEL) still in force.
    expect(runtime.engine.evaluate([reading('GT-101', 22, T0)])).toHaveLength(1);
    expect(existsSync(file)).toBe(true);
  });
});

describe('voting state across a restart', () => {
  it('keeps the votes of a raised 2oo3, so one detector reporting first does not clear it', () => {
    const text = `version: 1
rules:
  - { id: hall-2oo3, type: vote, sensors: [GT-101, GT-102, GT-103], k: 2, setpoint: 20, deadband: 2 }
`;
    const store = new MemoryAlarmStateStore();
    const clock = new ManualClock(T0);
    const before = engineWith(text, clock, store);
    const [vote] = before.evaluate([reading('GT-101', 25, T0), reading('GT-102', 25, T0)]);
    expect(before.active()).toHaveLength(1);
    const after = engineWith(text, clock, store);
    expect(after.evaluate([reading('GT-101', 25, T0 + 1000)])).toEqual([]);
    expect(after.evaluate([reading('GT-102', 5, T0 + 2000)])).toMatchObject([
      { transition: 'cleared', alarmId: vote!.alarmId },
    ]);
  });
});

describe('a failing state store', () => {
  it('never stops alarms: the transitions still come out', () => {
    const store: AlarmStateStore = {
      load: () => undefined,
      save: () => {
        throw new Error('EIO: disk full');
      },
    };
    const engine = engineWith(methaneRuleFile(), new ManualClock(T0), store);
    expect(engine.evaluate([reading('GT-101', 45, T0)])).toHaveLength(2);
  });
});
