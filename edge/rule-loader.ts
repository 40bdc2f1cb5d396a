/**
 * Loads rule files (YAML) into a frozen RuleSet. Every file is parsed with
 * positions, validated against the one rule-file schema (ajv, all errors), then
 * each rule gets its condition type's semantic and compliance checks, and rule
 * ids are checked for uniqueness across files. Nothing is returned unless every
 * file is clean: the thrown RuleFileError lists every problem as
 * `<file>:<line>:<col> <key path>: <message>`.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject } from 'ajv';
import {
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
} from 'yaml';
import { createLogger } from '../common/logger.js';
import { checkTerms, toTerms } from './conditions/combination.js';
import { CONDITION_TYPE_NAMES, conditionType, type Rule } from './conditions/index.js';
import { ruleFileSchema } from './rule-schema.js';
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

const ajv = new Ajv({
  allErrors: true,
  strict: true,
  discriminator: true,
  verbose: true, // errors carry the data and parent schema, for 'got ...' and 'allowed: ...'
});
const validateRuleFile = ajv.compile(ruleFileSchema);

/** Reads, validates and checks rule files; throws RuleFileError listing every problem. */
export function loadRuleFiles(paths: readonly string[]): RuleSet {
  const sources: RuleSourceText[] = [];
  const unreadable: RuleProblem[] = [];
  for (const file of paths) {
    try {
      sources.push({ file, text: readFileSync(file, 'utf8') });
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      unreadable.push({ file, line: 1, col: 1, path: '', message: `cannot read file (${reason})` });
    }
  }
  return loadRuleSources(sources, unreadable);
}

/** As loadRuleFiles, from text already in memory (tests, hot reload). */
export function loadRuleSources(
  sources: readonly RuleSourceText[],
  earlierProblems: readonly RuleProblem[] = [],
): RuleSet {
  const problems: RuleProblem[] = [...earlierProblems];
  const rules: Rule[] = [];
  const outputs: OutputDevice[] = [];
  const firstById = new Map<string, RuleSource>();
  for (const source of sources) {
    const fileRules = loadOne(source, problems, outputs);
    for (const rule of fileRules) {
      const first = firstById.get(rule.id);
      if (first) {
        const at = rule.source.keys.id ?? rule.source;
        problems.push({
          file: rule.source.file,
          line: at.line,
          col: at.col,
          path: formatKeyPath(['rules', rule.source.index, 'id']),
          message: `duplicate rule id '${rule.id}' (first defined at ${
            first.file === rule.source.file ? 'line ' : `${first.file}:`
          }${first.line})`,
        });
        continue;
      }
      firstById.set(rule.id, rule.source);
      rules.push(rule);
    }
  }
  checkActions(rules, outputs, problems);
  if (problems.length > 0) throw new RuleFileError(sortProblems(problems, sources));
  for (const rule of rules) {
    if (rule.waived.length > 0) {
      log.warn(
        { ruleId: rule.id, waived: rule.waived, justification: rule.justification },
        'rule deviates from a compliance check, accepted with justification',
      );
    }
  }
  return deepFreeze({ files: sources.map((s) => s.file), rules, outputs });
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

/** Parses and checks one file; pushes its problems and returns its rules (valid ones only). */
function loadOne(source: RuleSourceText, problems: RuleProblem[], outputs: OutputDevice[]): Rule[] {
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
    return [];
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    problems.push({ file, line: 1, col: 1, path: '', message: `YAML: ${(err as Error).message}` });
    return [];
  }
  const locate = (path: KeyPath, want: 'key' | 'value' = 'value'): Position => {
    const found = findNode(doc.contents, path, doc);
    const node = want === 'key' ? (found.key ?? found.value) : (found.value ?? found.key);
    const offset = node?.range?.[0] ?? found.parent?.range?.[0] ?? 0;
    return at(offset);
  };

  const badRules = new Set<number>();
  if (!validateRuleFile(data)) {
    for (const error of validateRuleFile.errors ?? []) {
      const problem = describeSchemaError(error, locate);
      problems.push({ file, ...problem });
      const index = ruleIndexOf(error.instancePath);
      if (index !== undefined) badRules.add(index);
      else badRules.add(-1);
    }
  }
  if (badRules.has(-1)) return [];
  const rawOutputs = (data as { outputs?: unknown }).outputs;
  if (Array.isArray(rawOutputs)) {
    rawOutputs.forEach((raw: Record<string, unknown>, index) => {
      const id = String(raw.id);
      if (outputs.some((o) => o.id === id)) {
        const path = ['outputs', index, 'id'];
        problems.push({
          file,
          ...locate(path),
          path: formatKeyPath(path),
          message: `duplicate output id '${id}'`,
        });
        return;
      }
      outputs.push({
        id,
        host: String(raw.host),
        port: Number(raw.port),
        unitId: typeof raw.unitId === 'number' ? raw.unitId : 1,
        timeoutMs: typeof raw.timeoutMs === 'number' ? raw.timeoutMs : 1000,
        file,
      });
    });
  }
  const rawRules = (data as { rules?: unknown }).rules;
  if (!Array.isArray(rawRules)) return [];

  const rules: Rule[] = [];
  rawRules.forEach((raw: Record<string, unknown>, index) => {
    if (badRules.has(index)) return;
    const rulePath = ['rules', index] as const;
    const condition = conditionType(String(raw.type));
    if (!condition) return; // the schema's discriminator already reported it
    const rulePos = locate(rulePath);
    const keys: Record<string, Position> = {};
    const ruleNode = findNode(doc.contents, rulePath, doc).value;
    collectPositions(ruleNode, [], keys, at, doc);
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
    const checked = condition.check(rule);
    let refused = false;
    const report = (path: KeyPath, message: string) => {
      refused = true;
      const full = [...rulePath, ...path];
      problems.push({ file, ...locate(full), path: formatKeyPath(full), message });
    };
    if (justification === '') report(['justification'], 'must not be blank');
    for (const issue of checked.errors) report(issue.path, issue.message);
    for (const issue of checkTerms(rule.suppressWhen ?? [], 'suppressWhen')) {
      report(issue.path, issue.message);
    }
    for (const issue of checked.compliance) {
      if (justification) waived.push(`${formatKeyPath(issue.path)}: ${issue.message}`);
      else report(issue.path, `${issue.message} (add a justification to deviate)`);
    }
    if (!refused) rules.push(rule);
  });
  return rules;
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

/** The rule index an ajv instancePath points into (`/rules/3/...` → 3). */
function ruleIndexOf(instancePath: string): number | undefined {
  const match = /^\/rules\/(\d+)(\/|$)/.exec(instancePath);
  return match ? Number(match[1]) : undefined;
}

function pointerToPath(pointer: string): (string | number)[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((part) => (/^\d+$/.test(part) ? Number(part) : part));
}

function show(value: unknown): string {
  if (typeof value === 'number') return String(value); // JSON would show Infinity as null
  const text = typeof value === 'string' ? `'${value}'` : JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

type Locate = (path: KeyPath, want?: 'key' | 'value') => Position;

/** Turns one ajv error into a problem a plant engineer can act on. */
function describeSchemaError(
  error: ErrorObject,
  locate: Locate,
): Omit<RuleProblem, 'file'> & { path: string } {
  const path = pointerToPath(error.instancePath);
  const params = error.params as Record<string, unknown>;
  const here = (message: string, at: KeyPath = path, want: 'key' | 'value' = 'value') => ({
    ...locate(at, want),
    path: formatKeyPath(at),
    message,
  });
  const parentSchema = error.parentSchema as { properties?: Record<string, unknown> } | undefined;
  switch (error.keyword) {
    case 'required': {
      const missing = String(params.missingProperty);
      return {
        ...locate(path),
        path: formatKeyPath([...path, missing]),
        message: 'missing required key',
      };
    }
    case 'additionalProperties': {
      const extra = String(params.additionalProperty);
      const allowed = Object.keys(parentSchema?.properties ?? {}).join(', ');
      return here(`unknown key (allowed: ${allowed})`, [...path, extra], 'key');
    }
    case 'discriminator': {
      if (params.error === 'mapping') {
        return here(
          `unknown condition type ${show(params.tagValue)} (known: ${CONDITION_TYPE_NAMES.join(', ')})`,
          [...path, 'type'],
        );
      }
      if (params.tagValue === undefined) {
        return {
          ...locate(path),
          path: formatKeyPath([...path, 'type']),
          message: 'missing required key',
        };
      }
      return here(
        `must be one of ${CONDITION_TYPE_NAMES.join(', ')} (got ${show(params.tagValue)})`,
        [...path, 'type'],
      );
    }
    case 'enum': {
      const allowed = (params.allowedValues as unknown[]).map((v) => String(v)).join(', ');
      return here(`must be one of ${allowed} (got ${show(error.data)})`);
    }
    case 'const':
      return here(`must be ${show(params.allowedValue)} (got ${show(error.data)})`);
    case 'type':
      return here(`must be ${String(params.type)} (got ${show(error.data)})`);
    default:
      return here(`${error.message ?? 'is invalid'} (got ${show(error.data)})`);
  }
}

interface Found {
  readonly parent: Node | null;
  readonly key: Node | null;
  readonly value: Node | null;
}

/** Follows a key path through the YAML tree; stops at the deepest node that exists. */
function findNode(root: unknown, path: KeyPath, doc: Parameters<typeof resolveAlias>[1]): Found {
  let node = resolveAlias(root, doc);
  let parent: Node | null = null;
  let key: Node | null = null;
  for (const step of path) {
    if (isMap(node)) {
      const pair = node.items.find(
        (item) => isScalar(item.key) && String(item.key.value) === String(step),
      );
      if (!pair) return { parent: node, key: null, value: null };
      parent = node;
      key = (pair.key as Node) ?? null;
      node = resolveAlias(pair.value, doc);
      if (node === null) return { parent, key, value: null };
    } else if (isSeq(node) && typeof step === 'number') {
      const item = node.items[step];
      if (item === undefined) return { parent: node, key: null, value: null };
      parent = node;
      key = null;
      node = resolveAlias(item, doc);
    } else {
      return { parent, key, value: (node as Node | null) ?? null };
    }
  }
  return { parent, key, value: (node as Node | null) ?? null };
}

function resolveAlias(node: unknown, doc: ReturnType<typeof parseDocument>): Node | null {
  if (isAlias(node)) return (node.resolve(doc) as Node | undefined) ?? null;
  if (isPair(node)) return null;
  return (node as Node | null | undefined) ?? null;
}

/** Records the position of every key under a rule, by formatted relative path. */
function collectPositions(
  node: Node | null,
  path: (string | number)[],
  out: Record<string, Position>,
  at: (offset: number) => Position,
  doc: ReturnType<typeof parseDocument>,
): void {
  if (isMap(node)) {
    for (const pair of node.items) {
      if (!isScalar(pair.key)) continue;
      const childPath = [...path, String(pair.key.value)];
      const value = resolveAlias(pair.value, doc);
      const offset = value?.range?.[0] ?? (pair.key as Node).range?.[0];
      if (offset !== undefined) out[formatKeyPath(childPath)] = at(offset);
      collectPositions(value, childPath, out, at, doc);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, index) => {
      const value = resolveAlias(item, doc);
      const childPath = [...path, index];
      const offset = value?.range?.[0];
      if (offset !== undefined) out[formatKeyPath(childPath)] = at(offset);
      collectPositions(value, childPath, out, at, doc);
    });
  }
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
