/**
 * Alarm state stores: the shared suite every store passes, and what the file
 * store does with a file it cannot trust (issue 12 persistence, issue 13 item 4).
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { rootLogger } from '../../common/logger.js';
import { AlarmEngine, compileRuleSet } from '../../edge/engine/index.js';
import { loadRuleSources } from '../../edge/rule-loader.js';
import {
  type AlarmStateStore,
  FileAlarmStateStore,
  MemoryAlarmStateStore,
  type StateLoadProblem,
} from '../../edge/state-store.js';
import type { Reading } from '../../protocol/index.js';
import { demoSensors, methaneRuleFile } from './fixtures.js';

const T0 = Date.UTC(2026, 0, 1, 8, 0, 0);
const gas = (value: number, ts: number): Reading => ({
  sensorId: 'GT-101',
  value,
  quality: 'good',
  ts,
});

let dir: string;
beforeEach(() => {
  rootLogger.level = 'silent';
  dir = mkdtempSync(join(tmpdir(), 'hw-edge-state-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function engineWith(clock: ManualClock, store: AlarmStateStore) {
  const compiled = compileRuleSet(
    loadRuleSources([{ file: 'r.yaml', text: methaneRuleFile() }]),
    demoSensors(),
  );
  return new AlarmEngine(compiled, { clock, store });
}

describe('alarm state store (shared suite: every store must pass)', () => {
  const stores: [string, () => AlarmStateStore][] = [
    ['memory', () => new MemoryAlarmStateStore()],
    ['file', () => new FileAlarmStateStore(join(dir, 'state', 'alarms.json'))],
  ];
  for (const [name, make] of stores) {
    it(`${name}: loads nothing before the first save, then exactly what was saved`, () => {
      const store = make();
      expect(store.load()).toBeUndefined();
      const engine = engineWith(new ManualClock(T0), store);
      const [, level2] = engine.evaluate([gas(45, T0)]);
      expect(store.load()?.points['GT-101-gas.level2']).toMatchObject({
        active: true,
        alarmId: level2!.alarmId,
        acked: false,
      });
      expect(store.loadProblem).toBeUndefined();
    });
  }
});

describe('file store: a file it cannot trust', () => {
  it('writes atomically: no temp file left behind', () => {
    const path = join(dir, 'alarms.json');
    engineWith(new ManualClock(T0), new FileAlarmStateStore(path)).evaluate([gas(25, T0)]);
    expect(readdirSync(dir)).toEqual(['alarms.json']);
    expect(JSON.parse(readFileSync(path, 'utf8')).version).toBe(1);
  });

  it('moves a garbled file aside for forensics, names it, reports it and lets the engine start fresh', () => {
    const path = join(dir, 'alarms.json');
    writeFileSync(path, '{"version":1,"poi');
    const problems: StateLoadProblem[] = [];
    const store = new FileAlarmStateStore(path, {
      onLoadProblem: (p) => problems.push(p),
      now: () => T0,
    });
    const engine = engineWith(new ManualClock(T0), store);
    const aside = `${path}.corrupt-2026-01-01T08-00-00-000Z`;
    expect(store.loadProblem).toMatchObject({ kind: 'corrupt', path, movedTo: aside });
    expect(store.loadProblem?.message).toContain(`alarm state file '${path}' is not valid JSON`);
    expect(problems).toEqual([store.loadProblem]);
    expect(readFileSync(aside, 'utf8')).toBe('{"version":1,"poi');
    expect(existsSync(path)).toBe(false);
    // Alarms run; the next save writes a good file.
    expect(engine.evaluate([gas(25, T0)])).toHaveLength(1);
    expect(new FileAlarmStateStore(path).load()?.points['GT-101-gas.level1']?.active).toBe(true);
  });

  it('moves aside a file of valid JSON with an invalid envelope, saying what is wrong', () => {
    const path = join(dir, 'alarms.json');
    writeFileSync(path, JSON.stringify({ version: 2, points: [] }));
    const store = new FileAlarmStateStore(path);
    expect(store.load()).toBeUndefined();
    expect(store.loadProblem?.kind).toBe('corrupt');
    expect(store.loadProblem?.message).toContain('state.version: must be equal to constant');
    expect(readdirSync(dir).some((f) => f.startsWith('alarms.json.corrupt-'))).toBe(true);
  });

  it('drops invalid points one by one and keeps the valid ones', () => {
    const path = join(dir, 'alarms.json');
    const store = new FileAlarmStateStore(path);
    engineWith(new ManualClock(T0), store).evaluate([gas(45, T0)]);
    const saved = JSON.parse(readFileSync(path, 'utf8'));
    saved.points['GT-101-gas.level1'].acked = 'yes';
    saved.points['GT-101-gas.level2'].shelve = 'forever';
    saved.points['GT-101-gas.level9'] = { ...saved.points['GT-101-gas.level2'], shelve: 'none' };
    writeFileSync(path, JSON.stringify(saved));
    const loaded = store.load();
    expect(Object.keys(loaded?.points ?? {})).toEqual(['GT-101-gas.level9']);
    expect(store.loadProblem).toMatchObject({
      kind: 'invalid-points',
      dropped: ['GT-101-gas.level1', 'GT-101-gas.level2'],
    });
    expect(existsSync(path)).toBe(true); // partly valid: kept in place
  });

  it('reads a state file written before issue 12 (lastIdTs, x, usable)', () => {
    const path = join(dir, 'alarms.json');
    const point = {
      active: true,
      alarmId: `GT-101-gas.level1.${T0}`,
      raisedAt: T0,
      raisedValue: 25,
      lastIdTs: T0,
      open: true,
      acked: false,
      ackedBy: '',
      latchedWaiting: false,
      shelve: 'none',
      shelvedUntil: 0,
      shelvedBy: '',
      suppressed: false,
      outOfService: false,
      overrideBy: '',
      x: 25,
      usable: true,
    };
    writeFileSync(
      path,
      JSON.stringify({ version: 1, savedAt: T0, points: { 'GT-101-gas.level1': point } }),
    );
    const engine = engineWith(new ManualClock(T0), new FileAlarmStateStore(path));
    expect(engine.active().map((a) => a.alarmId)).toEqual([`GT-101-gas.level1.${T0}`]);
  });
});
