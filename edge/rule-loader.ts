/**
 * Loads rule files (YAML) into a frozen RuleSet. Every file is size-checked before it
 * is parsed (rule-limits.ts), parsed with positions, its rules counted against the
 * set's limit, validated against the one rule-file schema (ajv, all errors), then each
 * rule gets its condition type's semantic and compliance checks, and the set gets its
 * cross-rule checks (duplicate ids, actions naming outputs and limits, limits per
 * sensor). Nothing is returned unless every file is clean: the thrown RuleFileError
 * lists every problem of every file as `<file>:<line>:<col> <key path>: <message>`.
 *
 * One run shows everything: an unknown key (or a wrong top-level key) does not stop the
 * semantic and compliance checks of the rest of the rule; only a key whose value has
 * the wrong shape does, since checking a rule built from it would report noise.
 */
import { readFileSync, statSync } from 'node:fs';
import { Ajv, type ErrorObject } from 'ajv';
import { type Document, LineCounter, parseDocument } from 'yaml';
import { createLogger } from '../common/logger.js';
import { checkTerms, toTerms } from './conditions/combination.js';
import { conditionType, type Rule } from './conditions/index.js';
import { checkOutputDevices, type GatewayOutputDevices } from './linkage/output-devices.js';
import {
  checkLimitsPerSensor,
  fileTooLarge,
  type RuleCount,
  type RuleSetLimits,
  resolveLimits,
  tooManyRules,
} from './rule-limits.js';
import { ruleFileSchema, ruleSchema } from './rule-schema.js';
import {
  formatKeyPath,
  type KeyPath,
  type LinkageAction,
  type OutputDevice,
  type Position,
  type RuleBase,
  type RuleSet,
  type RuleSource,
} from './rule-types.js';
import {
  collectPositions,
  describeSchemaError,
  findNode,
  type Locate,
  locator,
  outputIndexOf,
  pointerToPath,
  retiredOutputKeys,
  ruleIndexOf,
} from './rule-yaml.js';

export { RULE_SET_LIMITS, type RuleSetLimits } from './rule-limits.js';

const log = createLogger('edge.rules');

/** One problem in one rule file. */
export interface RuleProblem {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  /** Formatted key path (`rules[2].level1`); '' for the file as a whole. */
  readonly path: string;
  readonly message: string;
}

export function formatProblem(problem: RuleProblem): string {
  const where = `${problem.file}:${problem.line}:${problem.col}`;
  return problem.path === ''
    ? `${where} ${problem.message}`
    : `${where} ${problem.path}: ${problem.message}`;
}

/** Rule files refused; `problems` holds every problem found, in file and line order. */
export class RuleFileError extends Error {
  readonly problems: readonly RuleProblem[];
  constructor(problems: readonly RuleProblem[], options?: { cause?: unknown }) {
    const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
    super(`rule files refused, ${count}:\n${problems.map(formatProblem).join('\n')}`, options);
    this.name = 'RuleFileError';
    this.problems = problems;
  }
}

/** A rule file's name (as errors should show it) and its text. */
export interface RuleSourceText {
  readonly file: string;
  readonly text: string;
}

/** Loader options: the bounds of the set (rule-limits.ts); defaults fit a large plant. */
export interface RuleLoadOptions extends Partial<RuleSetLimits> {
  /**
   * The gateway's devices: when given, every output must name one that takes writes
   * (linkage/output-devices.ts), so a start or reload with a wrong device is refused.
   */
  readonly outputDevices?: GatewayOutputDevices;
}

const ajv = new Ajv({
  allErrors: true,
  strict: true,
  discriminator: true,
  verbose: true, // errors carry the data and parent schema, for 'got ...' and 'allowed: ...'
});
const validateRuleFile = ajv.compile(ruleFileSchema);
/** One rule alone: re-validates a rule once its unknown keys are set aside. */
const validateRule = ajv.compile(ruleSchema);

/** Reads, validates and checks rule files; throws RuleFileError listing every problem. */
export function loadRuleFiles(paths: readonly string[], options: RuleLoadOptions = {}): RuleSet {
  const limits = resolveLimits(options);
  const sources: RuleSourceText[] = [];
  const refused: RuleProblem[] = [];
  for (const file of paths) {
    try {
      // Size first: an oversized file is never read into memory, let alone parsed.
      const tooLarge = fileTooLarge(file, statSync(file).size, limits);
      if (tooLarge) refused.push(tooLarge);
      else sources.push({ file, text: readFileSync(file, 'utf8') });
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      refused.push({ file, line: 1, col: 1, path: '', message: `cannot read file (${reason})` });
    }
  }
  return loadChecked(sources, refused, limits, options);
}

/** As loadRuleFiles, from text already in memory (tests, hot reload). */
export function loadRuleSources(
  sources: readonly RuleSourceText[],
  options: RuleLoadOptions = {},
): RuleSet {
  const limits = resolveLimits(options);
  const kept: RuleSourceText[] = [];
  const refused: RuleProblem[] = [];
  for (const source of sources) {
    const tooLarge = fileTooLarge(source.file, Buffer.byteLength(source.text, 'utf8'), limits);
    if (tooLarge) refused.push(tooLarge);
    else kept.push(source);
  }
  return loadChecked(kept, refused, limits, options, sources);
}

/** A parsed file: its document, data and position helpers. */
interface Parsed {
  readonly file: string;
  readonly doc: Document;
  readonly data: unknown;
  readonly at: (offset: number) => Position;
  readonly locate: Locate;
}

function loadChecked(
  sources: readonly RuleSourceText[],
  earlier: readonly RuleProblem[],
  limits: RuleSetLimits,
  options: RuleLoadOptions,
  order: readonly RuleSourceText[] = sources,
): RuleSet {
  const problems: RuleProblem[] = [...earlier];
  const refuse = (): never => {
    throw new RuleFileError(sortProblems(problems, order));
  };
  const parsed: Parsed[] = [];
  for (const source of sources) {
    const one = parse(source, problems);
    if (one) parsed.push(one);
  }
  // Count before validating: a set over the limit is refused without checking each rule.
  const tooMany = tooManyRules(parsed.map(countRules), limits);
  if (tooMany) {
    problems.push(tooMany);
    refuse();
  }
  const rules: Rule[] = [];
  /** Every rule that could be built, refused ones included: their actions are checked too. */
  const built: Rule[] = [];
  const outputs: OutputDevice[] = [];
  const firstById = new Map<string, RuleSource>();
  for (const file of parsed) {
    const checked = checkFile(file, problems, outputs, firstById);
    rules.push(...checked.accepted);
    built.push(...checked.built);
  }
  checkActions(built, outputs, problems);
  problems.push(...checkLimitsPerSensor(rules, limits));
  const devices = options.outputDevices;
  if (devices) problems.push(...checkOutputDevices({ outputs }, devices.ids, devices.writers));
  if (problems.length > 0) refuse();
  for (const rule of rules) {
    if (rule.waived.length > 0) {
      log.warn(
        { ruleId: rule.id, waived: rule.waived, justification: rule.justification },
        'rule deviates from a compliance check, accepted with justification',
      );
    }
  }
  return deepFreeze({ files: order.map((s) => s.file), rules, outputs });
}

/** Parses one file with positions; pushes its YAML problems and returns undefined on any. */
function parse(source: RuleSourceText, problems: RuleProblem[]): Parsed | undefined {
  const { file, text } = source;
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number): Position => lineCounter.linePos(offset);
  const yamlIssues = [...doc.errors, ...doc.warnings];
  if (yamlIssues.length > 0) {
    for (const issue of yamlIssues) {
      const pos = at(issue.pos[0]);
      const message = issue.message.split('\n')[0] ?? issue.code;
      problems.push({ file, ...pos, path: '', message: `YAML: ${message}` });
    }
    return undefined;
  }
  try {
    const data = doc.toJS({ maxAliasCount: 100 });
    return { file, doc, data, at, locate: locator(doc, at) };
  } catch (err) {
    problems.push({ file, line: 1, col: 1, path: '', message: `YAML: ${(err as Error).message}` });
    return undefined;
  }
}

function countRules(file: Parsed): RuleCount {
  const rules = (file.data as { rules?: unknown } | null)?.rules;
  return {
    file: file.file,
    count: Array.isArray(rules) ? rules.length : 0,
    ...file.locate(['rules'], 'key'),
  };
}

/** Every action names a known output, a limit of its rule, and a value of the right kind. */
function checkActions(rules: readonly Rule[], outputs: OutputDevice[], problems: RuleProblem[]) {
  const outputIds = new Set(outputs.map((o) => o.id));
  for (const rule of rules) {
    const condition = conditionType(rule.type);
    const limitNames = condition ? condition.limits(rule).map((l) => l.name) : [];
    (rule.actions ?? []).forEach((action, i) => {
      const report = (key: string, message: string) => {
        const relative = formatKeyPath(['actions', i, key]);
        const at = rule.source.keys[relative] ?? rule.source;
        problems.push({
          file: rule.source.file,
          line: at.line,
          col: at.col,
          path: formatKeyPath(['rules', rule.source.index, 'actions', i, key]),
          message,
        });
      };
      if (!outputIds.has(action.output)) {
        const known = [...outputIds].join(', ') || 'none';
        report('output', `unknown output '${action.output}' (outputs: ${known})`);
      }
      if (action.limit !== undefined && !limitNames.includes(action.limit)) {
        report(
          'limit',
          `rule '${rule.id}' has no limit '${action.limit}' (limits: ${limitNames.join(', ')})`,
        );
      }
      if ((action.coil === undefined) === (action.register === undefined)) {
        report('coil', 'give exactly one of coil or register');
      } else if (action.coil !== undefined && typeof action.value !== 'boolean') {
        report('value', `a coil takes true or false (got ${String(action.value)})`);
      } else if (action.register !== undefined && typeof action.value !== 'number') {
        report('value', `a register takes an integer 0..65535 (got ${String(action.value)})`);
      }
    });
  }
}

/**
 * Validates one parsed file and checks each of its rules; pushes every problem and
 * returns the rules that passed. Rule ids go into `firstById` (duplicates across
 * files are reported here, for refused rules too).
 */
function checkFile(
  parsed: Parsed,
  problems: RuleProblem[],
  outputs: OutputDevice[],
  firstById: Map<string, RuleSource>,
): { accepted: Rule[]; built: Rule[] } {
  const { file, data, locate } = parsed;
  const report = (path: KeyPath, message: string) => {
    problems.push({ file, ...locate(path), path: formatKeyPath(path), message });
  };
  /** Schema errors of each rule, by rule index. */
  const ruleErrors = new Map<number, ErrorObject[]>();
  const retiredOutputs = new Set<number>();
  const outputErrors = new Set<number>();
  if (!validateRuleFile(data)) {
    for (const error of validateRuleFile.errors ?? []) {
      const ruleIndex = ruleIndexOf(error.instancePath);
      if (ruleIndex !== undefined) {
        const list = ruleErrors.get(ruleIndex) ?? [];
        list.push(error);
        ruleErrors.set(ruleIndex, list);
      }
      const outputIndex = outputIndexOf(error.instancePath);
      if (outputIndex !== undefined) {
        outputErrors.add(outputIndex);
        const raw = (data as { outputs: Record<string, unknown>[] }).outputs[outputIndex];
        const retired = raw ? retiredOutputKeys(raw, outputIndex, locate) : undefined;
        if (retired) {
          // One clear problem per old-style output, not one per old key plus 'missing device'.
          if (!retiredOutputs.has(outputIndex)) problems.push({ file, ...retired });
          retiredOutputs.add(outputIndex);
          continue;
        }
      }
      problems.push({ file, ...describeSchemaError(error, locate) });
    }
  }
  const accepted: Rule[] = [];
  const built: Rule[] = [];
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return { accepted, built };
  collectOutputs(parsed, outputErrors, outputs, report);
  const rawRules = (data as { rules?: unknown }).rules;
  if (!Array.isArray(rawRules)) return { accepted, built };

  rawRules.forEach((raw: unknown, index) => {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return; // reported
    const record = raw as Record<string, unknown>;
    const rulePath = ['rules', index] as const;
    const rulePos = locate(rulePath);
    const first = registerId(record.id, { file, index, ...rulePos, keys: {} });
    if (first) {
      report(
        [...rulePath, 'id'],
        `duplicate rule id '${String(record.id)}' (first defined at ${
          first.file === file ? 'line ' : `${first.file}:`
        }${first.line})`,
      );
    }
    const errors = ruleErrors.get(index) ?? [];
    // A rule whose only schema errors are unknown keys is still checked (without those
    // keys), so a typo does not hide a setpoint above the standard's maximum.
    const checkable = errors.length === 0 ? record : withoutUnknownKeys(record, errors);
    if (!checkable) return;
    const { rule, refused } = checkRule(parsed, index, checkable, report);
    if (!rule) return;
    built.push(rule);
    if (!refused && errors.length === 0 && !first) accepted.push(rule);
  });
  return { accepted, built };

  /** Registers a rule id; returns where it was first defined when it is a duplicate. */
  function registerId(id: unknown, at: RuleSource): RuleSource | undefined {
    if (typeof id !== 'string') return undefined;
    const first = firstById.get(id);
    if (!first) firstById.set(id, at);
    return first;
  }
}

/** Outputs of a file that passed the schema; duplicates across files are problems. */
function collectOutputs(
  parsed: Parsed,
  withErrors: ReadonlySet<number>,
  outputs: OutputDevice[],
  report: (path: KeyPath, message: string) => void,
): void {
  const rawOutputs = (parsed.data as { outputs?: unknown }).outputs;
  if (!Array.isArray(rawOutputs)) return;
  rawOutputs.forEach((raw: Record<string, unknown>, index) => {
    if (withErrors.has(index) || raw === null || typeof raw !== 'object') return;
    const id = String(raw.id);
    const first = outputs.find((o) => o.id === id);
    if (first) {
      const where = first.file === parsed.file ? 'line ' : `${first.file}:`;
      report(
        ['outputs', index, 'id'],
        `duplicate output id '${id}' (first at ${where}${first.line})`,
      );
      return;
    }
    const at = parsed.locate(['outputs', index, 'device']);
    outputs.push({ id, device: String(raw.device), file: parsed.file, index, ...at });
  });
}

/**
 * A copy of the rule without the keys its schema errors call unknown, if those were
 * its only errors and the copy is a valid rule; undefined otherwise.
 */
function withoutUnknownKeys(
  raw: Record<string, unknown>,
  errors: readonly ErrorObject[],
): Record<string, unknown> | undefined {
  if (errors.some((e) => e.keyword !== 'additionalProperties')) return undefined;
  const copy = structuredClone(raw);
  for (const error of errors) {
    const path = pointerToPath(error.instancePath).slice(2); // below rules[index]
    let node: unknown = copy;
    for (const step of path) node = (node as Record<string | number, unknown>)?.[step];
    const extra = String((error.params as { additionalProperty?: unknown }).additionalProperty);
    if (node !== null && typeof node === 'object') delete (node as Record<string, unknown>)[extra];
  }
  return validateRule(copy) ? copy : undefined;
}

/**
 * Normalises one schema-valid rule and runs its semantic and compliance checks; reports
 * each problem and returns the rule (undefined for an unknown type) and whether any
 * check refused it.
 */
function checkRule(
  parsed: Parsed,
  index: number,
  raw: Record<string, unknown>,
  report: (path: KeyPath, message: string) => void,
): { rule?: Rule; refused: boolean } {
  const { file, doc, at, locate } = parsed;
  const rulePath = ['rules', index] as const;
  const condition = conditionType(String(raw.type));
  if (!condition) return { refused: true }; // the schema's discriminator already reported it
  const rulePos = locate(rulePath);
  const keys: Record<string, Position> = {};
  collectPositions(findNode(doc.contents, rulePath, doc).value, [], keys, at, doc);
  const justification =
    typeof raw.justification === 'string' ? raw.justification.trim() : undefined;
  const waived: string[] = [];
  const base: RuleBase = {
    id: String(raw.id),
    sensor: String(raw.sensor),
    type: condition.type,
    ...(typeof raw.description === 'string' ? { description: raw.description } : {}),
    ...(justification ? { justification } : {}),
    ...(raw.drill === true ? { drill: true } : {}),
    ...(raw.latch === true ? { latch: true } : {}),
    ...(Array.isArray(raw.actions) ? { actions: raw.actions.map(toAction) } : {}),
    ...(Array.isArray(raw.suppressWhen) ? { suppressWhen: toTerms(raw.suppressWhen) } : {}),
    waived,
    source: { file, index, line: rulePos.line, col: rulePos.col, keys },
  };
  const rule = condition.normalize(raw, base);
  let refused = false;
  const refuse = (path: KeyPath, message: string) => {
    refused = true;
    report([...rulePath, ...path], message);
  };
  if (justification === '') refuse(['justification'], 'must not be blank');
  for (const issue of condition.check(rule).issues) {
    if (issue.severity === 'error') {
      // Contradictions are refused whatever the justification says.
      refuse(issue.path, issue.message);
    } else if (justification) {
      waived.push(`${formatKeyPath(issue.path)}: ${issue.message}`);
    } else {
      refuse(issue.path, `${issue.message} (add a justification to deviate)`);
    }
  }
  for (const issue of checkTerms(rule.suppressWhen ?? [], 'suppressWhen')) {
    refuse(issue.path, issue.message);
  }
  return { rule, refused };
}

function toAction(raw: Record<string, unknown>): LinkageAction {
  return {
    on: raw.on as LinkageAction['on'],
    ...(typeof raw.limit === 'string' ? { limit: raw.limit } : {}),
    output: String(raw.output),
    ...(typeof raw.coil === 'number' ? { coil: raw.coil } : {}),
    ...(typeof raw.register === 'number' ? { register: raw.register } : {}),
    value: raw.value as boolean | number,
    readback: raw.readback !== false,
    ...(typeof raw.description === 'string' ? { description: raw.description } : {}),
  };
}

function sortProblems(
  problems: readonly RuleProblem[],
  sources: readonly RuleSourceText[],
): RuleProblem[] {
  const fileOrder = new Map(sources.map((s, i) => [s.file, i]));
  const seen = new Set<string>();
  return problems
    .filter((p) => {
      const key = formatProblem(p);
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    })
    .sort(
      (a, b) =>
        (fileOrder.get(a.file) ?? -1) - (fileOrder.get(b.file) ?? -1) ||
        a.line - b.line ||
        a.col - b.col,
    );
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
