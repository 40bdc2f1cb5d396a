/**
 * Edge rule evaluation speed (issue 4).
 *
 *   rules.evals_per_s_per_core   readings evaluated per second on one core, realistic rule mix
 *                                (gas, oxygen, threshold, rate of rise, stale, fault, vote,
 *                                combination, windowed average) with full alarm state; target >= 2e6
 *   rules.ceiling_ratio          a bare compare loop over the same readings (Map lookup of the
 *                                sensor's setpoints + one compare per limit, no state) in the same
 *                                run ÷ our rate; aim < 5
 *   rules.batch1000_ms_p99       p99 time to evaluate one batch of 1,000 readings; target < 1 ms
 *   rules.flood_lost             alarm transitions lost in a flood of 100 transitions/s for 60 s of
 *                                simulated time (ManualClock), through the hot-reload runtime with
 *                                a file-backed state store; must be 0
 *   rules.reload_stall_ms_max    longest gap between two evaluations of a steady stream of readings
 *                                while a 20,000-rule set reloads (RuleRuntime.reloadInBackground:
 *                                worker-thread parse, stepped compile and build, one-step swap);
 *                                target < 20 ms (issue 12)
 *
 * The engine is single-threaded, so the per-core rate is the measured rate.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { ManualClock, systemClock } from '../common/clock.js';
import { rootLogger } from '../common/logger.js';
import { CONDITION_TYPE_NAMES } from '../edge/conditions/index.js';
import { AlarmEngine, compileRuleSet } from '../edge/engine/index.js';
import { loadRuleSources } from '../edge/rule-loader.js';
import { RuleRuntime } from '../edge/rule-runtime.js';
import { FileAlarmStateStore } from '../edge/state-store.js';
import type { Reading, SensorInfo } from '../protocol/index.js';
import { type Benchmark, type Metric, percentile, round } from './metric.js';

const T0 = Date.UTC(2026, 0, 1, 8, 0, 0);

interface Plant {
  sensors: Map<string, SensorInfo>;
  yaml: string;
  /** Setpoints per sensor, for the bare compare loop. */
  setpoints: Map<string, number[]>;
}

/** A plant of `groups` × 10 sensors with a realistic rule mix. */
export function buildPlant(groups: number): Plant {
  const sensors = new Map<string, SensorInfo>();
  const setpoints = new Map<string, number[]>();
  const rules: string[] = [];
  const add = (sensor: SensorInfo, sp: number[]) => {
    sensors.set(sensor.sensorId, sensor);
    setpoints.set(sensor.sensorId, sp);
  };
  for (let g = 0; g < groups; g++) {
    const ch4 = ['a', 'b', 'c'].map((s) => `GT-${g}${s}`);
    for (const id of ch4) {
      add(
        {
          sensorId: id,
          name: id,
          kind: 'gas',
          unit: '%LEL',
          gas: 'methane',
          rangeMin: 0,
          rangeMax: 100,
        },
        [20, 40],
      );
      rules.push(
        `  - { id: ${id}-gas, sensor: ${id}, type: gas, gas: methane, measure: LEL, level1: 20, level2: 40, deadband: 2, onDelayMs: 500 }`,
      );
    }
    // 2oo3 vote over the three methane heads, and "level 1 and fan stopped".
    rules.push(
      `  - { id: G${g}-vote, sensors: [${ch4.join(', ')}], type: vote, k: 2, setpoint: 20, deadband: 2, level: 2 }`,
    );
    const fan = `FAN-${g}`;
    add({ sensorId: fan, name: fan, kind: 'status', unit: 'state' }, [0.5]);
    rules.push(
      `  - { id: G${g}-novent, sensor: ${ch4[0]}, type: combination, level: 2, all: [{ alarm: ${ch4[0]}-gas.level1 }, { sensor: ${fan}, below: 0.5 }] }`,
    );
    const h2s = `AT-${g}`;
    add(
      {
        sensorId: h2s,
        name: h2s,
        kind: 'gas',
        unit: 'ppm',
        gas: 'H2S',
        rangeMin: 0,
        rangeMax: 100,
      },
      [5, 10],
    );
    rules.push(
      `  - { id: ${h2s}-gas, sensor: ${h2s}, type: gas, gas: H2S, measure: ppm, level1: 5, level2: 10, deadband: 1 }`,
      `  - { id: ${h2s}-fault, sensor: ${h2s}, type: fault }`,
      `  - { id: ${h2s}-stale, sensor: ${h2s}, type: stale, timeoutMs: 30000 }`,
    );
    const o2 = `OT-${g}`;
    add(
      {
        sensorId: o2,
        name: o2,
        kind: 'oxygen',
        unit: '%VOL',
        gas: 'oxygen',
        rangeMin: 0,
        rangeMax: 25,
      },
      [19.5, 23.5],
    );
    rules.push(`  - { id: ${o2}-o2, sensor: ${o2}, type: oxygen }`);
    const tt = `TT-${g}`;
    add(
      { sensorId: tt, name: tt, kind: 'temperature', unit: '°C', rangeMin: -40, rangeMax: 200 },
      [60, 80],
    );
    rules.push(
      `  - { id: ${tt}-t, sensor: ${tt}, type: threshold, limits: [{ name: H, level: 1, direction: high, setpoint: 60, deadband: 1 }, { name: HH, level: 2, direction: high, setpoint: 80, deadband: 1 }] }`,
      `  - { id: ${tt}-ror, sensor: ${tt}, type: rate, rise: 10, per: min, windowMs: 60000, deadband: 1, level: 1 }`,
    );
    const pt = `PT-${g}`;
    add(
      { sensorId: pt, name: pt, kind: 'pressure', unit: 'MPa', rangeMin: 0, rangeMax: 2.5 },
      [1.2, 1.5],
    );
    rules.push(
      `  - { id: ${pt}-p, sensor: ${pt}, type: threshold, limits: [{ name: H, level: 1, direction: high, setpoint: 1.2, deadband: 0.02 }, { name: HH, level: 2, direction: high, setpoint: 1.5, deadband: 0.02 }] }`,
      `  - { id: ${pt}-avg, sensor: ${pt}, type: window, function: average, windowMs: 60000, setpoint: 1.1, deadband: 0.02, level: 1 }`,
    );
    const lt = `LT-${g}`;
    add(
      { sensorId: lt, name: lt, kind: 'level', unit: '%', rangeMin: 0, rangeMax: 100 },
      [85, 95, 10],
    );
    rules.push(
      `  - { id: ${lt}-l, sensor: ${lt}, type: threshold, limits: [{ name: H, level: 1, direction: high, setpoint: 85, deadband: 1 }, { name: HH, level: 2, direction: high, setpoint: 95, deadband: 1 }, { name: L, level: 1, direction: low, setpoint: 10, deadband: 1 }] }`,
    );
  }
  // Only condition types this build registers (the mix grows with the engine).
  const known = rules.filter((line) => {
    const type = /type: (\w+)/.exec(line)?.[1];
    return type !== undefined && CONDITION_TYPE_NAMES.includes(type);
  });
  return { sensors, setpoints, yaml: `version: 1\nrules:\n${known.join('\n')}\n` };
}

/**
 * Readings for `count` samples round-robin over the sensors: values wander around normal with
 * about 5 % of the sensors standing in alarm (full alarm state), plus occasional bad quality.
 */
export function buildReadings(plant: Plant, count: number, startTs: number): Reading[] {
  const ids = [...plant.sensors.keys()];
  const out: Reading[] = [];
  let seed = 12345;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  for (let i = 0; i < count; i++) {
    const id = ids[i % ids.length]!;
    const sp = plant.setpoints.get(id)!;
    const inAlarm = (i % ids.length) % 20 === 0; // every 20th sensor stands in alarm
    const base = id.startsWith('OT-') ? 20.9 : id.startsWith('FAN-') ? 1 : sp[0]! * 0.3;
    const value = inAlarm ? sp[0]! * 1.2 + rnd() : base + rnd() * 0.5;
    const bad = rnd() < 0.001;
    out.push({
      sensorId: id,
      value: bad ? null : value,
      quality: bad ? 'bad' : 'good',
      ...(bad ? { reason: 'ne43 fault low' } : {}),
      ts: startTs + Math.floor(i / ids.length) * 1000,
    });
  }
  return out;
}

function bareLoop(setpoints: Map<string, number[]>, readings: readonly Reading[]): number {
  let hits = 0;
  for (let i = 0; i < readings.length; i++) {
    const r = readings[i]!;
    const sp = setpoints.get(r.sensorId);
    if (sp === undefined || typeof r.value !== 'number') continue;
    for (let j = 0; j < sp.length; j++) if (r.value >= sp[j]!) hits++;
  }
  return hits;
}

async function* run(): AsyncIterable<Metric> {
  rootLogger.level = 'silent';
  const plant = buildPlant(100); // 1,100 sensors
  const ruleSet = loadRuleSources([{ file: 'bench.yaml', text: plant.yaml }]);
  const compiled = compileRuleSet(ruleSet, plant.sensors);
  const clock = new ManualClock(T0);
  const engine = new AlarmEngine(compiled, { clock });
  // The bare loop compares each reading once per limit the engine evaluates for its sensor.
  const bareSetpoints = new Map(
    [...compiled.limitsBySensor].map(([id, limits]) => [id, limits.map((l) => l.setpoint)]),
  );
  const batchSize = 1000;
  const batches: Reading[][] = [];
  const all = buildReadings(plant, 200 * batchSize, T0);
  for (let i = 0; i < all.length; i += batchSize) batches.push(all.slice(i, i + batchSize));
  // Each pass over the readings covers `passMs` of plant time; the next pass moves every
  // timestamp on by that much (outside the timed region), so time only goes forward.
  const passMs = Math.ceil(all.length / plant.sensors.size) * 1000;
  const nextPass = () => {
    for (const r of all) r.ts += passMs;
    clock.advance(passMs);
  };
  let transitions = 0;
  // Warm up (JIT) and bring the alarm state to steady state.
  for (let rep = 0; rep < 3; rep++) {
    for (const b of batches) engine.evaluate(b);
    nextPass();
  }
  const durations: number[] = [];
  let evaluated = 0;
  let bareEvaluated = 0;
  let oursNs = 0n;
  let bareNs = 0n;
  let sink = 0;
  const deadline = performance.now() + 4000; // 4 s of alternating runs
  while (performance.now() < deadline) {
    for (const batch of batches) {
      const t = process.hrtime.bigint();
      const n = engine.evaluate(batch).length;
      const dt = process.hrtime.bigint() - t;
      transitions += n;
      oursNs += dt;
      durations.push(Number(dt) / 1e6);
      evaluated += batch.length;
    }
    engine.tick();
    nextPass();
    const t = process.hrtime.bigint();
    for (const batch of batches) sink += bareLoop(bareSetpoints, batch);
    bareNs += process.hrtime.bigint() - t;
    bareEvaluated += all.length;
  }
  const ours = evaluated / (Number(oursNs) / 1e9);
  const bare = bareEvaluated / (Number(bareNs) / 1e9);
  durations.sort((a, b) => a - b);
  const context = {
    sensors: plant.sensors.size,
    rules: ruleSet.rules.length,
    limits: compiled.limitCount,
    activeAlarms: engine.active().length,
    transitionsPerPass: Math.round(transitions / (evaluated / all.length)),
    readingsPerPass: all.length,
  };
  yield {
    metric: 'rules.evals_per_s_per_core',
    value: Math.round(ours),
    unit: 'readings/s',
    target: '>= 2000000',
    ...context,
  };
  yield {
    metric: 'rules.ceiling_ratio',
    value: round(bare / ours, 2),
    unit: 'ratio',
    bareRate: Math.round(bare),
    sink,
    aim: '< 5',
    bare: 'Map lookup of the sensor setpoints + one compare per limit, no state',
  };
  yield {
    metric: 'rules.batch1000_ms_p99',
    value: round(percentile(durations, 99), 4),
    unit: 'ms',
    p50: round(percentile(durations, 50), 4),
    batches: durations.length,
    target: '< 1',
  };
  yield* floodLost();
  yield* reloadStall();
}

/**
 * 100 alarm transitions per second for 60 s of simulated time: 100 sensors, each crossing its
 * setpoint once a second (raise, then clear the next second), fed in 100 ms batches through
 * the RuleRuntime with a file-backed state store (fsync on every batch with transitions), with
 * a hot reload in the middle. Lost = expected transitions (counted independently from the
 * input) - transitions the engine emitted, plus raises never matched by their clear.
 */
async function* floodLost(): AsyncIterable<Metric> {
  const dir = mkdtempSync(join(tmpdir(), 'hw-rules-bench-'));
  try {
    const sensorCount = 100;
    const sensors = new Map<string, SensorInfo>();
    const lines: string[] = [];
    for (let i = 0; i < sensorCount; i++) {
      const id = `TT-${i}`;
      sensors.set(id, { sensorId: id, name: id, kind: 'temperature', unit: '°C' });
      lines.push(
        `  - { id: ${id}-t, sensor: ${id}, type: threshold, limits: [{ name: H, level: 1, direction: high, setpoint: 60, deadband: 1 }] }`,
      );
    }
    const file = join(dir, 'flood.yaml');
    writeFileSync(file, `version: 1\nrules:\n${lines.join('\n')}\n`);
    const clock = new ManualClock(T0);
    const store = new FileAlarmStateStore(join(dir, 'alarms.json'));
    const runtime = new RuleRuntime({ files: [file], sensors, clock, store });
    const seconds = 60;
    let expected = 0;
    let emitted = 0;
    const open = new Set<string>();
    let unmatched = 0;
    const started = performance.now();
    const hot = new Array<boolean>(sensorCount).fill(false);
    for (let tenth = 0; tenth < seconds * 10; tenth++) {
      const ts = T0 + tenth * 100;
      clock.set(ts);
      const batch: Reading[] = [];
      for (let k = 0; k < sensorCount / 10; k++) {
        const i = (tenth % 10) * (sensorCount / 10) + k; // each sensor once a second
        hot[i] = !hot[i];
        expected++;
        batch.push({ sensorId: `TT-${i}`, value: hot[i] ? 80 : 20, quality: 'good', ts });
      }
      if (tenth === seconds * 5) {
        const reload = runtime.reload();
        if (!reload.ok) throw reload.error;
      }
      for (const t of [...runtime.engine.evaluate(batch), ...runtime.engine.tick()]) {
        emitted++;
        if (t.transition === 'raised') open.add(t.alarmId);
        else if (t.transition === 'cleared' && !open.delete(t.alarmId)) unmatched++;
      }
    }
    const ms = performance.now() - started;
    const stillActive = runtime.engine.active().length;
    const persisted = Object.values(store.load()?.points ?? {}).filter((p) => p.active).length;
    const kpis = runtime.engine.kpis();
    yield {
      metric: 'rules.flood_lost',
      value: Math.max(0, expected - emitted) + unmatched + Math.abs(open.size - stillActive),
      unit: 'transitions',
      expected,
      emitted,
      rate: '100 transitions/s',
      simulatedS: seconds,
      wallMs: Math.round(ms),
      persistedActive: persisted,
      engineActive: stillActive,
      floodKpi: { floods: kpis.floods, timeInFloodMs: kpis.timeInFloodMs },
      target: '0',
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A 20,000-rule set (the loader's default maximum, split over files under its 2 MB per-file
 * bound) reloads in the background while readings stream in: one batch of 100 readings per
 * event-loop turn, each gap between two batches measured with performance.now().
 */
export async function* reloadStall(): AsyncIterable<Metric> {
  const dir = mkdtempSync(join(tmpdir(), 'hw-rules-reload-'));
  try {
    const plant = buildPlant(1428); // 14 rules per group: 19,992 rules
    const lines = plant.yaml.split('\n').filter((l) => l.startsWith('  - '));
    const files: string[] = [];
    for (let i = 0; i < lines.length; i += 5000) {
      const file = join(dir, `plant-${files.length}.yaml`);
      writeFileSync(file, `version: 1\nrules:\n${lines.slice(i, i + 5000).join('\n')}\n`);
      files.push(file);
    }
    const startedLoad = performance.now();
    const runtime = new RuleRuntime({ files, sensors: plant.sensors, clock: systemClock });
    const loadMs = performance.now() - startedLoad;
    const ids = [...plant.sensors.keys()];
    let next = 0;
    const batch = (): Reading[] => {
      const ts = Date.now();
      const out: Reading[] = [];
      for (let k = 0; k < 100; k++) {
        const id = ids[next++ % ids.length]!;
        out.push({ sensorId: id, value: id.startsWith('OT-') ? 20.9 : 1, quality: 'good', ts });
      }
      return out;
    };
    // Warm up the stream, then measure gaps with and without a reload running.
    const gaps = async (until: () => boolean) => {
      let last = performance.now();
      let max = 0;
      let batches = 0;
      while (!until()) {
        runtime.engine.evaluate(batch());
        const now = performance.now();
        max = Math.max(max, now - last);
        last = now;
        batches++;
        await nextTurn();
      }
      return { max, batches };
    };
    const quietUntil = performance.now() + 1000;
    const quiet = await gaps(() => performance.now() > quietUntil);
    let done = false;
    const started = performance.now();
    const reload = runtime.reloadInBackground().finally(() => {
      done = true;
    });
    const during = await gaps(() => done);
    const result = await reload;
    if (!result.ok) throw result.error;
    yield {
      metric: 'rules.reload_stall_ms_max',
      value: round(during.max, 2),
      unit: 'ms',
      rules: result.rules,
      files: files.length,
      limits: runtime.compiled.limitCount,
      reloadMs: Math.round(performance.now() - started),
      batchesDuringReload: during.batches,
      readingsPerBatch: 100,
      quietGapMsMax: round(quiet.max, 2),
      initialLoadMs: Math.round(loadMs),
      target: '< 20',
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const bench: Benchmark = { name: 'rules', run };
export default bench;
