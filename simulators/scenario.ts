/**
 * Scenario files for the simulated gas detector: a timeline of steps relative to the moment the
 * simulator starts. Format (YAML or JSON; see simulators/README.md):
 *
 *   name: demo-leak
 *   repeatAfter: 120s          # optional: start over after this long
 *   steps:
 *     - { at: 10s, channel: 0, rampTo: 32, over: 8s }   # linear ramp, then stay there
 *     - { at: 40s, channel: 1, hold: 12 }               # jump to a value and stay there
 *     - { at: 50s, channel: 3, loopCurrent: 3500 }      # force the 4–20 mA loop (µA), e.g. a fault
 *     - { at: 60s, channel: 3, loopCurrent: normal }    # back to the measured current
 *
 * Durations are strings with a unit (`500ms`, `1.5s`, `2m`); bare numbers are rejected because
 * seconds and milliseconds are too easy to confuse. Every problem is reported at once, one line
 * each, naming the step index and key: `steps[2].over: must be a duration like '8s' (got 'eight')`.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';

/** A step, after parsing: times in milliseconds of scenario time. */
export type ScenarioStep =
  | { kind: 'ramp'; at: number; channel: number; rampTo: number; over: number }
  | { kind: 'hold'; at: number; channel: number; hold: number }
  | { kind: 'loopCurrent'; at: number; channel: number; loopCurrent: number | 'normal' };

/** A parsed, validated scenario. Steps are sorted by `at` (stable for equal times). */
export interface Scenario {
  name: string;
  description?: string;
  /** Scenario time wraps to 0 after this many ms (the demo loops); absent: runs once. */
  repeatAfterMs?: number;
  steps: readonly ScenarioStep[];
}

/** A scenario file that failed validation; `issues` holds one line per problem. */
export class ScenarioError extends Error {
  constructor(
    readonly source: string,
    readonly issues: readonly string[],
    options?: { cause?: unknown },
  ) {
    super(`scenario ${source} is invalid:\n  ${issues.join('\n  ')}`, options);
    this.name = 'ScenarioError';
  }
}

const LIMITS = {
  /** Highest loop current a step may force, µA (21 mA is already a NAMUR NE 43 fault). */
  maxLoopCurrentUa: 25_000, // 25 mA
};

const DURATION_PATTERN = /^(\d+(?:\.\d+)?)\s*(ms|s|m|min|h)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000 };

/** '500ms' | '1.5s' | '2m' | '1h' → milliseconds; anything else → undefined. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const match = DURATION_PATTERN.exec(value.trim());
  if (!match) return undefined;
  return Number(match[1]) * (UNIT_MS[match[2] as string] as number);
}

const STEP_KEYS = new Set(['at', 'channel', 'rampTo', 'over', 'hold', 'loopCurrent', 'note']);
const TOP_KEYS = new Set(['name', 'description', 'repeatAfter', 'steps']);

function show(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (value === undefined) return 'nothing';
  return JSON.stringify(value);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Validates a scenario already parsed from YAML/JSON. Throws ScenarioError listing every problem.
 * `source` names the file (or 'inline') in the error message.
 */
export function validateScenario(raw: unknown, source = 'inline'): Scenario {
  const issues: string[] = [];
  if (!isRecord(raw)) {
    throw new ScenarioError(source, [`(root): must be a mapping with 'steps' (got ${show(raw)})`]);
  }
  for (const key of Object.keys(raw)) {
    if (!TOP_KEYS.has(key)) {
      issues.push(`${key}: unknown key (allowed: ${[...TOP_KEYS].join(', ')})`);
    }
  }
  const defaultName = source === 'inline' ? 'inline' : path.basename(source).replace(/\.\w+$/, '');
  let name = defaultName;
  if (raw.name !== undefined) {
    if (typeof raw.name === 'string' && raw.name.trim() !== '') name = raw.name;
    else issues.push(`name: must be a non-empty string (got ${show(raw.name)})`);
  }
  if (raw.description !== undefined && typeof raw.description !== 'string') {
    issues.push(`description: must be a string (got ${show(raw.description)})`);
  }
  let repeatAfterMs: number | undefined;
  if (raw.repeatAfter !== undefined) {
    repeatAfterMs = parseDuration(raw.repeatAfter);
    if (repeatAfterMs === undefined || repeatAfterMs <= 0) {
      issues.push(
        `repeatAfter: must be a positive duration like '120s' (got ${show(raw.repeatAfter)})`,
      );
      repeatAfterMs = undefined;
    }
  }

  const steps: Array<ScenarioStep & { index: number }> = [];
  if (!Array.isArray(raw.steps) || raw.steps.length === 0) {
    issues.push(`steps: must be a non-empty list (got ${show(raw.steps)})`);
  } else {
    raw.steps.forEach((rawStep: unknown, index) => {
      const step = validateStep(rawStep, `steps[${index}]`, issues);
      if (step) steps.push({ ...step, index });
    });
  }

  if (repeatAfterMs !== undefined) {
    for (const step of steps) {
      if (step.at >= repeatAfterMs) {
        issues.push(
          `steps[${step.index}].at: ${step.at} ms is not before repeatAfter (${repeatAfterMs} ms)`,
        );
      }
    }
  }

  if (issues.length > 0) throw new ScenarioError(source, issues);
  const sorted = steps
    .sort((a, b) => a.at - b.at || a.index - b.index)
    .map(({ index: _index, ...step }) => step as ScenarioStep);
  return {
    name,
    ...(typeof raw.description === 'string' ? { description: raw.description } : {}),
    ...(repeatAfterMs !== undefined ? { repeatAfterMs } : {}),
    steps: sorted,
  };
}

function validateStep(raw: unknown, where: string, issues: string[]): ScenarioStep | undefined {
  if (!isRecord(raw)) {
    issues.push(`${where}: must be a mapping like { at: 10s, channel: 0, rampTo: 32, over: 8s }`);
    return undefined;
  }
  const before = issues.length;
  for (const key of Object.keys(raw)) {
    if (!STEP_KEYS.has(key)) {
      issues.push(`${where}.${key}: unknown key (allowed: ${[...STEP_KEYS].join(', ')})`);
    }
  }
  const at = parseDuration(raw.at);
  if (at === undefined) {
    issues.push(
      `${where}.at: must be a duration like '10s', '500ms' or '2m' (got ${show(raw.at)})`,
    );
  }
  const channel = raw.channel;
  if (typeof channel !== 'number' || !Number.isInteger(channel) || channel < 0) {
    issues.push(`${where}.channel: must be a channel number (0, 1, ...) (got ${show(channel)})`);
  }
  const actions = (['rampTo', 'hold', 'loopCurrent'] as const).filter((k) => raw[k] !== undefined);
  if (actions.length !== 1) {
    issues.push(
      `${where}: must have exactly one of rampTo, hold, loopCurrent (got ${actions.length === 0 ? 'none' : actions.join(', ')})`,
    );
    return undefined;
  }
  const action = actions[0];
  if (action !== 'rampTo' && raw.over !== undefined) {
    issues.push(`${where}.over: only allowed with rampTo`);
  }
  let step: ScenarioStep | undefined;
  const common = { at: at ?? 0, channel: channel as number };
  if (action === 'rampTo') {
    const over = parseDuration(raw.over);
    if (typeof raw.rampTo !== 'number' || !Number.isFinite(raw.rampTo)) {
      issues.push(`${where}.rampTo: must be a number (got ${show(raw.rampTo)})`);
    }
    if (over === undefined) {
      issues.push(
        `${where}.over: must be a duration like '8s' ('0s' for a jump) (got ${show(raw.over)})`,
      );
    }
    step = { kind: 'ramp', ...common, rampTo: raw.rampTo as number, over: over ?? 0 };
  } else if (action === 'hold') {
    if (typeof raw.hold !== 'number' || !Number.isFinite(raw.hold)) {
      issues.push(`${where}.hold: must be a number (got ${show(raw.hold)})`);
    }
    step = { kind: 'hold', ...common, hold: raw.hold as number };
  } else {
    const current = raw.loopCurrent;
    const valid =
      current === 'normal' ||
      (typeof current === 'number' &&
        Number.isInteger(current) &&
        current >= 0 &&
        current <= LIMITS.maxLoopCurrentUa);
    if (!valid) {
      issues.push(
        `${where}.loopCurrent: must be 'normal' or an integer µA in 0..${LIMITS.maxLoopCurrentUa} (got ${show(current)})`,
      );
    }
    step = { kind: 'loopCurrent', ...common, loopCurrent: current as number | 'normal' };
  }
  return issues.length === before ? step : undefined;
}

/** Parses YAML (a superset of JSON) text and validates it. */
export function parseScenario(text: string, source = 'inline'): Scenario {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (cause) {
    throw new ScenarioError(source, [`(file): not valid YAML/JSON: ${(cause as Error).message}`], {
      cause,
    });
  }
  return validateScenario(raw, source);
}

/** Reads and validates a scenario file (.yaml, .yml or .json). */
export async function loadScenario(file: string): Promise<Scenario> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new Error(`cannot read scenario file '${file}'`, { cause });
  }
  return parseScenario(text, file);
}

/** Path of a scenario shipped in simulators/scenarios/ (e.g. 'demo-leak'). */
export function bundledScenarioPath(name: string): string {
  return path.join(import.meta.dirname, 'scenarios', `${name}.yaml`);
}

/**
 * Evaluates a scenario for one channel. Pure: the same time gives the same answer.
 * A ramp starts from wherever the channel is when the step begins (so a later step may cut an
 * earlier ramp short); before the first step the channel sits at its baseline.
 */
export class ScenarioTimeline {
  constructor(private readonly scenario: Scenario) {}

  get name(): string {
    return this.scenario.name;
  }

  /** Scenario time for a time since start, applying repeatAfter. */
  scenarioTime(elapsedMs: number): number {
    const repeat = this.scenario.repeatAfterMs;
    return repeat === undefined ? elapsedMs : elapsedMs % repeat;
  }

  /** Channels the scenario refers to. */
  channels(): Set<number> {
    return new Set(this.scenario.steps.map((step) => step.channel));
  }

  /** Target level (before noise) of `channel` at scenario time `t` ms. */
  levelAt(channel: number, baseline: number, t: number): number {
    let start = 0;
    let from = baseline;
    let to = baseline;
    let over = 0;
    const valueAt = (time: number): number =>
      over <= 0 || time >= start + over ? to : from + ((to - from) * (time - start)) / over;
    for (const step of this.scenario.steps) {
      if (step.at > t) break;
      if (step.channel !== channel || step.kind === 'loopCurrent') continue;
      const current = valueAt(step.at);
      start = step.at;
      if (step.kind === 'ramp') {
        from = current;
        to = step.rampTo;
        over = step.over;
      } else {
        from = step.hold;
        to = step.hold;
        over = 0;
      }
    }
    return valueAt(t);
  }

  /**
   * First scenario time (ms) at which `channel`'s target level reaches `threshold` (before noise),
   * scanning in `resolutionMs` steps up to the end of the scenario; undefined when it never does.
   * The demo's banner and the README's timings are derived from this, so they cannot drift from
   * the scenario file.
   */
  firstCrossing(
    channel: number,
    baseline: number,
    threshold: number,
    resolutionMs = 10,
  ): number | undefined {
    const lastStep = this.scenario.steps.reduce(
      (end, step) => Math.max(end, step.at + (step.kind === 'ramp' ? step.over : 0)),
      0,
    );
    const end = this.scenario.repeatAfterMs ?? lastStep;
    for (let t = 0; t <= end; t += resolutionMs) {
      if (this.levelAt(channel, baseline, t) >= threshold) return t;
    }
    return undefined;
  }

  /** Forced loop current (µA) of `channel` at scenario time `t`, or undefined when normal. */
  loopCurrentAt(channel: number, t: number): number | undefined {
    let forced: number | undefined;
    for (const step of this.scenario.steps) {
      if (step.at > t) break;
      if (step.channel !== channel || step.kind !== 'loopCurrent') continue;
      forced = step.loopCurrent === 'normal' ? undefined : step.loopCurrent;
    }
    return forced;
  }
}
