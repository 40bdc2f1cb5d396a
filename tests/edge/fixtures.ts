/** Shared helpers for edge tests: the demo plant catalogue and rule text builders. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { SensorInfo } from '../../protocol/index.js';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const demoRulesPath = fileURLToPath(new URL('../../rules/demo-plant.yaml', import.meta.url));

/** The demo plant's sensor catalogue (tests/edge/cases/sensors.json). */
export function demoSensors(): Map<string, SensorInfo> {
  const file = fileURLToPath(new URL('./cases/sensors.json', import.meta.url));
  const list = JSON.parse(readFileSync(file, 'utf8')) as SensorInfo[];
  return new Map(list.map((sensor) => [sensor.sensorId, sensor]));
}

/** A methane rule on GT-101 with the given extra YAML lines (indented 4 spaces). */
export function methaneRuleFile(extra = ''): string {
  return `version: 1
rules:
  - id: GT-101-gas
    sensor: GT-101
    type: gas
    gas: methane
    measure: LEL
    level1: 20
    level2: 40
    deadband: 2
${extra}`;
}
