import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  loadRuleFiles,
  loadRuleSources,
  RULE_SET_LIMITS,
  RuleFileError,
  type RuleSourceText,
} from '../../edge/rule-loader.js';
import { methaneRuleFile } from './fixtures.js';

/** The problem lines of a refused load (without the 'rule files refused' header). */
function problemsOf(load: () => unknown): string[] {
  try {
    load();
  } catch (err) {
    if (err instanceof RuleFileError) return err.problems.map((p) => formatLine(p));
    throw err;
  }
  throw new Error('expected a RuleFileError');
}

const formatLine = (p: RuleFileError['problems'][number]) =>
  `${p.file}:${p.line}:${p.col}${p.path === '' ? '' : ` ${p.path}:`} ${p.message}`;

const load = (text: string, file = 'plant.yaml') => loadRuleSources([{ file, text }]);

/** `count` compact gas rules on sensors S-0, S-1, ... (one line each). */
function manyRules(count: number, prefix = 'R'): string {
  const lines = ['version: 1', 'rules:'];
  for (let i = 0; i < count; i++) {
    lines.push(
      `  - { id: ${prefix}-${i}, sensor: S-${i}, type: gas, gas: methane, measure: LEL, level1: 20, level2: 40, deadband: 2, onDelayMs: 500 }`,
    );
  }
  return `${lines.join('\n')}\n`;
}

describe('every problem of a rule file in one run', () => {
  it('an unknown key hides the compliance errors of the same rule', () => {
    // Issue 11 item 4 / issue 12: the typo 'onDelay' used to hide that level 1 is above
    // the standard's maximum, so fixing the typo revealed a second error in a second run.
    const text = methaneRuleFile('    onDelay: 500\n').replace('level1: 20', 'level1: 30');
    expect(problemsOf(() => load(text))).toEqual([
      'plant.yaml:8:13 rules[0].level1: level1 30 %LEL is above the 25 %LEL maximum of GB/T 50493-2019 §5.5.3 item 1 (add a justification to deviate)',
      'plant.yaml:11:5 rules[0].onDelay: unknown key (allowed: id, sensor, description, justification, drill, latch, suppressWhen, actions, type, gas, measure, basis, level1, level2, deadband, onDelayMs, offDelayMs)',
    ]);
  });

  it('an unknown key inside an action does not hide the contradictions and action problems of its rule', () => {
    const text = `${methaneRuleFile().replace('level2: 40', 'level2: 10')}    actions:
      - { on: raised, output: fan, coil: 0, value: true, colour: red }
`;
    expect(problemsOf(() => load(text))).toEqual([
      'plant.yaml:9:13 rules[0].level2: level2 10 must be above level1 20: level 2 is the higher setpoint (GB/T 50493-2019 §5.5.3 items 1–3)',
      "plant.yaml:12:31 rules[0].actions[0].output: unknown output 'fan' (outputs: none)",
      'plant.yaml:12:58 rules[0].actions[0].colour: unknown key (allowed: on, limit, output, coil, register, value, readback, description)',
    ]);
  });

  it('a wrong value type still stops the checks of its rule (they would report noise), not of the others', () => {
    const text = `${methaneRuleFile().replace('level1: 20', 'level1: "20"')}  - { id: O2, sensor: AT-103, type: oxygen, deficiency: 18 }
`;
    expect(problemsOf(() => load(text))).toEqual([
      "plant.yaml:8:13 rules[0].level1: must be number (got '20')",
      'plant.yaml:11:57 rules[1].deficiency: deficiency 18 %VOL is looser than the 19.5 %VOL of GB/T 50493-2019 §5.5.3 item 4 (add a justification to deviate)',
    ]);
  });

  it('a file-level schema error does not hide the problems of its rules', () => {
    const text = methaneRuleFile()
      .replace('version: 1', 'version: 2')
      .replace('level2: 40', 'level2: 60');
    expect(problemsOf(() => load(text))).toEqual([
      'plant.yaml:1:10 version: must be 1 (got 2)',
      'plant.yaml:9:13 rules[0].level2: level2 60 %LEL is above the 50 %LEL maximum of GB/T 50493-2019 §5.5.3 item 2 (add a justification to deviate)',
    ]);
  });

  it('reports a duplicate id even when the first rule of that id is refused, across files, with the rest', () => {
    const first = methaneRuleFile('    colour: red\n');
    const second = methaneRuleFile().replace('level1: 20', 'level1: 30');
    expect(
      problemsOf(() =>
        loadRuleSources([
          { file: 'a.yaml', text: first },
          { file: 'b.yaml', text: second },
        ]),
      ),
    ).toEqual([
      expect.stringMatching(/^a\.yaml:11:5 rules\[0\]\.colour: unknown key/),
      "b.yaml:3:9 rules[0].id: duplicate rule id 'GT-101-gas' (first defined at a.yaml:3)",
      'b.yaml:8:13 rules[0].level1: level1 30 %LEL is above the 25 %LEL maximum of GB/T 50493-2019 §5.5.3 item 1 (add a justification to deviate)',
    ]);
  });
});

describe('contradictory limits are errors no justification overrides', () => {
  const justified = '    justification: Approved by the safety manager, ticket HSE-2026-014\n';

  it('a level-2 setpoint below level 1 is accepted with any justification', () => {
    const text = methaneRuleFile(justified).replace('level2: 40', 'level2: 15');
    expect(problemsOf(() => load(text))).toEqual([
      'plant.yaml:9:13 rules[0].level2: level2 15 must be above level1 20: level 2 is the higher setpoint (GB/T 50493-2019 §5.5.3 items 1–3)',
    ]);
  });

  it('a justification still waives a setpoint above the standard, and only that', () => {
    const rule = load(methaneRuleFile(justified).replace('level1: 20', 'level1: 30')).rules[0];
    expect(rule?.waived).toEqual([
      'level1: level1 30 %LEL is above the 25 %LEL maximum of GB/T 50493-2019 §5.5.3 item 1',
    ]);
  });

  it('refuses a gas deadband that reaches across the gap between level 1 and level 2', () => {
    const text = methaneRuleFile(justified)
      .replace('level2: 40', 'level2: 24')
      .replace('deadband: 2', 'deadband: 5');
    expect(problemsOf(() => load(text))).toEqual([
      'plant.yaml:10:15 rules[0].deadband: deadband 5 must be smaller than the gap between level1 20 and level2 24, or level 2 would stay active below the level 1 setpoint',
    ]);
  });

  const threshold = (limits: string) => `version: 1
rules:
  - id: T
    sensor: TT-201
    type: threshold
    justification: Approved by the safety manager, ticket HSE-2026-014
    limits:
${limits}`;

  it.each([
    [
      'HH below H',
      `      - { name: H, level: 1, direction: high, setpoint: 80, deadband: 1 }
      - { name: HH, level: 2, direction: high, setpoint: 70, deadband: 1 }
`,
      'plant.yaml:9:58 rules[0].limits[1].setpoint: HH setpoint 70 must be above H setpoint 80: level 2 is the more severe high limit',
    ],
    [
      'LL above L (a low alarm such as oxygen deficiency: level 2 is the lower one)',
      `      - { name: L, level: 1, direction: low, setpoint: 19.5, deadband: 0.2 }
      - { name: LL, level: 2, direction: low, setpoint: 19.8, deadband: 0.2 }
`,
      'plant.yaml:9:57 rules[0].limits[1].setpoint: LL setpoint 19.8 must be below L setpoint 19.5: level 2 is the more severe low limit',
    ],
    [
      'an HH deadband wider than the gap to H',
      `      - { name: H, level: 1, direction: high, setpoint: 80, deadband: 1 }
      - { name: HH, level: 2, direction: high, setpoint: 85, deadband: 6 }
`,
      'plant.yaml:9:72 rules[0].limits[1].deadband: HH deadband 6 must be smaller than the gap of 5 to H, or HH would stay active beyond the H setpoint',
    ],
    [
      'high and low deadbands that overlap',
      `      - { name: H, level: 1, direction: high, setpoint: 30, deadband: 15 }
      - { name: L, level: 1, direction: low, setpoint: 10, deadband: 6 }
`,
      'plant.yaml:8:71 rules[0].limits[0].deadband: deadbands of high limit H (30 − 15) and low limit L (10 + 6) overlap: both could be active at once',
    ],
  ])('refuses %s', (_name, limits, problem) => {
    expect(problemsOf(() => load(threshold(limits)))).toEqual([problem]);
  });

  it('refuses oxygen limits that leave normal air in alarm, with a justification', () => {
    const text = `version: 1
rules:
  - { id: O2, sensor: AT-103, type: oxygen, deficiency: 21.5, justification: ticket HSE-1 }
`;
    expect(problemsOf(() => load(text))).toEqual([
      'plant.yaml:3:57 rules[0].deficiency: deficiency 21.5 %VOL must be below normal air (20.9 %VOL), or it alarms constantly',
    ]);
  });
});

describe('rule set limits', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('has defaults a large plant fits comfortably: 2 MB per file, 20,000 rules, 64 limits per sensor', () => {
    expect(RULE_SET_LIMITS).toEqual({
      maxFileBytes: 2 * 1024 * 1024,
      maxRules: 20_000,
      maxLimitsPerSensor: 64,
    });
  });

  it('a 5 MB rule file with 47,000 rules is accepted', () => {
    // Issue 12: it was (37 s, 920 MB). Now it is refused by its size alone, before any
    // parsing: the YAML error planted at its end is never reported, so it was never read
    // as YAML.
    const text = `${manyRules(47_000)}  - { broken: [ \n`;
    expect(Buffer.byteLength(text)).toBeGreaterThan(5 * 1024 * 1024);
    const problems = problemsOf(() => load(text, 'runaway.yaml'));
    expect(problems).toEqual([
      expect.stringMatching(
        /^runaway\.yaml:1:1 file is 5\.\d MB \(\d+ bytes\), over the limit of 2 MB \(rule loader option maxFileBytes\); refused without parsing\. Split the rules into several files$/,
      ),
    ]);
  });

  it('checks the size of a file on disk before reading it, and names the file', () => {
    dir = mkdtempSync(join(tmpdir(), 'hw-rule-limits-'));
    const big = join(dir, 'big.yaml');
    const good = join(dir, 'good.yaml');
    writeFileSync(big, `${manyRules(20)}  - { broken: [ \n`);
    writeFileSync(good, methaneRuleFile());
    expect(problemsOf(() => loadRuleFiles([good, big], { maxFileBytes: 1024 }))).toEqual([
      expect.stringMatching(
        new RegExp(`^${big}:1:1 file is [\\d.]+ kB \\(\\d+ bytes\\), over the limit of 1 kB`),
      ),
    ]);
  });

  it('refuses a set over maxRules before checking any rule, naming each file and the limit', () => {
    const sources: RuleSourceText[] = [
      { file: 'a.yaml', text: manyRules(3, 'A') },
      { file: 'b.yaml', text: manyRules(3, 'B').replace('level1: 20', 'level1: 99') },
    ];
    expect(problemsOf(() => loadRuleSources(sources, { maxRules: 5 }))).toEqual([
      'b.yaml:2:1 rules: the rule set has 6 rules (a.yaml: 3, b.yaml: 3), over the limit of 5 (rule loader option maxRules); no rule was checked',
    ]);
    expect(loadRuleSources(sources.slice(0, 1), { maxRules: 5 }).rules).toHaveLength(3);
  });

  it('refuses more alarm limits on one sensor than maxLimitsPerSensor, at the rule that crosses it', () => {
    const text = `${methaneRuleFile()}  - { id: GT-101-fault, sensor: GT-101, type: fault }
  - { id: GT-101-stale, sensor: GT-101, type: stale, timeoutMs: 30000 }
  - { id: hall-2oo2, type: vote, sensors: [GT-101, GT-102], k: 2, setpoint: 20, deadband: 2 }
`;
    expect(load(text).rules).toHaveLength(4); // 6 limits on GT-101: within the default
    expect(
      problemsOf(() => loadRuleSources([{ file: 'p.yaml', text }], { maxLimitsPerSensor: 4 })),
    ).toEqual([
      "p.yaml:12:33 rules[2].sensor: sensor 'GT-101' has 6 alarm limits across the rule set, over the limit of 4 (rule loader option maxLimitsPerSensor); this rule crosses it",
    ]);
  });

  it('refuses a limit option that is not a positive integer, naming it', () => {
    expect(() => loadRuleSources([], { maxRules: 0 })).toThrow(
      'rule loader option maxRules must be a positive integer (got 0)',
    );
  });
});
