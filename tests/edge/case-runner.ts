/**
 * Runs one fixture folder of tests/edge/cases/ (eKuiper/Telegraf style: behaviour
 * as data). A folder holds rules.yaml and either
 *   readings.json + expected.json  — steps fed through AlarmEngine on a ManualClock
 *   errors.json                    — the exact problem lines loading/compiling must report
 * and optionally sensors.json (default: cases/sensors.json, the demo plant catalogue).
 *
 * readings.json: { "options"?: { "drill"?: boolean }, "steps": Step[] } where a step is
 *   { "t": ms, "sensor": id, "value": number|null|"NaN"|"Infinity"|"-Infinity",
 *     "quality"?: "good"|"uncertain"|"bad", "ts"?: ms }   ts: the reading's own time (late,
 *                                                       or a device clock far off), else the wall time
 *   { "t": ms, "readings": [{ "sensor", "value", "quality"? }, ...] }   one batch
 *   { "t": ms, "tick": true }                                           clock-only re-check
 *   { "t": ms, "command": "acknowledge"|"shelve"|"unshelve"|"suppress"|"unsuppress"|
 *     "removeFromService"|"returnToService", "alarm": "<ruleId>.<limit>", "by": "op",
 *     "durationMs"?: n, "oneShot"?: true }                             an operator command
 *   { "t": ms, "clockStep": ms }                                      the wall clock steps (NTP, an
 *                                                                     operator) while no time passes
 * t is ms of real (monotonic) time after the case start; the wall clock shows the case
 * start + t + every clock step so far, and readings are stamped with it.
 *
 * expected.json: { "transitions": Compact[], "active": string[] } with a transition as
 *   { "step", "t", "alarm": "<ruleId>.<limit>@<raised t>", "transition", "level", "value", "setpoint" }
 * plus "drill": true when tagged; "active" lists the alarms raised at the end.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ManualClock } from '../../common/clock.js';
import { AlarmEngine, compileRuleSet, type EdgeAlarmTransition } from '../../edge/engine/index.js';
import { formatProblem, loadRuleFiles, RuleFileError } from '../../edge/rule-loader.js';
import type { Quality, Reading, SensorInfo } from '../../protocol/index.js';

export const CASE_START = Date.UTC(2026, 0, 1, 8, 0, 0);

interface StepReading {
  sensor: string;
  value: number | boolean | null | 'NaN' | 'Infinity' | '-Infinity';
  quality?: Quality;
  reason?: string;
  /** The reading's own time, ms after the case start (default: the wall time of the step). */
  ts?: number;
}
interface CommandStep {
  t: number;
  command:
    | 'acknowledge'
    | 'shelve'
    | 'unshelve'
    | 'suppress'
    | 'unsuppress'
    | 'removeFromService'
    | 'returnToService';
  alarm: string;
  by?: string;
  durationMs?: number;
  oneShot?: true;
}
type Step =
  | ({ t: number } & StepReading)
  | { t: number; readings: StepReading[] }
  | { t: number; tick: true }
  | { t: number; clockStep: number }
  | CommandStep;

export interface CompactTransition {
  step: number;
  t: number;
  alarm: string;
  transition: string;
  level: 1 | 2;
  value: number | null;
  setpoint: number;
  drill?: true;
  state?: string;
  flood?: true;
  firstOut?: string;
  chattering?: true;
  acknowledgedBy?: string;
}

export interface CaseOutcome {
  transitions: CompactTransition[];
  active: string[];
}

const readJson = <T>(file: string): T => JSON.parse(readFileSync(file, 'utf8')) as T;

export function sensorsFor(caseDir: string, casesRoot: string): Map<string, SensorInfo> {
  const own = join(caseDir, 'sensors.json');
  const list = readJson<SensorInfo[]>(existsSync(own) ? own : join(casesRoot, 'sensors.json'));
  return new Map(list.map((sensor) => [sensor.sensorId, sensor]));
}

/**
 * Occurrence ids are opaque (`<key>.<gateway>-<random>-<n>`): the runner names each
 * by its point key and the time of its 'raised' (`GT-101-gas.level1@1000`), so
 * expected.json stays readable and stable.
 */
type RaiseTimes = Map<string, number>;

function compactAlarmId(alarmId: string, raised: RaiseTimes): string {
  const t = raised.get(alarmId);
  if (t === undefined) return alarmId; // a point key, no occurrence
  return `${alarmId.slice(0, alarmId.lastIndexOf('.'))}@${t}`;
}

function compact(
  step: number,
  transition: EdgeAlarmTransition,
  lifecycle: boolean,
  raised: RaiseTimes,
): CompactTransition {
  if (transition.transition === 'raised')
    raised.set(transition.alarmId, transition.ts - CASE_START);
  const compactAlarmIdOf = (id: string) => compactAlarmId(id, raised);
  const extra: Partial<CompactTransition> = {};
  if (lifecycle) {
    if (transition.state !== undefined) extra.state = transition.state;
    if (transition.flood) extra.flood = true;
    if (transition.firstOut !== undefined) extra.firstOut = compactAlarmIdOf(transition.firstOut);
    if (transition.chattering) extra.chattering = true;
    if (transition.acknowledgedBy !== undefined) extra.acknowledgedBy = transition.acknowledgedBy;
  }
  return {
    step,
    t: transition.ts - CASE_START,
    alarm: compactAlarmIdOf(transition.alarmId),
    transition: transition.transition,
    level: transition.level,
    value: transition.value,
    setpoint: transition.setpoint,
    ...(transition.drill ? { drill: true as const } : {}),
    ...extra,
  };
}

function runCommand(engine: AlarmEngine, step: CommandStep): readonly EdgeAlarmTransition[] {
  const by = step.by ?? 'operator';
  switch (step.command) {
    case 'acknowledge':
      return engine.acknowledge(step.alarm, by);
    case 'shelve':
      return engine.shelve(
        step.alarm,
        by,
        step.oneShot ? { oneShot: true } : { durationMs: step.durationMs ?? 0 },
      );
    case 'unshelve':
      return engine.unshelve(step.alarm, by);
    case 'suppress':
      return engine.suppress(step.alarm, by);
    case 'unsuppress':
      return engine.unsuppress(step.alarm, by);
    case 'removeFromService':
      return engine.removeFromService(step.alarm, by);
    case 'returnToService':
      return engine.returnToService(step.alarm, by);
  }
}

/** JSON has no NaN or Infinity: cases write them as strings. */
const NON_FINITE: Record<string, number> = {
  NaN: Number.NaN,
  Infinity: Number.POSITIVE_INFINITY,
  '-Infinity': Number.NEGATIVE_INFINITY,
};

function toReading(reading: StepReading, ts: number): Reading {
  const value =
    typeof reading.value === 'string' ? (NON_FINITE[reading.value] as number) : reading.value;
  return {
    sensorId: reading.sensor,
    value,
    quality: reading.quality ?? (reading.value === null ? 'bad' : 'good'),
    ...(reading.reason !== undefined ? { reason: reading.reason } : {}),
    ts: reading.ts !== undefined ? CASE_START + reading.ts : ts,
  };
}

/** Runs a behaviour case; returns what happened in the compact form of expected.json. */
export function runBehaviourCase(caseDir: string, casesRoot: string): CaseOutcome {
  const ruleSet = loadRuleFiles([join(caseDir, 'rules.yaml')]);
  const compiled = compileRuleSet(ruleSet, sensorsFor(caseDir, casesRoot));
  const input = readJson<{ options?: { drill?: boolean; lifecycle?: boolean }; steps: Step[] }>(
    join(caseDir, 'readings.json'),
  );
  const clock = new ManualClock(CASE_START);
  const engine = new AlarmEngine(compiled, { clock, drill: input.options?.drill ?? false });
  const transitions: CompactTransition[] = [];
  const raised: RaiseTimes = new Map();
  let stepped = 0; // sum of the wall-clock steps so far
  let elapsed = 0;
  input.steps.forEach((step, index) => {
    clock.advance(step.t - elapsed); // real time passes: both clocks move
    elapsed = step.t;
    if ('clockStep' in step) {
      clock.step(step.clockStep);
      stepped += step.clockStep;
    }
    const ts = CASE_START + step.t + stepped;
    let out: readonly EdgeAlarmTransition[];
    if ('clockStep' in step) out = engine.tick();
    else if ('command' in step) out = runCommand(engine, step);
    else if ('tick' in step) out = engine.tick();
    else if ('readings' in step) out = engine.evaluate(step.readings.map((r) => toReading(r, ts)));
    else out = engine.evaluate([toReading(step, ts)]);
    const lifecycle = input.options?.lifecycle ?? false;
    for (const transition of out) transitions.push(compact(index, transition, lifecycle, raised));
  });
  return {
    transitions,
    active: engine.active().map((alarm) => compactAlarmId(alarm.alarmId, raised)),
  };
}

/** Runs an error case; returns every problem line, file names relative to the case folder. */
export function runErrorCase(caseDir: string, casesRoot: string): string[] {
  try {
    const ruleSet = loadRuleFiles([join(caseDir, 'rules.yaml')]);
    compileRuleSet(ruleSet, sensorsFor(caseDir, casesRoot));
  } catch (err) {
    if (!(err instanceof RuleFileError)) throw err;
    return err.problems.map((problem) =>
      formatProblem({ ...problem, file: relative(caseDir, problem.file) }),
    );
  }
  return [];
}
