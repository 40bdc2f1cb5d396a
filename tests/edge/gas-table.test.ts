import { describe, expect, it } from 'vitest';
import { findGas, GAS_TABLE, MOLAR_VOLUME_20C, mgPerM3ToPpm, oelOf } from '../../edge/gas-table.js';

describe('gas table', () => {
  it('lists methane with LEL 5.0 %VOL (GB/T 50493-2019 appendix B)', () => {
    expect(findGas('methane')?.lelVol).toBe(5.0);
  });

  it('finds gases by name, formula or alias, ignoring case', () => {
    expect(findGas('CH4')?.name).toBe('methane');
    expect(findGas('h2s')?.name).toBe('H2S');
    expect(findGas('Hydrogen Sulfide')?.name).toBe('H2S');
    expect(findGas('O2')?.name).toBe('oxygen');
    expect(findGas('carbon monoxide')?.name).toBe('CO');
    expect(findGas('unobtainium')).toBeUndefined();
  });

  it('converts mg/m³ to ppm at 20 °C and 101.325 kPa', () => {
    expect(MOLAR_VOLUME_20C).toBeCloseTo(24.055, 3);
    expect(mgPerM3ToPpm(10, 34.08)).toBeCloseTo(7.058, 3);
  });

  it('checks H2S against its MAC and CO against its PC-TWA, in ppm', () => {
    expect(oelOf(findGas('H2S')!)).toMatchObject({ basis: 'MAC', mgPerM3: 10 });
    expect(oelOf(findGas('H2S')!)?.ppm).toBeCloseTo(7.058, 3);
    expect(oelOf(findGas('CO')!)).toMatchObject({ basis: 'PC-TWA', mgPerM3: 20 });
    expect(oelOf(findGas('CO')!)?.ppm).toBeCloseTo(17.176, 3);
    expect(oelOf(findGas('methane')!)).toBeUndefined();
  });

  it('cites a source for every gas', () => {
    for (const gas of GAS_TABLE) expect(gas.sources.length).toBeGreaterThan(0);
  });
});

describe('gas table, issue 4 gases', () => {
  it('lists the eight gases of the issue plus oxygen', () => {
    for (const name of [
      'methane',
      'propane',
      'hydrogen',
      'CO',
      'H2S',
      'NH3',
      'Cl2',
      'benzene',
      'O2',
    ]) {
      expect(findGas(name), name).toBeDefined();
    }
  });

  it('has the cited LEL, OEL and IDLH values', () => {
    expect(findGas('propane')).toMatchObject({ lelVol: 2.1, idlhPpm: 2100 });
    expect(findGas('hydrogen')).toMatchObject({ lelVol: 4.0 });
    expect(findGas('ammonia')).toMatchObject({ lelVol: 15, idlhPpm: 300 });
    expect(oelOf(findGas('NH3')!)).toMatchObject({ basis: 'PC-TWA', mgPerM3: 20 });
    expect(oelOf(findGas('chlorine')!)).toMatchObject({ basis: 'MAC', mgPerM3: 1 });
    expect(findGas('Cl2')?.idlhPpm).toBe(10);
    expect(oelOf(findGas('benzene')!)).toMatchObject({ basis: 'PC-TWA', mgPerM3: 6 });
    expect(findGas('C6H6')).toMatchObject({ lelVol: 1.2, idlhPpm: 500 });
  });
});
