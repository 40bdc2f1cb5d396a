/**
 * Checks rule files without starting anything:
 *
 *   tsx edge/rules-check.ts rules/*.yaml        OK per file, or every problem; exit 1 on any
 *   tsx edge/rules-check.ts --schema            print the rule-file JSON Schema (for editors)
 *
 * Checks the schema, the semantic rules of each condition type, the GB/T 50493-2019
 * setpoint maxima and duplicate ids across the files given. Checks against the
 * sensor catalogue (units, ranges) need the gateway config and run when the
 * gateway compiles the rules.
 */
import { pathToFileURL } from 'node:url';
import { rootLogger } from '../common/logger.js';
import { formatProblem, loadRuleFiles, RuleFileError } from './rule-loader.js';
import { ruleFileSchema } from './rule-schema.js';

const USAGE = 'usage: tsx edge/rules-check.ts <rules.yaml>... | --schema';

/** Runs the check; returns the exit code. Output goes through `write` (stdout by default). */
export function runRulesCheck(
  args: readonly string[],
  write: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
): number {
  if (args.includes('--schema')) {
    write(JSON.stringify(ruleFileSchema, null, 2));
    return 0;
  }
  const files = args.filter((arg) => !arg.startsWith('-'));
  if (files.length === 0 || files.length !== args.length) {
    write(USAGE);
    return 2;
  }
  let problems: RuleFileError['problems'] = [];
  try {
    const ruleSet = loadRuleFiles(files);
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
