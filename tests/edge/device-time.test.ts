/**
 * Device-stamped readings (OPC UA source timestamps) beside gateway-stamped ones (Modbus,
 * and the gateway's own comm-lost / refused readings): bugs a review found in the engine's
 * ordering of readings on one newest time per sensor (issue 12 property 1).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { rootLogger } from '../../common/logger.js';
import { AlarmEngine, type AlarmEngineOptions, compileRuleSet } from '../../edge/engine/index.js';
import { loadRuleSources } from '../../edge/rule-loader.js';
import { RuleRuntime } from '../../edge/rule-runtime.js';
import type { Reading } from '../../protocol/index.js';
import { demoSensors, methaneRuleFile } from './fixtures.js';

const T0 = Date.UTC(2026, 0, 1, 8, 0, 0);
const FAULT_AND_GAS = `${methaneRuleFile()}  - { id: GT-101-fault, sensor: GT-101, type: fault }
`;

function engineWith(text: string, clock: ManualClock, options: Partial<AlarmEngineOptions> = {}) {
  rootLogger.level = 'silent';
  const compiled = compileRuleSet(loadRuleSources([{ file: 'r.yaml', text }]), demoSensors());
  return new AlarmEngine(compiled, { clock, ...options });
}

const gas = (value: number, ts: number): Reading => ({
  sensorId: 'GT-101',
  value,
  quality: 'good',
  ts,
});
const commLost = (ts: number): Reading => ({
  sensorId: 'GT-101',
  value: null,
  quality: 'bad',
  reason: 'comm lost',
  ts,
});
const summary = (out: readonly { ruleId: string; level: number; transition: string }[]) =>
  out.map((t) => `${t.ruleId} L${t.level} ${t.transition}`);

describe('gas alarms are missed after an NTP correction on OPC UA sensors', () => {
  it('does not move a device-stamped sensor with a step of the gateway clock', () => {
    // The gateway clock is 4 min behind (inside the 5 min future tolerance); the device is right.
    const clock = new ManualClock(T0 - 240_000);
    const engine = engineWith(methaneRuleFile(), clock, {
      deviceStampedSensors: new Set(['GT-101']),
    });
    let device = T0;
    engine.evaluate([gas(5, device)]);
    clock.step(240_000); // NTP corrects the gateway clock; the device clock did not step
    const out: string[] = [];
    for (let i = 0; i < 5; i++) {
      clock.advance(1000);
      device += 1000;
      out.push(...summary(engine.evaluate([gas(60, device)])));
    }
    expect(out).toEqual(['GT-101-gas L1 raised', 'GT-101-gas L2 raised']);
    expect(engine.counters()).toMatchObject({ outOfOrder: 0, clockSteps: 1 });
  });

  it('still moves gateway-stamped sensors with the step (a step back drops nothing)', () => {
    const clock = new ManualClock(T0);
    const engine = engineWith(methaneRuleFile(), clock, {
      deviceStampedSensors: new Set(['some-opcua-tag']),
    });
    engine.evaluate([gas(5, clock.now())]);
    clock.advance(1000);
    clock.step(-3_600_000);
    expect(summary(engine.evaluate([gas(60, clock.now())]))).toEqual([
      'GT-101-gas L1 raised',
      'GT-101-gas L2 raised',
    ]);
    expect(engine.counters().outOfOrder).toBe(0);
  });
});

describe('RuleRuntime', () => {
  it('passes deviceStampedSensors to its engine (the gateway names its OPC UA tags)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hw-device-time-'));
    try {
      const file = join(dir, 'plant.yaml');
      writeFileSync(file, methaneRuleFile());
      const clock = new ManualClock(T0 - 240_000);
      rootLogger.level = 'silent';
      const runtime = new RuleRuntime({
        files: [file],
        sensors: demoSensors(),
        clock,
        deviceStampedSensors: new Set(['GT-101']),
      });
      runtime.engine.evaluate([gas(5, T0)]);
      clock.step(240_000);
      clock.advance(1000);
      expect(summary(runtime.engine.evaluate([gas(60, T0 + 1000)]))).toEqual([
        'GT-101-gas L1 raised',
        'GT-101-gas L2 raised',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('after a comm loss, OPC UA readings are dropped as out of order', () => {
  it('takes the catch-up and new samples of a device clock 2 min behind, and clears the fault', () => {
    const clock = new ManualClock(T0);
    const engine = engineWith(FAULT_AND_GAS, clock);
    const device = () => clock.now() - 120_000;
    engine.evaluate([gas(5, device())]);
    clock.advance(1000);
    // ReadingGate.lost() stamps with the gateway clock.
    expect(summary(engine.evaluate([commLost(clock.now())]))).toEqual(['GT-101-fault L1 raised']);
    clock.advance(5000);
    // Catch-up read after the reconnect, stamped with the device's sample time.
    expect(summary(engine.evaluate([gas(5, device())]))).toEqual(['GT-101-fault L1 cleared']);
    clock.advance(1000);
    expect(summary(engine.evaluate([gas(60, device())]))).toEqual([
      'GT-101-gas L1 raised',
      'GT-101-gas L2 raised',
    ]);
    expect(engine.counters().outOfOrder).toBe(0);
  });

  it('raises the comm-loss fault of a device whose clock runs 2 min ahead', () => {
    const clock = new ManualClock(T0);
    const engine = engineWith(FAULT_AND_GAS, clock);
    engine.evaluate([gas(5, clock.now() + 120_000)]);
    clock.advance(1000);
    expect(summary(engine.evaluate([commLost(clock.now())]))).toEqual(['GT-101-fault L1 raised']);
    // The comm-loss reading did not advance the newest sample time: the next sample counts.
    clock.advance(1000);
    expect(summary(engine.evaluate([gas(5, clock.now() + 120_000)]))).toEqual([
      'GT-101-fault L1 cleared',
    ]);
  });
});
