import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { GasRule, OxygenRule, ThresholdRule } from '../../edge/conditions/index.js';
import { loadRuleFiles, loadRuleSources, RuleFileError } from '../../edge/rule-loader.js';
import { demoRulesPath, methaneRuleFile } from './fixtures.js';

function problemsOf(load: () => unknown): string[] {
  try {
    load();
  } catch (err) {
    if (err instanceof RuleFileError) return err.message.split('\n').slice(1);
    throw err;
  }
  throw new Error('expected a RuleFileError');
}

describe('loadRuleFiles', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('loads the demo plant rules into frozen, normalised rules', () => {
    const ruleSet = loadRuleFiles([demoRulesPath]);
    expect(ruleSet.rules.map((rule) => rule.id)).toEqual([
      'GT-101-gas',
      'AT-102-gas',
      'AT-103-oxygen',
      'AT-104-gas',
      'TT-201-temperature',
      'PT-202-pressure',
      'LT-203-level',
    ]);
    expect(Object.isFrozen(ruleSet.rules[0])).toBe(true);
    const methane = ruleSet.rules[0] as GasRule;
    expect(methane).toMatchObject({ gas: 'methane', level1: 20, level2: 40, offDelayMs: 0 });
    expect(methane.source).toMatchObject({ file: demoRulesPath, index: 0, line: 12, col: 5 });
    const oxygen = ruleSet.rules[2] as OxygenRule;
    expect(oxygen).toMatchObject({ deficiency: 19.5, enrichment: 23.5, level: 1 });
    const level = ruleSet.rules[6] as ThresholdRule;
    expect(level.limits.map((limit) => limit.name)).toEqual(['H', 'HH', 'L']);
  });

  it('resolves gas aliases and formulas to the gas table name', () => {
    const text = methaneRuleFile().replace('gas: methane', 'gas: CH4');
    const rule = loadRuleSources([{ file: 'a.yaml', text }]).rules[0] as GasRule;
    expect(rule.gas).toBe('methane');
  });

  it('keeps the justification of a rule above the GB/T 50493 maxima and records what it waives', () => {
    const text = methaneRuleFile('    justification: Purge during turnaround, ticket HSE-14\n')
      .replace('level1: 20', 'level1: 30')
      .replace('level2: 40', 'level2: 50');
    const rule = loadRuleSources([{ file: 'a.yaml', text }]).rules[0]!;
    expect(rule.justification).toBe('Purge during turnaround, ticket HSE-14');
    expect(rule.waived).toEqual([
      'level1: level1 30 %LEL is above the 25 %LEL maximum of GB/T 50493-2019 §5.5.3 item 1',
    ]);
  });

  it('refuses 30 %LEL at level 1 without a justification, citing GB/T 50493-2019 with file, line and key path', () => {
    const text = methaneRuleFile().replace('level1: 20', 'level1: 30');
    expect(problemsOf(() => loadRuleSources([{ file: 'rules/plant.yaml', text }]))).toEqual([
      'rules/plant.yaml:8:13 rules[0].level1: level1 30 %LEL is above the 25 %LEL maximum of GB/T 50493-2019 §5.5.3 item 1 (add a justification to deviate)',
    ]);
  });

  it('reports every problem of every file in one error, in file and line order', () => {
    const good = methaneRuleFile();
    const bad = `version: 1
rules:
  - id: TT-201-temperature
    sensor: TT-201
    type: treshold
  - id: GT-101-gas
    sensor: AT-103
    type: oxygen
`;
    const err = (() => {
      try {
        loadRuleSources([
          { file: 'one.yaml', text: good },
          { file: 'two.yaml', text: bad },
        ]);
      } catch (caught) {
        return caught as RuleFileError;
      }
      throw new Error('expected a RuleFileError');
    })();
    expect(err).toBeInstanceOf(RuleFileError);
    expect(err.problems).toEqual([
      {
        file: 'two.yaml',
        line: 5,
        col: 11,
        path: 'rules[0].type',
        message:
          "unknown condition type 'treshold' (known: gas, oxygen, threshold, rate, stale, fault, stuck, vote, combination, window)",
      },
      {
        file: 'two.yaml',
        line: 6,
        col: 9,
        path: 'rules[1].id',
        message: "duplicate rule id 'GT-101-gas' (first defined at one.yaml:3)",
      },
    ]);
    expect(err.message).toBe(
      [
        'rule files refused, 2 problems:',
        "two.yaml:5:11 rules[0].type: unknown condition type 'treshold' (known: gas, oxygen, threshold, rate, stale, fault, stuck, vote, combination, window)",
        "two.yaml:6:9 rules[1].id: duplicate rule id 'GT-101-gas' (first defined at one.yaml:3)",
      ].join('\n'),
    );
  });

  it('names a file it cannot read', () => {
    dir = mkdtempSync(join(tmpdir(), 'hw-rules-'));
    const missing = join(dir, 'missing.yaml');
    expect(problemsOf(() => loadRuleFiles([missing]))).toEqual([
      `${missing}:1:1 cannot read file (ENOENT)`,
    ]);
  });

  it('reads files from disk and reports their path as given', () => {
    dir = mkdtempSync(join(tmpdir(), 'hw-rules-'));
    const file = join(dir, 'plant.yaml');
    writeFileSync(file, methaneRuleFile().replace('measure: LEL', 'measure: percent'));
    expect(problemsOf(() => loadRuleFiles([file]))).toEqual([
      `${file}:7:14 rules[0].measure: must be one of LEL, VOL, OEL, IDLH, ppm, LELm (got 'percent')`,
    ]);
  });

  it('reports YAML syntax errors with their line and column', () => {
    // Kept inline rather than as a cases/ fixture: biome would refuse to format a broken YAML file.
    const text = 'version: 1\nrules:\n  - id: GT-101-gas\n    sensor: GT-101\n   type: gas\n';
    expect(problemsOf(() => loadRuleSources([{ file: 'y.yaml', text }]))).toEqual([
      'y.yaml:5:1 YAML: Sequence item without - indicator',
    ]);
  });

  it('refuses an empty file and a file that is not a mapping', () => {
    expect(problemsOf(() => loadRuleSources([{ file: 'e.yaml', text: '' }]))).toEqual([
      'e.yaml:1:1 must be object (got null)',
    ]);
    expect(problemsOf(() => loadRuleSources([{ file: 'l.yaml', text: '- 1\n' }]))).toEqual([
      'l.yaml:1:1 must be object (got [1])',
    ]);
  });

  it('accepts stricter oxygen setpoints and refuses looser ones without a justification', () => {
    const oxygen = (deficiency: number, enrichment: number) => `version: 1
rules:
  - { id: O2, sensor: AT-103, type: oxygen, deficiency: ${deficiency}, enrichment: ${enrichment} }
`;
    const rule = loadRuleSources([{ file: 'o.yaml', text: oxygen(19.8, 23) }]).rules[0];
    expect(rule).toMatchObject({ deficiency: 19.8, enrichment: 23 });
    expect(problemsOf(() => loadRuleSources([{ file: 'o.yaml', text: oxygen(19, 23) }]))).toEqual([
      'o.yaml:3:57 rules[0].deficiency: deficiency 19 %VOL is looser than the 19.5 %VOL of GB/T 50493-2019 §5.5.3 item 4 (add a justification to deviate)',
    ]);
  });
});
