/** Screening packs are data: the built-in ones load, bad ones are refused with every error named. */
import { describe, expect, it } from 'vitest';
import { parseServerConfig } from '../../server/config/index.js';
import { loadPacks, parsePack } from '../../server/supervision/packs.js';
import { supervisionConfig } from './harness.js';

describe('the built-in packs', () => {
  it('load, cite their source, and keep accident hazards apart from other findings', () => {
    const packs = loadPacks(['accident-hazards', 'alarm-management', 'data-quality']);
    expect(packs.map((p) => p.kind)).toEqual(['accident', 'alarm-management', 'data-quality']);
    for (const pack of packs) {
      expect(pack.source.length).toBeGreaterThan(10);
      for (const rule of pack.rules) expect(rule.kind).toBe(pack.kind);
    }
    const accident = packs[0]!;
    // The determination standard's numbers are from the trial text: marked unchecked.
    const determination = accident.rules.filter((r) => r.item.standard.includes('判定标准'));
    expect(determination.length).toBeGreaterThan(0);
    for (const rule of determination) expect(rule.item.checked).toBe(false);
    expect(accident.note).toMatch(/current edition/);
  });

  it('take site overrides of a rule time, and switch rules off', () => {
    const [pack] = loadPacks(
      ['accident-hazards'],
      [
        { rule: 'gas-detector-not-working', forMs: 60_000 },
        { rule: 'no-gas-detector-registered', enabled: false },
      ],
    );
    expect(pack!.rules.find((r) => r.id === 'gas-detector-not-working')!.forMs).toBe(60_000);
    expect(pack!.rules.some((r) => r.id === 'no-gas-detector-registered')).toBe(false);
  });

  it('refuse an override of a rule that does not exist, by name', () => {
    expect(() => loadPacks(['accident-hazards'], [{ rule: 'no-such-rule' }])).toThrow(
      "platform.supervision.ruleOverrides[0].rule: no such screening rule (got 'no-such-rule')",
    );
  });
});

describe('a pack file with mistakes', () => {
  it('is refused with every problem on its own line, with its path', () => {
    const text = `
version: 1
id: bad
title: Bad
kind: accident
source: test
rules:
  - id: r1
    condition: detector-gone
    title: x
    severity: fatal
    forMs: -1
    item: { standard: s, number: '1', text: t, checked: true }
    colour: red
`;
    let message = '';
    try {
      parsePack(text, 'bad.yaml');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain(
      'bad.yaml: rules[0].condition: must be one of detector-not-working, ',
    );
    expect(message).toContain('(got "detector-gone")');
    expect(message).toContain(
      'bad.yaml: rules[0].severity: must be one of general, major (got "fatal")',
    );
    expect(message).toContain('bad.yaml: rules[0].forMs: must be >= 0 (got -1)');
    expect(message).toContain("bad.yaml: rules[0]: 'colour' is not a known key");
  });

  it('is refused when two packs use one rule id', () => {
    expect(() => loadPacks(['accident-hazards', 'accident-hazards'])).toThrow(
      "screening rule 'gas-detector-not-working' is in packs 'accident-hazards' and 'accident-hazards'",
    );
  });
});

describe('the supervision config', () => {
  // Bug: a union `type` in the bypass values made ajv's strict mode refuse every server config.
  it('bypass points with string, number and boolean values parse (ajv strict mode)', () => {
    const config = parseServerConfig(
      supervisionConfig({
        bypassPoints: [
          {
            gatewayId: 'gw-a',
            sensorId: 'XS-401',
            enterpriseId: 'ent-a',
            what: 'ESD-1',
            bypassedValues: [true, 1, 'BYPASS'],
          },
        ],
      }),
    );
    const supervision = config.platform.supervision;
    expect(supervision).toBeDefined();
    expect(supervision!.bypassPoints[0]!.bypassedValues).toEqual([true, 1, 'BYPASS']);
    expect(supervision!.screeningIntervalMs).toBe(60_000);
  });

  it('names a vessel of an unknown installation', () => {
    const raw = supervisionConfig();
    const vessel = { ...raw.platform.supervision.vessels[0]!, installationId: 'unit-9' };
    expect(() => parseServerConfig(supervisionConfig({ vessels: [vessel] }))).toThrow(
      "platform.supervision.vessels[0].installationId: not in platform.installations (got 'unit-9')",
    );
  });
});
