import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CONDITION_TYPE_NAMES } from '../../edge/conditions/index.js';
import { runRulesCheck } from '../../edge/rules-check.js';
import { demoRulesPath, methaneRuleFile, repoRoot } from './fixtures.js';

const execFileAsync = promisify(execFile);
const tsx = join(repoRoot, 'node_modules', '.bin', 'tsx');
const run = (args: string[]) => execFileAsync(tsx, args, { cwd: repoRoot });

describe('rules-check', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hw-rules-check-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  function check(args: string[]) {
    const lines: string[] = [];
    const code = runRulesCheck(args, (line) => lines.push(line));
    return { code, lines };
  }

  it('prints OK for each clean file and exits 0', () => {
    const other = join(dir, 'extra.yaml');
    writeFileSync(other, methaneRuleFile().replace('GT-101-gas', 'GT-101-extra'));
    expect(check([demoRulesPath, other])).toEqual({
      code: 0,
      lines: [`OK ${demoRulesPath} (7 rules)`, `OK ${other} (1 rule)`],
    });
  });

  it('prints every problem as file:line:col key path: message, OK for the clean files, and exits 1', () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(
      bad,
      methaneRuleFile()
        .replace('level1: 20', 'level1: 30')
        .replace('type: gas', 'type: gas\n    colour: red'),
    );
    const { code, lines } = check([demoRulesPath, bad]);
    expect(code).toBe(1);
    expect(lines).toEqual([
      `OK ${demoRulesPath}`,
      // All at once: the unknown key hides neither the duplicate id nor the compliance error.
      `${bad}:3:9 rules[0].id: duplicate rule id 'GT-101-gas' (first defined at ${demoRulesPath}:12)`,
      `${bad}:6:5 rules[0].colour: unknown key (allowed: id, sensor, description, justification, drill, latch, suppressWhen, actions, type, gas, measure, basis, level1, level2, deadband, onDelayMs, offDelayMs)`,
      `${bad}:9:13 rules[0].level1: level1 30 %LEL is above the 25 %LEL maximum of GB/T 50493-2019 §5.5.3 item 1 (add a justification to deviate)`,
    ]);
  });

  it('lists the deviations a clean file accepts with a justification', () => {
    const justified = join(dir, 'justified.yaml');
    writeFileSync(
      justified,
      methaneRuleFile('    justification: Purge during turnaround, ticket HSE-14\n').replace(
        'level1: 20',
        'level1: 30',
      ),
    );
    expect(check([justified]).lines).toEqual([
      `OK ${justified} (1 rule)`,
      '  GT-101-gas deviates, accepted with justification: level1: level1 30 %LEL is above the 25 %LEL maximum of GB/T 50493-2019 §5.5.3 item 1',
    ]);
  });

  it('with --sensors also checks the rules against a sensor catalogue, naming file, line and key path', () => {
    const catalogue = join(dir, 'sensors.json');
    writeFileSync(
      catalogue,
      JSON.stringify([{ sensorId: 'GT-101', name: 'x', kind: 'gas', unit: 'ppm', gas: 'methane' }]),
    );
    const file = join(dir, 'plant.yaml');
    writeFileSync(
      file,
      `${methaneRuleFile()}  - { id: v, type: vote, sensors: [GT-101, GT-102], k: 2, setpoint: 20 }\n`,
    );
    const { code, lines } = check(['--sensors', catalogue, file]);
    expect(code).toBe(1);
    expect(lines).toEqual([
      `${file}:7:14 rules[0].measure: measure LEL needs a sensor reporting %LEL, but sensor 'GT-101' reports 'ppm'`,
      `${file}:11:44 rules[1].sensors[1]: sensor 'GT-102' is not in the gateway's sensor catalogue`,
    ]);
  });

  it('rules/README.md documents every registered condition type, and none as a later layer', () => {
    // Issue 11 item 3: the README said fault alarms "come in a later layer" while type: fault existed.
    const readme = readFileSync(join(repoRoot, 'rules', 'README.md'), 'utf8');
    for (const type of CONDITION_TYPE_NAMES) expect(readme).toContain(`### \`type: ${type}\``);
    expect(readme).not.toMatch(/later layer/i);
    // What a fault alarm carries is explained: its level, its setpoint of 1, its empty unit.
    const fault = readme.slice(
      readme.indexOf('### `type: fault`'),
      readme.indexOf('### `type: stuck`'),
    );
    expect(fault).toMatch(/\*\*level\*\*/);
    expect(fault).toMatch(/\*\*setpoint 1\*\*/);
    expect(fault).toMatch(/\*\*empty unit\*\*/);
  });

  it('prints usage and exits 2 without files', () => {
    expect(check([])).toEqual({
      code: 2,
      lines: [
        'usage: tsx edge/rules-check.ts [--sensors <sensors.json>] <rules.yaml>... | --schema',
      ],
    });
  });

  it('prints the rule-file JSON Schema with --schema', () => {
    const { code, lines } = check(['--schema']);
    expect(code).toBe(0);
    const schema = JSON.parse(lines.join('\n'));
    expect(schema.title).toBe('HazardWatch rule file');
    expect(
      schema.properties.rules.items.oneOf.map((branch: { title: string }) => branch.title),
    ).toEqual(CONDITION_TYPE_NAMES.map((type) => `type: ${type}`));
  });

  it('runs as a command: tsx edge/rules-check.ts rules/*.yaml', async () => {
    const ok = await run(['edge/rules-check.ts', 'rules/demo-plant.yaml']);
    expect(ok.stdout).toBe('OK rules/demo-plant.yaml (7 rules)\n');
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, methaneRuleFile().replace('level2: 40', 'level2: 60'));
    const failed = await run(['edge/rules-check.ts', bad]).catch(
      (err: { code: number; stdout: string }) => err,
    );
    expect(failed).toMatchObject({
      code: 1,
      stdout: `${bad}:9:13 rules[0].level2: level2 60 %LEL is above the 50 %LEL maximum of GB/T 50493-2019 §5.5.3 item 2 (add a justification to deviate)\n`,
    });
  });
});
