import { describe, expect, it } from 'vitest';
import { loadRuleSources } from '../../edge/rule-loader.js';
import { generateRulePack, readDetectors } from '../../edge/rule-pack.js';

const rulesOf = (yaml: string) =>
  loadRuleSources([{ file: 'pack.yaml', text: yaml }]).rules as unknown as Record<
    string,
    unknown
  >[];

describe('rule-pack generator', () => {
  it('writes two-level rules within GB/T 50493-2019 §5.5.3 for every kind of detector', () => {
    const pack = generateRulePack([
      { sensor: 'GT-1', gas: 'methane', unit: '%LEL' },
      { sensor: 'GT-2', gas: 'hydrogen', unit: '%VOL', resolution: 0.01 },
      { sensor: 'GT-3', gas: 'propane', unit: 'LEL·m' },
      { sensor: 'AT-1', gas: 'H2S', unit: 'ppm' },
      { sensor: 'AT-2', gas: 'NH3', unit: 'ppm', resolution: 1 },
      { sensor: 'AT-3', gas: 'benzene', unit: 'ppm' },
      { sensor: 'OT-1', gas: 'O2', unit: '%VOL' },
    ]);
    expect(pack.yaml).toContain('§5.5.3 item 5');
    const rules = rulesOf(pack.yaml);
    const pick = (id: string) => rules.find((r) => r.id === id)!;
    expect(pick('GT-1-gas')).toMatchObject({ measure: 'LEL', level1: 20, level2: 40 });
    expect(pick('GT-2-gas')).toMatchObject({ measure: 'VOL', level1: 0.8, level2: 1.6 });
    expect(pick('GT-3-gas')).toMatchObject({ measure: 'LELm', level1: 1, level2: 2 });
    expect(pick('AT-1-gas')).toMatchObject({ measure: 'ppm', level1: 5.6, level2: 11.2 });
    expect(pick('AT-2-gas')).toMatchObject({ level1: 22, level2: 45 });
    expect(pick('AT-3-gas')).toMatchObject({ level1: 1.4, level2: 2.9 });
    expect(pick('OT-1-oxygen')).toMatchObject({ deficiency: 19.5, enrichment: 23.5 });
    for (const rule of rules) expect(rule.waived).toEqual([]);
  });

  it('falls back to 5 / 10 %IDLH when the detector cannot resolve the OEL (chlorine)', () => {
    const rules = rulesOf(
      generateRulePack([{ sensor: 'AT-9', gas: 'Cl2', unit: 'ppm', detectionLimit: 0.5 }]).yaml,
    );
    expect(rules[0]).toMatchObject({ basis: 'IDLH', level1: 0.4, level2: 0.8 });
  });

  it('refuses an unknown gas and a unit it cannot check', () => {
    expect(() => generateRulePack([{ sensor: 'X', gas: 'unobtainium', unit: 'ppm' }])).toThrow(
      "detector 'X': unknown gas 'unobtainium'",
    );
    expect(() => generateRulePack([{ sensor: 'X', gas: 'methane', unit: 'mg/m3' }])).toThrow(
      "unit 'mg/m3'",
    );
  });

  it('reads a detectors file or the gateway sensor catalogue', () => {
    expect(readDetectors('detectors:\n  - { sensor: GT-1, gas: methane, unit: "%LEL" }\n')).toEqual(
      [{ sensor: 'GT-1', gas: 'methane', unit: '%LEL' }],
    );
    expect(
      readDetectors(
        '[{"sensorId":"AT-1","gas":"H2S","unit":"ppm"},{"sensorId":"TT-1","unit":"C"}]',
      ),
    ).toEqual([{ sensor: 'AT-1', gas: 'H2S', unit: 'ppm' }]);
  });
});

describe('open-path detectors (GB/T 50493-2019 §5.5.3 item 5)', () => {
  it('refuses level 1 above 1 LEL·m and level 2 above 2 LEL·m without a justification', () => {
    const text = `version: 1
rules:
  - { id: OP-1, sensor: OP-1, type: gas, gas: methane, measure: LELm, level1: 1.5, level2: 3, deadband: 0.1 }
`;
    expect(() => loadRuleSources([{ file: 'op.yaml', text }])).toThrow(
      /level1 1\.5 LEL·m is above the 1 LEL·m maximum of GB\/T 50493-2019 §5\.5\.3 item 5[\s\S]*level2 3 LEL·m is above the 2 LEL·m maximum/,
    );
  });
});
