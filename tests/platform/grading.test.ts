import { describe, expect, it } from 'vitest';
import { alphaFor, CHEMICALS, gradeFor, gradeInstallation } from '../../server/platform/grading.js';

describe('GB 18218-2018 grading', () => {
  it.each([
    [0, 0.5],
    [1, 1.0],
    [29, 1.0],
    [30, 1.2],
    [49, 1.2],
    [50, 1.5],
    [99, 1.5],
    [100, 1.5],
    [101, 2.0],
  ])('gives α for %i people within 500 m as %d (Table 5)', (people, alpha) => {
    expect(alphaFor(people)).toBe(alpha);
  });

  it.each([
    [150, 1],
    [100, 1],
    [99.99, 2],
    [50, 2],
    [49.9, 3],
    [10, 3],
    [9.99, 4],
    [0, 4],
  ])('grades R = %d as grade %i (Table 6)', (r, grade) => {
    expect(gradeFor(r)).toBe(grade);
  });

  const cases = [
    {
      name: 'a small chlorine store is not a major hazard',
      inventory: [{ chemical: 'chlorine', quantityT: 2 }],
      people: 10,
      major: false,
      sum: 0.4,
      r: 1.6,
      grade: null,
    },
    {
      name: 'chlorine at exactly its critical quantity is a major hazard (S >= 1)',
      inventory: [{ chemical: 'chlorine', quantityT: 5 }],
      people: 10,
      major: true,
      sum: 1,
      r: 4,
      grade: 4,
    },
    {
      name: 'mixed inventory sums the ratios and weights them by β',
      // 20 t NH3: 2 × β2 = 4; 25 t methane: 0.5 × β1.5 = 0.75; 250 t methanol: 0.5 × 1 = 0.5
      inventory: [
        { chemical: 'ammonia', quantityT: 20 },
        { chemical: 'methane', quantityT: 25 },
        { chemical: 'methanol', quantityT: 250 },
      ],
      people: 60,
      major: true,
      sum: 3,
      r: 1.5 * 5.25,
      grade: 4,
    },
    {
      name: 'phosgene near a town reaches grade 1',
      // 3 t / 0.3 t = 10; β 20 → 200; α 2.0 → R 400
      inventory: [{ chemical: 'phosgene', quantityT: 3 }],
      people: 500,
      major: true,
      sum: 10,
      r: 400,
      grade: 1,
    },
    {
      name: 'H2S store of 60 t with 40 people is grade 2',
      // 60/5 = 12; β5 → 60; α 1.2 → 72
      inventory: [{ chemical: 'hydrogen-sulfide', quantityT: 60 }],
      people: 40,
      major: true,
      sum: 12,
      r: 72,
      grade: 2,
    },
    {
      name: 'a chemical outside the table uses the given Q and β',
      inventory: [
        { chemical: 'flammable-gas-cat1', quantityT: 30, criticalQuantityT: 10, beta: 1.5 },
      ],
      people: 0,
      major: true,
      sum: 3,
      r: 0.5 * 4.5,
      grade: 4,
    },
  ];

  it.each(cases)('$name', ({ inventory, people, major, sum, r, grade }) => {
    const result = gradeInstallation({ inventory, peopleWithin500m: people });
    expect(result.isMajorHazard).toBe(major);
    expect(result.sumRatio).toBeCloseTo(sum, 9);
    expect(result.r).toBeCloseTo(r, 9);
    expect(result.grade).toBe(grade);
    expect(result.derivation.some((line) => line.includes('§4.2.2'))).toBe(true);
    expect(result.derivation.some((line) => line.includes('Table 5'))).toBe(true);
    expect(result.derivation.length).toBe(inventory.length + 4);
  });

  it('shows each item with its source table in the derivation', () => {
    const result = gradeInstallation({
      inventory: [{ chemical: 'chlorine', quantityT: 10 }],
      peopleWithin500m: 5,
    });
    expect(result.derivation[0]).toContain('Q = 5 t');
    expect(result.derivation[0]).toContain('β = 4');
    expect(result.derivation[0]).toContain('Table 3');
    expect(result.items[0]).toMatchObject({ ratio: 2, weightedRatio: 8, criticalQuantityT: 5 });
  });

  it('refuses an unknown chemical without a critical quantity, naming it', () => {
    expect(() =>
      gradeInstallation({
        inventory: [{ chemical: 'unobtainium', quantityT: 1 }],
        peopleWithin500m: 0,
      }),
    ).toThrow(/inventory\[0\] 'unobtainium'/);
  });

  it('refuses negative quantities and people counts', () => {
    expect(() =>
      gradeInstallation({
        inventory: [{ chemical: 'chlorine', quantityT: -1 }],
        peopleWithin500m: 0,
      }),
    ).toThrow(/quantityT must be >= 0/);
    expect(() => alphaFor(-3)).toThrow(/non-negative/);
  });

  it('has unique keys and positive numbers in the chemical table', () => {
    expect(new Set(CHEMICALS.map((c) => c.key)).size).toBe(CHEMICALS.length);
    for (const c of CHEMICALS) {
      expect(c.criticalQuantityT).toBeGreaterThan(0);
      expect(c.beta).toBeGreaterThanOrEqual(1);
    }
  });
});
