/**
 * Property-based tests of the engine's ordering and clock invariants (issue 12),
 * with fast-check: for any interleaving of readings, late readings, clock steps,
 * ticks and shelving, the engine decides exactly what it decides without the
 * misbehaviour.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { rootLogger } from '../../common/logger.js';
import { AlarmEngine, compileRuleSet, type EdgeAlarmTransition } from '../../edge/engine/index.js';
import { loadRuleSources } from '../../edge/rule-loader.js';
import { demoSensors } from './fixtures.js';

const T0 = Date.UTC(2026, 0, 1, 8, 0, 0);

/** Delays, deadband, stale and stuck: every duration the engine measures on one sensor. */
const RULES = `version: 1
rules:
  - { id: GT-101-gas, sensor: GT-101, type: gas, gas: methane, measure: LEL, level1: 20, level2: 40, deadband: 2, onDelayMs: 2000, offDelayMs: 3000 }
  - { id: GT-101-stale, sensor: GT-101, type: stale, timeoutMs: 10000 }
  - { id: GT-101-stuck, sensor: GT-101, type: stuck, durationMs: 20000 }
  - { id: TT-201-t, sensor: TT-201, type: threshold, limits: [{ name: H, level: 1, direction: high, setpoint: 60, deadband: 1, onDelayMs: 1500 }] }
`;

function newEngine() {
  rootLogger.level = 'silent';
  const compiled = compileRuleSet(
    loadRuleSources([{ file: 'p.yaml', text: RULES }]),
    demoSensors(),
  );
  const clock = new ManualClock(T0);
  return { engine: new AlarmEngine(compiled, { clock }), clock };
}

/** Transitions with occurrence ids renamed `<key>#<n>` (ids carry a random part) and no times. */
function normalise(transitions: readonly EdgeAlarmTransition[]): string[] {
  const names = new Map<string, string>();
  const perKey = new Map<string, number>();
  const name = (id: string, ruleId: string) => {
    let n = names.get(id);
    if (n === undefined) {
      const rest = id.slice(ruleId.length + 1);
      const cut = rest.indexOf('.');
      if (cut < 0) return id; // a point key
      const key = `${ruleId}.${rest.slice(0, cut)}`;
      const count = (perKey.get(key) ?? 0) + 1;
      perKey.set(key, count);
      n = `${key}#${count}`;
      names.set(id, n);
    }
    return n;
  };
  return transitions.map(
    (t) => `${t.transition} ${name(t.alarmId, t.ruleId)} ${String(t.value)} ${t.state}`,
  );
}

const sensorArb = fc.constantFrom('GT-101', 'TT-201');
const valueArb = fc.oneof(fc.integer({ min: 0, max: 60 }), fc.constantFrom(18, 19, 21, 41, 59, 61));

type Op =
  | { kind: 'reading'; dt: number; sensor: string; value: number }
  | { kind: 'late'; sensor: string; value: number; back: number }
  | { kind: 'tick'; dt: number }
  | { kind: 'step'; ms: number }
  | { kind: 'shelve'; durationMs: number };

const readingOp = fc.record({
  kind: fc.constant('reading' as const),
  dt: fc.integer({ min: 0, max: 4000 }),
  sensor: sensorArb,
  value: valueArb,
});
const tickOp = fc.record({
  kind: fc.constant('tick' as const),
  dt: fc.integer({ min: 1, max: 15000 }),
});
const lateOp = fc.record({
  kind: fc.constant('late' as const),
  sensor: sensorArb,
  value: valueArb,
  back: fc.integer({ min: 0, max: 60_000 }),
});
const hour = 3_600_000;
const stepOp = fc.record({
  kind: fc.constant('step' as const),
  ms: fc.oneof(
    fc.integer({ min: 3000, max: 10 * hour }),
    fc.integer({ min: -10 * hour, max: -3000 }),
  ),
});
const shelveOp = fc.record({
  kind: fc.constant('shelve' as const),
  durationMs: fc.integer({ min: 1000, max: 120_000 }),
});

/** Runs ops on a fresh engine; `skip` decides which ops this run leaves out. */
function run(ops: readonly Op[], skip: (op: Op) => boolean, applySteps = true) {
  const { engine, clock } = newEngine();
  const out: EdgeAlarmTransition[] = [];
  const newest = new Map<string, number>();
  let late = 0;
  for (const op of ops) {
    if (skip(op)) continue;
    switch (op.kind) {
      case 'reading': {
        clock.advance(op.dt);
        const ts = clock.now();
        newest.set(op.sensor, Math.max(ts, newest.get(op.sensor) ?? ts));
        out.push(
          ...engine.evaluate([{ sensorId: op.sensor, value: op.value, quality: 'good', ts }]),
        );
        break;
      }
      case 'late': {
        // Stamped at or before the newest reading already fed for this sensor.
        const last = newest.get(op.sensor);
        if (last === undefined) break;
        const ts = last - op.back;
        late++;
        out.push(
          ...engine.evaluate([{ sensorId: op.sensor, value: op.value, quality: 'good', ts }]),
        );
        break;
      }
      case 'tick':
        clock.advance(op.dt);
        out.push(...engine.tick());
        break;
      case 'step':
        if (applySteps) clock.step(op.ms);
        out.push(...engine.tick()); // the same tick in both runs
        break;
      case 'shelve':
        out.push(...engine.shelve('GT-101-gas.level1', 'op', { durationMs: op.durationMs }));
        break;
    }
  }
  return { transitions: normalise(out), engine, late };
}

describe('ordering and clock invariants (fast-check)', () => {
  it('for any interleaving of readings and late readings, a reading not newer than its sensor’s newest changes nothing', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(readingOp, readingOp, lateOp, tickOp, shelveOp), { maxLength: 60 }),
        (ops) => {
          const all = run(ops, () => false);
          const withoutLate = run(ops, (op) => op.kind === 'late');
          expect(all.transitions).toEqual(withoutLate.transitions);
          const fedLate = ops.filter((op) => op.kind === 'late').length;
          expect(all.engine.counters().outOfOrder).toBeLessThanOrEqual(fedLate + ops.length);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('for any interleaving of readings and wall-clock steps of either sign, every duration is as without the steps', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(readingOp, readingOp, tickOp, stepOp, shelveOp), { maxLength: 60 }),
        (ops) => {
          const stepped = run(ops, () => false);
          const steady = run(ops, () => false, false);
          expect(stepped.transitions).toEqual(steady.transitions);
          expect(stepped.engine.counters().clockSteps).toBe(
            ops.filter((op) => op.kind === 'step').length,
          );
          expect(stepped.engine.counters().outOfOrder).toBe(steady.engine.counters().outOfOrder);
        },
      ),
      { numRuns: 200 },
    );
  });
});
