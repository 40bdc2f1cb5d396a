/**
 * When the demo's scripted leak raises its alarms, derived from the two files that decide it:
 * the scenario (simulators/scenarios/demo-leak.yaml: how the methane level moves) and the rule
 * file (rules/demo-plant.yaml: the GT-101 setpoints and on-delay). `npm start` prints these
 * figures, and a test holds the README's figures to them, so neither can drift from the files.
 *
 * Times are seconds after the gas detector starts (the scenario clock starts with it; the
 * banner is printed at that moment), before noise, at time scale 1. The gateway's poll
 * interval (250 ms in the demo) comes on top.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { DEMO_GAS_CHANNELS } from '../simulators/modbus-gas-detector.js';
import { bundledScenarioPath, parseScenario, ScenarioTimeline } from '../simulators/scenario.js';

const repoRoot = path.resolve(fileURLToPath(new URL('..', import.meta.url)));

export const DEMO_RULE_FILE = path.join(repoRoot, 'rules/demo-plant.yaml');
/** The demo's methane detector: channel 0 of the simulated controller, sensor GT-101. */
export const DEMO_METHANE = { channel: 0, sensorId: 'GT-101' } as const;

export interface DemoGasRule {
  readonly level1: number;
  readonly level2: number;
  readonly onDelayMs: number;
}

export interface DemoAlarmTimes {
  /** Seconds from detector start to the level-1 alarm (crossing + on-delay). */
  readonly level1S: number;
  readonly level2S: number;
  readonly rule: DemoGasRule;
}

/** The GT-101 gas rule of the demo rule file (its setpoints and on-delay). */
export function demoMethaneRule(ruleFile = DEMO_RULE_FILE): DemoGasRule {
  const doc = parseYaml(readFileSync(ruleFile, 'utf8')) as {
    rules?: {
      sensor?: string;
      type?: string;
      level1?: number;
      level2?: number;
      onDelayMs?: number;
    }[];
  };
  const rule = doc.rules?.find((r) => r.sensor === DEMO_METHANE.sensorId && r.type === 'gas');
  if (!rule || typeof rule.level1 !== 'number' || typeof rule.level2 !== 'number') {
    throw new Error(`${ruleFile}: no gas rule with level1 and level2 for ${DEMO_METHANE.sensorId}`);
  }
  return { level1: rule.level1, level2: rule.level2, onDelayMs: rule.onDelayMs ?? 0 };
}

/** When the demo leak raises level 1 and level 2, from the scenario and the rule file. */
export function demoAlarmTimes(
  scenarioFile = bundledScenarioPath('demo-leak'),
  ruleFile = DEMO_RULE_FILE,
  timeScale = 1,
): DemoAlarmTimes {
  const rule = demoMethaneRule(ruleFile);
  const timeline = new ScenarioTimeline(
    parseScenario(readFileSync(scenarioFile, 'utf8'), scenarioFile),
  );
  const channel = DEMO_GAS_CHANNELS.find((c) => c.channel === DEMO_METHANE.channel);
  if (!channel) throw new Error(`no demo gas channel ${DEMO_METHANE.channel}`);
  const at = (setpoint: number): number => {
    const crossing = timeline.firstCrossing(channel.channel, channel.baseline, setpoint);
    if (crossing === undefined) {
      throw new Error(`${scenarioFile}: channel ${channel.channel} never reaches ${setpoint}`);
    }
    return (crossing + rule.onDelayMs) / 1000 / timeScale;
  };
  return { level1S: at(rule.level1), level2S: at(rule.level2), rule };
}
