/**
 * Bounds of a rule set, so that a runaway or hostile rule file is refused with a clear
 * error instead of stalling the gateway (issue 12: a 5 MB file of 47,000 rules took
 * 37 s and 920 MB to load). Defaults fit a large plant comfortably; each is a loader
 * option. The size is checked before the file is parsed, the rule count before any rule
 * is validated, the limits per sensor once the rules are checked.
 */
import { conditionType, type Rule } from './conditions/index.js';
import type { RuleProblem } from './rule-loader.js';
import { formatKeyPath } from './rule-types.js';

export const RULE_SET_LIMITS = {
  // Per file, checked before parsing. A block-style rule with its comment is about
  // 150–300 bytes, so 2 MB holds several thousand rules; split a plant by unit or area.
  maxFileBytes: 2 * 1024 * 1024, // 2 MB
  // Across every file of the set; issue 12's figure for a large plant (and the size the
  // reload-stall bench uses).
  maxRules: 20_000,
  // Alarm limits evaluated per reading of one sensor. A heavily watched gas detector has
  // about a dozen (gas 2, fault 2, stale, stuck, rate, window, threshold up to 4), plus the
  // votes it takes part in; 64 leaves ample room and bounds the work of one reading.
  maxLimitsPerSensor: 64,
} as const;

export interface RuleSetLimits {
  /** Largest rule file, bytes (default 2 MB). */
  readonly maxFileBytes: number;
  /** Most rules across all files of the set (default 20,000). */
  readonly maxRules: number;
  /** Most alarm limits on one sensor across all rules (default 64). */
  readonly maxLimitsPerSensor: number;
}

/** The limits with defaults applied; throws on a limit that is not a positive integer. */
export function resolveLimits(options: Partial<RuleSetLimits> = {}): RuleSetLimits {
  const limits: Record<string, number> = { ...RULE_SET_LIMITS };
  for (const key of Object.keys(RULE_SET_LIMITS) as (keyof RuleSetLimits)[]) {
    const value = options[key];
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new Error(`rule loader option ${key} must be a positive integer (got ${value})`);
    }
    limits[key] = value;
  }
  return limits as unknown as RuleSetLimits;
}

/** Sizes in messages: bytes as MB (or kB) with at most 1 decimal. */
export function formatBytes(bytes: number): string {
  const mib = 1024 * 1024;
  if (bytes >= mib) return `${Math.round((bytes / mib) * 10) / 10} MB`;
  return `${Math.round((bytes / 1024) * 10) / 10} kB`;
}

/** The problem of a file over `maxFileBytes`, or undefined; it is then neither read nor parsed. */
export function fileTooLarge(
  file: string,
  bytes: number,
  limits: RuleSetLimits,
): RuleProblem | undefined {
  if (bytes <= limits.maxFileBytes) return undefined;
  return {
    file,
    line: 1,
    col: 1,
    path: '',
    message: `file is ${formatBytes(bytes)} (${bytes} bytes), over the limit of ${formatBytes(limits.maxFileBytes)} (rule loader option maxFileBytes); refused without parsing. Split the rules into several files`,
  };
}

/** Number of rules per file, in set order, for the rule-count check. */
export interface RuleCount {
  readonly file: string;
  readonly count: number;
  /** Position of the file's `rules:` list. */
  readonly line: number;
  readonly col: number;
}

/** The problem of a set over `maxRules`, at the file whose rules cross the limit. */
export function tooManyRules(
  counts: readonly RuleCount[],
  limits: RuleSetLimits,
): RuleProblem | undefined {
  const total = counts.reduce((sum, c) => sum + c.count, 0);
  if (total <= limits.maxRules) return undefined;
  let running = 0;
  const crossing = counts.find((c) => {
    running += c.count;
    return running > limits.maxRules;
  });
  if (!crossing) return undefined;
  const perFile = counts
    .filter((c) => c.count > 0)
    .map((c) => `${c.file}: ${c.count}`)
    .join(', ');
  return {
    file: crossing.file,
    line: crossing.line,
    col: crossing.col,
    path: 'rules',
    message: `the rule set has ${total} rules (${perFile}), over the limit of ${limits.maxRules} (rule loader option maxRules); no rule was checked`,
  };
}

/** Sensors whose readings evaluate a rule's limits: its sensor, and a vote's voters. */
function sensorsOf(rule: Rule): readonly string[] {
  return rule.type === 'vote' ? [...new Set(rule.sensors)] : [rule.sensor];
}

/**
 * One problem per sensor with more than `maxLimitsPerSensor` limits, at the rule that
 * crosses the limit (its `sensor:` or `sensors:` key).
 */
export function checkLimitsPerSensor(rules: readonly Rule[], limits: RuleSetLimits): RuleProblem[] {
  const totals = new Map<string, number>();
  const perRule = rules.map((rule) => conditionType(rule.type)?.limits(rule).length ?? 0);
  rules.forEach((rule, i) => {
    for (const sensor of sensorsOf(rule)) {
      totals.set(sensor, (totals.get(sensor) ?? 0) + (perRule[i] ?? 0));
    }
  });
  const problems: RuleProblem[] = [];
  const running = new Map<string, number>();
  rules.forEach((rule, i) => {
    for (const sensor of sensorsOf(rule)) {
      const before = running.get(sensor) ?? 0;
      const after = before + (perRule[i] ?? 0);
      running.set(sensor, after);
      if (before > limits.maxLimitsPerSensor || after <= limits.maxLimitsPerSensor) continue;
      const key = rule.type === 'vote' ? 'sensors' : 'sensor';
      const at = rule.source.keys[key] ?? rule.source;
      problems.push({
        file: rule.source.file,
        line: at.line,
        col: at.col,
        path: formatKeyPath(['rules', rule.source.index, key]),
        message: `sensor '${sensor}' has ${totals.get(sensor)} alarm limits across the rule set, over the limit of ${limits.maxLimitsPerSensor} (rule loader option maxLimitsPerSensor); this rule crosses it`,
      });
    }
  });
  return problems;
}
