/**
 * Compilation: turns a loaded RuleSet and the gateway's sensor catalogue into
 * limits, once. Per sensor the limits it feeds, each with its signal kind. Runs at
 * load and reload time, never on the evaluation path.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { createLogger } from '../../common/logger.js';
import type { SensorInfo } from '../../protocol/index.js';
import { conditionType, type Rule } from '../conditions/index.js';
import { fmt } from '../conditions/shared.js';
import { RuleFileError, type RuleProblem } from '../rule-loader.js';
import {
  type CombinationTerm,
  formatKeyPath,
  type KeyPath,
  type LimitSpec,
  type RuleSet,
  type SignalSpec,
} from '../rule-types.js';
import { type CompiledLimit, type CompiledRuleSet, SUPPRESS_WHEN } from './types.js';

const log = createLogger('edge.engine');

/**
 * Compiles rules against the sensor catalogue. Throws RuleFileError (file, line,
 * key path) for a rule whose sensor is not in the catalogue, whose unit or gas does
 * not match its sensor, whose setpoint lies outside the sensor's range, or whose
 * combination names an unknown alarm.
 */
export function compileRuleSet(
  ruleSet: RuleSet,
  sensors: ReadonlyMap<string, SensorInfo>,
): CompiledRuleSet {
  const steps = compileSteps(ruleSet, sensors);
  for (;;) {
    const next = steps.next();
    if (next.done) return next.value;
  }
}

/** Rules compiled per step: a few milliseconds of work on a busy machine. */
export const COMPILE_STEP_RULES = 100;

/**
 * compileRuleSet() with its work spread over event-loop turns, so evaluation keeps
 * running while a large rule set (say 20,000 rules) compiles during a reload.
 */
export async function compileRuleSetInTurns(
  ruleSet: RuleSet,
  sensors: ReadonlyMap<string, SensorInfo>,
): Promise<CompiledRuleSet> {
  const steps = compileSteps(ruleSet, sensors);
  for (;;) {
    const next = steps.next();
    if (next.done) return next.value;
    await nextTurn();
  }
}

/** The compilation, yielding every COMPILE_STEP_RULES rules. */
function* compileSteps(
  ruleSet: RuleSet,
  sensors: ReadonlyMap<string, SensorInfo>,
): Generator<void, CompiledRuleSet> {
  const problems: RuleProblem[] = [];
  const bySensor = new Map<string, CompiledLimit[]>();
  const all: CompiledLimit[] = [];
  // The loader built every rule through the condition type registered under its `type`,
  // so each is that type's Rule.
  const rules = ruleSet.rules as readonly Rule[];
  const ruleById = new Map(rules.map((r) => [r.id, r]));
  let done = 0;
  for (const rule of rules) {
    if (++done % COMPILE_STEP_RULES === 0) yield;
    const report = (path: KeyPath, message: string) => {
      const source = rule.source;
      const at = source.keys[formatKeyPath(path)] ?? source;
      problems.push({
        file: source.file,
        line: at.line,
        col: at.col,
        path: formatKeyPath(['rules', source.index, ...path]),
        message,
      });
    };
    const condition = conditionType(rule.type);
    if (!condition) {
      report(['type'], `unknown condition type '${rule.type}'`);
      continue;
    }
    const sensor = sensors.get(rule.sensor);
    if (!sensor) {
      report(
        condition.multiSensor ? ['sensors', 0] : ['sensor'],
        `sensor '${rule.sensor}' is not in the gateway's sensor catalogue`,
      );
      continue;
    }
    const issues = [
      ...condition.checkSensor(rule, sensor),
      ...(condition.checkCatalogue?.(rule, sensors) ?? []),
    ];
    for (const issue of issues) report(issue.path, issue.message);
    const limits = condition.limits(rule);
    for (const limit of limits) {
      if (limit.signal !== undefined && limit.signal.kind !== 'value') {
        if (limit.signal.kind === 'all') {
          checkAlarmTerms(limit.signal.terms, 'all', ruleById, report, issues);
        }
        continue; // range checks apply to setpoints in the sensor's unit only
      }
      const unit = sensor.unit;
      if (
        limit.direction === 'high' &&
        sensor.rangeMax !== undefined &&
        limit.setpoint > sensor.rangeMax
      ) {
        report(
          limit.setpointPath,
          `setpoint ${fmt(limit.setpoint)} ${unit} is above the range of sensor '${sensor.sensorId}' (max ${fmt(sensor.rangeMax)} ${unit}): the alarm could never raise`,
        );
      }
      if (
        limit.direction === 'low' &&
        sensor.rangeMin !== undefined &&
        limit.setpoint < sensor.rangeMin
      ) {
        report(
          limit.setpointPath,
          `setpoint ${fmt(limit.setpoint)} ${unit} is below the range of sensor '${sensor.sensorId}' (min ${fmt(sensor.rangeMin)} ${unit}): the alarm could never raise`,
        );
      }
    }
    const suppressWhen = rule.suppressWhen;
    const toCompile: { limit: LimitSpec; suppresses?: string[] }[] = limits.map((limit) => ({
      limit,
    }));
    if (suppressWhen && suppressWhen.length > 0) {
      checkAlarmTerms(suppressWhen, 'suppressWhen', ruleById, report, issues);
      suppressWhen.forEach((term, i) => {
        if ('sensor' in term && !sensors.has(term.sensor)) {
          report(
            ['suppressWhen', i, 'sensor'],
            `sensor '${term.sensor}' is not in the gateway's sensor catalogue`,
          );
          issues.push({ path: [], message: '' });
        }
      });
      toCompile.push({
        limit: {
          name: SUPPRESS_WHEN,
          level: 1,
          direction: 'high',
          setpoint: 1,
          deadband: 0,
          onDelayMs: 0,
          offDelayMs: 0,
          setpointPath: ['suppressWhen'],
          signal: { kind: 'all', terms: suppressWhen },
          signalUnit: '',
        },
        suppresses: limits.map((l) => `${rule.id}.${l.name}`),
      });
    }
    if (issues.length > 0) continue;
    for (const { limit, suppresses } of toCompile) {
      const compiled = compileLimit(
        rule,
        condition.gasOf(rule) ?? sensor.gas,
        sensor,
        limit,
        suppresses,
      );
      all.push(compiled);
      for (const input of new Set(compiled.inputs)) {
        let list = bySensor.get(input);
        if (!list) {
          list = [];
          bySensor.set(input, list);
        }
        list.push(compiled);
      }
    }
  }
  if (problems.length > 0) throw new RuleFileError(problems);
  for (const list of bySensor.values()) {
    // Stable sort: level 1 before level 2, so a jump past both raises level 1 first.
    list.sort((a, b) => a.level - b.level);
    Object.freeze(list);
  }
  log.info(
    { rules: ruleSet.rules.length, limits: all.length, sensors: bySensor.size },
    'rules compiled',
  );
  return Object.freeze({
    ruleSet,
    limitsBySensor: bySensor,
    limits: Object.freeze(all),
    limitCount: all.filter((l) => !l.hidden).length,
    outputs: ruleSet.outputs ?? [],
  });
}

type Report = (path: KeyPath, message: string) => void;

/** `alarm` terms must name a limit of a rule that is not itself a combination (no chains). */
function checkAlarmTerms(
  terms: readonly CombinationTerm[],
  key: string,
  ruleById: ReadonlyMap<string, Rule>,
  report: Report,
  issues: unknown[],
): void {
  terms.forEach((term, i) => {
    if (!('alarm' in term)) return;
    const cut = term.alarm.lastIndexOf('.');
    const target = ruleById.get(term.alarm.slice(0, cut));
    const name = term.alarm.slice(cut + 1);
    const targetType = target && conditionType(target.type);
    if (!target || !targetType?.limits(target).some((l) => l.name === name)) {
      report([key, i, 'alarm'], `no alarm '${term.alarm}' (write <ruleId>.<limit>)`);
      issues.push(term);
    } else if (target.type === 'combination') {
      report([key, i, 'alarm'], `'${term.alarm}' is itself a combination; chains are not allowed`);
      issues.push(term);
    }
  });
}

function compileLimit(
  rule: Rule,
  gas: string | undefined,
  sensor: SensorInfo,
  limit: LimitSpec,
  suppresses?: readonly string[],
): CompiledLimit {
  const sign = limit.direction === 'high' ? 1 : -1;
  const signal: SignalSpec = limit.signal ?? { kind: 'value' };
  let inputs: string[] = [sensor.sensorId];
  let inputTerms: number[] = [];
  if (signal.kind === 'vote') inputs = [...signal.sensors];
  if (signal.kind === 'all') {
    inputs = [];
    signal.terms.forEach((term, i) => {
      if ('sensor' in term) {
        inputs.push(term.sensor);
        inputTerms.push(i);
      }
    });
  } else inputTerms = inputs.map((_, i) => i);
  let unit = sensor.unit;
  if (limit.signalUnit !== undefined) {
    unit = limit.signalUnit.startsWith('/')
      ? `${sensor.unit}${limit.signalUnit}`
      : limit.signalUnit;
  }
  return Object.freeze({
    key: `${rule.id}.${limit.name}`,
    ruleId: rule.id,
    limitName: limit.name,
    level: limit.level,
    direction: limit.direction,
    setpoint: limit.setpoint,
    deadband: limit.deadband,
    onDelayMs: limit.onDelayMs,
    offDelayMs: limit.offDelayMs,
    sensorId: sensor.sensorId,
    sensorName: sensor.name,
    installationId: sensor.installationId,
    location: sensor.location,
    gas,
    unit,
    sign,
    raiseAt: sign * limit.setpoint,
    clearBelow: sign * limit.setpoint - limit.deadband,
    signal,
    inputs: Object.freeze(inputs),
    inputTerms: Object.freeze(inputTerms),
    drill: rule.drill === true,
    latch: rule.latch === true,
    hidden: suppresses !== undefined,
    suppresses: Object.freeze([...(suppresses ?? [])]),
  });
}
