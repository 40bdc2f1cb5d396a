/**
 * Back in service means announced (issue 12 property 5): the re-announcement is a
 * 'raised' transition that local linkage acts on like any raise, with a new
 * occurrence id the server's ledger records (it ignores a second 'raised' for an id).
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { rootLogger } from '../../common/logger.js';
import { AlarmEngine, compileRuleSet } from '../../edge/engine/index.js';
import { LinkageRunner } from '../../edge/linkage/linkage-runner.js';
import type { OutputDeviceWriter, OutputDeviceWriters } from '../../edge/linkage/output-writer.js';
import { loadRuleSources } from '../../edge/rule-loader.js';
import { demoSensors } from './fixtures.js';

const T0 = Date.UTC(2026, 0, 1, 8, 0, 0);

const RULES = `version: 1
outputs:
  - { id: esd, device: plc-1 }
rules:
  - id: GT-101-gas
    sensor: GT-101
    type: gas
    gas: methane
    measure: LEL
    level1: 20
    level2: 40
    deadband: 2
    actions:
      - { on: raised, limit: level2, output: esd, coil: 3, value: true, description: close the ESD valve }
`;

/**
 * The device side of the contract LinkageRunner writes through (the gateway's acquisition
 * in production): a coil map that reads back what was written.
 */
class CoilMap implements OutputDeviceWriters {
  readonly writes: string[] = [];
  private readonly coils = new Map<number, boolean>();
  writer(deviceId: string): OutputDeviceWriter | undefined {
    if (deviceId !== 'plc-1') return undefined;
    return {
      deviceId,
      writeCoil: async (address, value) => {
        this.writes.push(`coil ${address} = ${value}`);
        this.coils.set(address, value);
        return { value: this.coils.get(address)!, verified: true };
      },
      writeRegisters: async (_address, values) => ({ value: [...values], verified: true }),
    };
  }
}

describe('back in service means announced', () => {
  for (const [name, hide, show] of [
    ['return to service', 'removeFromService', 'returnToService'],
    ['unsuppress', 'suppress', 'unsuppress'],
  ] as const) {
    it(`${name} with the condition active raises a new occurrence and runs the linkage again`, async () => {
      rootLogger.level = 'silent';
      const compiled = compileRuleSet(
        loadRuleSources([{ file: 'r.yaml', text: RULES }]),
        demoSensors(),
      );
      const clock = new ManualClock(T0);
      const engine = new AlarmEngine(compiled, { clock });
      const device = new CoilMap();
      const linkage = new LinkageRunner(compiled, device, { clock, onTransition: () => {} });

      linkage.handle(engine[hide]('GT-101-gas.level2', 'tech-wang'));
      clock.advance(1000);
      const during = engine.evaluate([
        { sensorId: 'GT-101', value: 45, quality: 'good', ts: clock.now() },
      ]);
      linkage.handle(during);
      await linkage.idle();
      const first = during.find((t) => t.ruleId === 'GT-101-gas' && t.level === 2)!;
      expect(first.state).toBe(hide === 'suppress' ? 'suppressed' : 'out-of-service');

      clock.advance(1000);
      const back = engine[show]('GT-101-gas.level2', 'tech-wang');
      linkage.handle(back);
      await linkage.idle();
      const raised = back.find((t) => t.transition === 'raised')!;
      expect(raised).toMatchObject({ state: 'unacknowledged', value: 45 });
      expect(raised.alarmId).not.toBe(first.alarmId);
      expect(raised.message).toContain('re-announced');
      // Out of service runs no linkage; back in service it does. Suppressed alarms ran it already.
      expect(device.writes).toEqual(
        hide === 'suppress' ? ['coil 3 = true', 'coil 3 = true'] : ['coil 3 = true'],
      );
      // When the gas goes, both occurrences close (the superseded one first): nothing left open.
      clock.advance(1000);
      const cleared = engine.evaluate([
        { sensorId: 'GT-101', value: 0, quality: 'good', ts: clock.now() },
      ]);
      expect(
        cleared.filter((t) => t.level === 2).map((t) => `${t.transition} ${t.alarmId}`),
      ).toEqual([`cleared ${first.alarmId}`, `cleared ${raised.alarmId}`]);
    });
  }
});

describe('one gas event pages the emergency centre twice', () => {
  type Hide = (engine: AlarmEngine) => unknown;
  type Show = (engine: AlarmEngine, clock: ManualClock) => readonly { transition: string }[];
  const cases: readonly (readonly [string, Hide, Show])[] = [
    [
      'return to service',
      (e) => e.removeFromService('GT-101-gas.level2', 'op'),
      (e) => e.returnToService('GT-101-gas.level2', 'op'),
    ],
    [
      'unsuppress',
      (e) => e.suppress('GT-101-gas.level2', 'op'),
      (e) => e.unsuppress('GT-101-gas.level2', 'op'),
    ],
    [
      'unshelve',
      (e) => e.shelve('GT-101-gas.level2', 'op', { durationMs: 600_000 }),
      (e) => e.unshelve('GT-101-gas.level2', 'op'),
    ],
    [
      'shelve expiry',
      (e) => e.shelve('GT-101-gas.level2', 'op', { durationMs: 600_000 }),
      (e, clock) => {
        clock.advance(600_000);
        return e.tick();
      },
    ],
  ];
  for (const [name, hide, show] of cases) {
    it(`${name} while active names the superseded occurrence in 'reannounces'`, () => {
      rootLogger.level = 'silent';
      const compiled = compileRuleSet(
        loadRuleSources([{ file: 'r.yaml', text: RULES }]),
        demoSensors(),
      );
      const clock = new ManualClock(T0);
      const engine = new AlarmEngine(compiled, { clock });
      hide(engine);
      clock.advance(1000);
      const during = engine.evaluate([
        { sensorId: 'GT-101', value: 45, quality: 'good', ts: clock.now() },
      ]);
      const first = during.find((t) => t.level === 2 && t.transition === 'raised')!;
      // A first raise re-announces nothing.
      expect(first.reannounces).toBeUndefined();
      clock.advance(1000);
      const raised = show(engine, clock).find((t) => t.transition === 'raised') as
        | { alarmId: string; reannounces?: string }
        | undefined;
      expect(raised?.reannounces).toBe(first.alarmId);
      expect(raised?.alarmId).not.toBe(first.alarmId);
    });
  }
});
