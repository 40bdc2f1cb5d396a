/**
 * Checks rule files without starting anything:
 *
 *   tsx edge/rules-check.ts rules/*.yaml        OK per file, or every problem; exit 1 on any
 *   tsx edge/rules-check.ts --schema            print the rule-file JSON Schema (for editors)
 *   tsx edge/rules-check.ts --sensors sensors.json rules/*.yaml
 *                                               also compile against a sensor catalogue (a JSON
 *                                               array of SensorInfo): units, ranges, vote and
 *                                               combination inputs, alarm references
 *
 * Checks the limits of the set (file size, rule count, limits per sensor; rule-limits.ts),
 * the schema, the semantic rules of each condition type (contradictions are errors), the
 * GB/T 50493-2019 setpoint maxima and duplicate ids across the files given, and reports
 * every problem in one run. Checks against the sensor catalogue (units, ranges) and the
 * gateway's devices (outputs) need the gateway config and run when the gateway loads
 * the rules.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { rootLogger } from '../common/logger.js';
import type { SensorInfo } from '../protocol/index.js';
import { compileRuleSet } from './engine/index.js';
import { formatProblem, loadRuleFiles, RuleFileError } from './rule-loader.js';
import { ruleFileSchema } from './rule-schema.js';

const USAGE =
  'usage: tsx edge/rules-check.ts [--sensors <sensors.json>] <rules.yaml>... | --schema';

/** Runs the check; returns the exit code. Output goes through `write` (stdout by default). */
export function runRulesCheck(
  args: readonly string[],
  write: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
): number {
  if (args.includes('--help') || args.includes('-h')) {
    write(USAGE);
    return 0;
  }
  if (args.includes('--schema')) {
    write(JSON.stringify(ruleFileSchema, null, 2));
    return 0;
  }
  let rest = [...args];
  let sensors: Map<string, SensorInfo> | undefined;
  const at = rest.indexOf('--sensors');
  if (at >= 0) {
    const catalogue = rest[at + 1];
    if (catalogue === undefined) {
      write(USAGE);
      return 2;
    }
    try {
      const list = JSON.parse(readFileSync(catalogue, 'utf8')) as SensorInfo[];
      sensors = new Map(list.map((sensor) => [sensor.sensorId, sensor]));
    } catch (err) {
      write(`${catalogue}: cannot read the sensor catalogue (${(err as Error).message})`);
      return 2;
    }
    rest = [...rest.slice(0, at), ...rest.slice(at + 2)];
  }
  const files = rest.filter((arg) => !arg.startsWith('-'));
  if (files.length === 0 || files.length !== rest.length) {
    write(USAGE);
    return 2;
  }
  let problems: RuleFileError['problems'] = [];
  try {
    const ruleSet = loadRuleFiles(files);
    if (sensors) compileRuleSet(ruleSet, sensors);
    for (const file of files) {
      const rules = ruleSet.rules.filter((rule) => rule.source.file === file);
      write(`OK ${file} (${rules.length} ${rules.length === 1 ? 'rule' : 'rules'})`);
      for (const rule of rules) {
        for (const waived of rule.waived) {
          write(`  ${rule.id} deviates, accepted with justification: ${waived}`);
        }
      }
    }
    return 0;
  } catch (err) {
    if (!(err instanceof RuleFileError)) throw err;
    problems = err.problems;
  }
  for (const file of files) {
    const mine = problems.filter((problem) => problem.file === file);
    if (mine.length === 0) write(`OK ${file}`);
    for (const problem of mine) write(formatProblem(problem));
  }
  return 1;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  rootLogger.level = 'silent'; // this command reports on stdout itself
  process.exitCode = runRulesCheck(process.argv.slice(2));
}
