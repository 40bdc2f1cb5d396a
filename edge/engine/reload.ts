/**
 * Building evaluation state for a rule set, and swapping it in (start-up and hot
 * reload). The build runs beside the state in force, in steps a caller may spread
 * over event-loop turns (evaluation goes on meanwhile); the swap is one
 * synchronous step that carries every surviving alarm point's state across by key
 * (`ruleId.limitName`), so nothing evaluated between the steps is lost.
 *
 * Limits whose compiled form is unchanged are not rebuilt: the new set takes the
 * very LimitState (and SensorState) objects in force, so their state needs no
 * copying at the swap and a reload of a large, mostly unchanged set allocates
 * little (issue 12: evaluation never stalls more than a few ms).
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { EngineCore } from './core.js';
import { carry, linkActive } from './persistence.js';
import { signalBehaviour } from './signals/index.js';
import { LimitState, SensorState, SHELVE_TIMED } from './state.js';
import type { CompiledLimit, CompiledRuleSet } from './types.js';

/** Limits built per step: well under a millisecond of work. */
export const BUILD_STEP_LIMITS = 500;

/** A limit rebuilt for the new set, and what it replaces. */
interface Rebuilt {
  readonly limit: LimitState;
  readonly old: LimitState;
  readonly sameSignal: boolean;
}

/** Evaluation state of a rule set, built and not yet in force. */
export interface PreparedRules {
  readonly compiled: CompiledRuleSet;
  /** The limits in force when the build started: a swap against others must rebuild. */
  readonly basis: readonly LimitState[];
  readonly bySensor: Map<string, SensorState>;
  /** Per sensor, its new limit list and input positions (assigned at the swap). */
  readonly lists: Map<SensorState, { limits: LimitState[]; inputIndex: number[] }>;
  readonly byKey: Map<string, LimitState>;
  readonly allLimits: LimitState[];
  readonly timedLimits: LimitState[];
  /** Combination limits watching each limit, and the term index (assigned at the swap). */
  readonly dependents: Map<LimitState, { limits: LimitState[]; terms: number[] }>;
  /** Limits built anew whose key existed: their state is carried over at the swap. */
  readonly rebuilt: Rebuilt[];
  /** Old limits whose key is gone (their open occurrences close at the swap). */
  readonly removed: LimitState[];
  /** Sensors new to the engine (stale counts from the swap). */
  readonly newSensors: SensorState[];
}

const sameList = (a: readonly unknown[], b: readonly unknown[]) =>
  a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * Whether two compiled limits evaluate and report alike (every field of
 * CompiledLimit). Field by field, not through JSON: a reload of 34,000 limits must not
 * make megabytes of garbage for the collector to stop the alarm thread over.
 */
function sameSpec(a: CompiledLimit, b: CompiledLimit): boolean {
  return (
    a.key === b.key &&
    a.ruleId === b.ruleId &&
    a.limitName === b.limitName &&
    a.level === b.level &&
    a.direction === b.direction &&
    a.setpoint === b.setpoint &&
    a.deadband === b.deadband &&
    a.onDelayMs === b.onDelayMs &&
    a.offDelayMs === b.offDelayMs &&
    a.sensorId === b.sensorId &&
    a.sensorName === b.sensorName &&
    a.installationId === b.installationId &&
    a.location === b.location &&
    a.gas === b.gas &&
    a.unit === b.unit &&
    a.sign === b.sign &&
    a.raiseAt === b.raiseAt &&
    a.clearBelow === b.clearBelow &&
    a.drill === b.drill &&
    a.latch === b.latch &&
    a.hidden === b.hidden &&
    sameList(a.inputs, b.inputs) &&
    sameList(a.inputTerms, b.inputTerms) &&
    sameList(a.suppresses, b.suppresses) &&
    sameSignal(a, b)
  );
}

function sameSignal(a: CompiledLimit, b: CompiledLimit): boolean {
  if (a.signal.kind !== b.signal.kind) return false;
  return a.signal.kind === 'value' || JSON.stringify(a.signal) === JSON.stringify(b.signal);
}

/** Builds the state for `compiled` against the state in force, yielding between steps. */
export function* prepareSteps(
  core: EngineCore,
  compiled: CompiledRuleSet,
  stepLimits = BUILD_STEP_LIMITS,
): Generator<void, PreparedRules> {
  const basis = core.allLimits;
  const bySensor = new Map<string, SensorState>();
  const newSensors: SensorState[] = [];
  const byKey = new Map<string, LimitState>();
  const allLimits: LimitState[] = [];
  const timedLimits: LimitState[] = [];
  const rebuilt: Rebuilt[] = [];
  const sensorOf = (id: string) => {
    let sensor = bySensor.get(id);
    if (!sensor) {
      sensor = core.bySensor.get(id);
      if (!sensor) {
        sensor = new SensorState(id);
        newSensors.push(sensor);
      }
      bySensor.set(id, sensor);
    }
    return sensor;
  };
  const specs = compiled.limits;
  for (let i = 0; i < specs.length; i++) {
    const spec = specs[i]!;
    const behaviour = signalBehaviour(spec.signal.kind);
    const old = core.byKey.get(spec.key);
    let limit: LimitState;
    if (old !== undefined && (old.spec === spec || sameSpec(old.spec, spec))) {
      limit = old; // unchanged: the object in force goes on, state and all
    } else {
      const same = old !== undefined && sameSignal(old.spec, spec);
      limit = new LimitState(spec, sensorOf(spec.sensorId), behaviour, same ? old : undefined);
      if (old !== undefined) rebuilt.push({ limit, old, sameSignal: same });
    }
    sensorOf(spec.sensorId);
    allLimits.push(limit);
    byKey.set(spec.key, limit);
    if (behaviour.timed) timedLimits.push(limit);
    if (i % stepLimits === stepLimits - 1) yield;
  }
  // Per-sensor lists in the compiled order (level 1 before level 2).
  const lists: PreparedRules['lists'] = new Map();
  let listed = 0;
  for (const [sensorId, list] of compiled.limitsBySensor) {
    const limits: LimitState[] = [];
    const inputIndex: number[] = [];
    for (const spec of list) {
      limits.push(byKey.get(spec.key)!);
      inputIndex.push(spec.inputTerms[spec.inputs.indexOf(sensorId)] ?? 0);
    }
    lists.set(sensorOf(sensorId), { limits, inputIndex });
    listed += list.length;
    if (listed >= stepLimits) {
      listed = 0;
      yield;
    }
  }
  const dependents: PreparedRules['dependents'] = new Map();
  for (let i = 0; i < allLimits.length; i++) {
    if (i % (stepLimits * 4) === stepLimits * 4 - 1) yield;
    const limit = allLimits[i]!;
    const signal = limit.spec.signal;
    if (signal.kind !== 'all') continue;
    signal.terms.forEach((term, t) => {
      if (!('alarm' in term)) return;
      const target = byKey.get(term.alarm);
      if (!target) return;
      let entry = dependents.get(target);
      if (!entry) {
        entry = { limits: [], terms: [] };
        dependents.set(target, entry);
      }
      entry.limits.push(limit);
      entry.terms.push(t);
    });
  }
  const removed: LimitState[] = [];
  for (let i = 0; i < basis.length; i++) {
    if (i % (stepLimits * 4) === stepLimits * 4 - 1) yield;
    const old = basis[i]!;
    if (byKey.get(old.spec.key) !== old && old.dependents.length > 0) {
      dependents.set(old, dependents.get(old) ?? { limits: [], terms: [] });
    }
    if (!byKey.has(old.spec.key) && !old.spec.hidden) removed.push(old);
  }
  return {
    compiled,
    basis,
    bySensor,
    lists,
    byKey,
    allLimits,
    timedLimits,
    dependents,
    rebuilt,
    removed,
    newSensors,
  };
}

/** Runs every step at once. */
export function prepareNow(core: EngineCore, compiled: CompiledRuleSet): PreparedRules {
  const steps = prepareSteps(core, compiled);
  for (;;) {
    const next = steps.next();
    if (next.done) return next.value;
  }
}

/** Runs the steps one event-loop turn apart, so evaluation is never held up for long. */
export async function prepareInTurns(
  core: EngineCore,
  compiled: CompiledRuleSet,
): Promise<PreparedRules> {
  const steps = prepareSteps(core, compiled);
  for (;;) {
    const next = steps.next();
    if (next.done) return next.value;
    await nextTurn();
  }
}

/**
 * Puts prepared rules in force, in one synchronous step: unchanged limits go on as
 * they are, rebuilt ones take their predecessor's state; points that are gone and
 * still active or latched are closed with 'cleared' (transitions go to core.out).
 */
export function swapIn(core: EngineCore, ready: PreparedRules): void {
  // Another swap since the build started: its links to the old limits are stale, build again.
  const prepared = ready.basis === core.allLimits ? ready : prepareNow(core, ready.compiled);
  for (const sensor of prepared.newSensors) sensor.lastT = core.monoNow; // stale counts from now
  for (const [sensor, list] of prepared.lists) {
    sensor.limits = list.limits;
    sensor.inputIndex = list.inputIndex;
  }
  for (const { limit, old, sameSignal } of prepared.rebuilt) carry(limit, old, sameSignal);
  for (const [limit, entry] of prepared.dependents) {
    limit.dependents = entry.limits;
    limit.dependentTerms = entry.terms;
  }
  let pending = 0;
  let timedShelves = 0;
  for (const limit of prepared.allLimits) {
    if (limit.pending) pending++;
    if (limit.shelve === SHELVE_TIMED) timedShelves++;
  }
  core.pendingCount = pending;
  core.timedShelves = timedShelves;
  core.current = prepared.compiled;
  core.bySensor = prepared.bySensor;
  core.byKey = prepared.byKey;
  core.allLimits = prepared.allLimits;
  core.timedLimits = prepared.timedLimits;
  if (prepared.rebuilt.length > 0 || prepared.removed.length > 0) linkActive(core);
  for (const limit of prepared.removed) {
    if (!(limit.active || limit.latchedWaiting)) continue; // an unacked return was already cleared
    core.closeSuperseded(limit, limit.x, core.wallNow);
    core.emit(
      limit,
      'cleared',
      limit.x,
      core.wallNow,
      `${limit.spec.key}: rule removed by a reload`,
    );
  }
  core.dirty = true;
}
