import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bundledScenarioPath,
  loadScenario,
  parseDuration,
  parseScenario,
  ScenarioError,
  ScenarioTimeline,
} from '../../simulators/scenario.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'hazardwatch-scenario-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function issuesOf(text: string): readonly string[] {
  try {
    parseScenario(text, 'bad.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(ScenarioError);
    return (err as ScenarioError).issues;
  }
  throw new Error('expected the scenario to be rejected');
}

describe('scenario files', () => {
  it('parse durations with a unit and refuse bare numbers', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration(10)).toBeUndefined();
    expect(parseDuration('10 parsecs')).toBeUndefined();
  });

  it('load the bundled demo and fast leaks', async () => {
    const demo = await loadScenario(bundledScenarioPath('demo-leak'));
    expect(demo.name).toBe('demo-leak');
    expect(demo.repeatAfterMs).toBe(150_000);
    expect(demo.steps[0]).toEqual({ kind: 'ramp', at: 10_000, channel: 0, rampTo: 32, over: 8000 });
    const fast = await loadScenario(bundledScenarioPath('fast-leak'));
    expect(fast.steps.every((step) => step.channel === 0)).toBe(true);
  });

  it('put the demo leak through level 1 by 20 s and level 2 by 35 s, recovered after 90 s', async () => {
    const timeline = new ScenarioTimeline(await loadScenario(bundledScenarioPath('demo-leak')));
    // GB/T 50493-2019 §5.5.3 item 1: level 1 <= 25 %LEL, level 2 <= 50 %LEL.
    expect(timeline.levelAt(0, 1, 9_000)).toBe(1);
    expect(timeline.levelAt(0, 1, 20_000)).toBeGreaterThanOrEqual(25);
    expect(timeline.levelAt(0, 1, 20_000)).toBeLessThan(50);
    expect(timeline.levelAt(0, 1, 35_000)).toBeGreaterThanOrEqual(50);
    expect(timeline.levelAt(0, 1, 89_000)).toBe(60);
    expect(timeline.levelAt(0, 1, 110_000)).toBe(1);
    expect(timeline.levelAt(1, 0.5, 35_000)).toBe(0.5);
    expect(timeline.scenarioTime(155_000)).toBe(5_000);
  });

  it('put the fast leak through level 1 by 1.5 s and level 2 by 3 s', async () => {
    const timeline = new ScenarioTimeline(await loadScenario(bundledScenarioPath('fast-leak')));
    expect(timeline.levelAt(0, 1, 1_500)).toBeGreaterThanOrEqual(25);
    expect(timeline.levelAt(0, 1, 3_000)).toBeGreaterThanOrEqual(50);
  });

  it('start a ramp from wherever an interrupted ramp had got to', () => {
    const scenario = parseScenario(`
steps:
  - { at: 0s, channel: 0, rampTo: 100, over: 10s }
  - { at: 5s, channel: 0, rampTo: 0, over: 5s }
  - { at: 20s, channel: 0, hold: 7 }
`);
    const timeline = new ScenarioTimeline(scenario);
    expect(timeline.levelAt(0, 0, 5_000)).toBe(50);
    expect(timeline.levelAt(0, 0, 7_500)).toBe(25);
    expect(timeline.levelAt(0, 0, 20_000)).toBe(7);
  });

  it('force and release loop currents on schedule', () => {
    const timeline = new ScenarioTimeline(
      parseScenario(`
steps:
  - { at: 1s, channel: 2, loopCurrent: 3500 }
  - { at: 2s, channel: 2, loopCurrent: normal }
`),
    );
    expect(timeline.loopCurrentAt(2, 500)).toBeUndefined();
    expect(timeline.loopCurrentAt(2, 1_500)).toBe(3500);
    expect(timeline.loopCurrentAt(2, 2_500)).toBeUndefined();
  });

  it('are rejected with one line per problem naming the step index and key', () => {
    const issues = issuesOf(`
name: broken
steps:
  - { at: 10s, channel: 0, rampTo: 32, over: eight }
  - { at: 10, channel: 0, hold: 5 }
  - { at: 1s, channel: -1, rampTo: 3, over: 1s }
  - { at: 1s, channel: 0, rampTo: 3, hold: 4 }
  - { at: 1s, channel: 0, hold: 4, colour: red }
  - { at: 1s, channel: 0, loopCurrent: 99999 }
`);
    expect(issues).toEqual([
      "steps[0].over: must be a duration like '8s' ('0s' for a jump) (got 'eight')",
      "steps[1].at: must be a duration like '10s', '500ms' or '2m' (got 10)",
      'steps[2].channel: must be a channel number (0, 1, ...) (got -1)',
      'steps[3]: must have exactly one of rampTo, hold, loopCurrent (got rampTo, hold)',
      'steps[4].colour: unknown key (allowed: at, channel, rampTo, over, hold, loopCurrent, note)',
      "steps[5].loopCurrent: must be 'normal' or an integer µA in 0..25000 (got 99999)",
    ]);
  });

  it('are rejected when the steps list is missing or a step is not a mapping', () => {
    expect(issuesOf('name: empty\n')).toEqual(['steps: must be a non-empty list (got nothing)']);
    expect(issuesOf('steps: [ "at 10s" ]')[0]).toMatch(/^steps\[0\]: must be a mapping/);
    expect(issuesOf('steps: {')[0]).toMatch(/^\(file\): not valid YAML\/JSON/);
  });

  it('are rejected when a step falls after repeatAfter', () => {
    expect(issuesOf('repeatAfter: 5s\nsteps:\n  - { at: 6s, channel: 0, hold: 1 }')).toEqual([
      'steps[0].at: 6000 ms is not before repeatAfter (5000 ms)',
    ]);
  });

  it('name the file in the error message', async () => {
    const file = path.join(dir, 'typo.yaml');
    await writeFile(file, 'steps:\n  - { at: 1s, chanel: 0, hold: 1 }\n');
    await expect(loadScenario(file)).rejects.toThrow(
      `scenario ${file} is invalid:\n  steps[0].chanel: unknown key`,
    );
  });

  it('accept JSON too', async () => {
    const file = path.join(dir, 'leak.json');
    await writeFile(file, JSON.stringify({ steps: [{ at: '1s', channel: 0, hold: 30 }] }));
    const scenario = await loadScenario(file);
    expect(scenario.name).toBe('leak');
    expect(scenario.steps).toEqual([{ kind: 'hold', at: 1000, channel: 0, hold: 30 }]);
  });
});
