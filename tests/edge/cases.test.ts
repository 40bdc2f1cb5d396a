import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runBehaviourCase, runErrorCase } from './case-runner.js';

const casesRoot = fileURLToPath(new URL('./cases/', import.meta.url));
const cases = readdirSync(casesRoot, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort();

const readJson = (file: string): unknown => JSON.parse(readFileSync(file, 'utf8'));

describe('edge rule cases (tests/edge/cases/<case>/)', () => {
  it('has cases to run', () => {
    expect(cases.length).toBeGreaterThan(10);
  });

  for (const name of cases) {
    const dir = join(casesRoot, name);
    if (existsSync(join(dir, 'errors.json'))) {
      it(`${name}: refuses the rules with exactly the expected problems`, () => {
        expect(runErrorCase(dir, casesRoot)).toEqual(readJson(join(dir, 'errors.json')));
      });
    } else {
      it(`${name}: produces exactly the expected transitions`, () => {
        expect(runBehaviourCase(dir, casesRoot)).toEqual(readJson(join(dir, 'expected.json')));
      });
    }
  }
});
