/** Schema fragments and helpers shared by condition types. */
import type { JsonSchema } from './types.js';

/** Longest on/off delay a rule may ask for: longer ones hide real alarms. */
export const MAX_DELAY_MS = 600_000; // 10 min

export const delaySchema = (what: string): JsonSchema => ({
  type: 'integer',
  minimum: 0,
  maximum: MAX_DELAY_MS,
  default: 0,
  description: `${what}, ms (ISA-18.2 / IEC 62682 on/off-delay).`,
});

export const deadbandSchema: JsonSchema = {
  type: 'number',
  minimum: 0,
  description:
    'Hysteresis in the sensor unit: a high alarm clears only below setpoint - deadband, a low one only above setpoint + deadband.',
};

export const setpointSchema = (description: string): JsonSchema => ({
  type: 'number',
  description,
});

export const levelSchema: JsonSchema = {
  enum: [1, 2],
  description: 'Alarm level: 1 = first level (warning), 2 = second level (action).',
};

/** Reads an optional number from a schema-valid raw rule. */
export function numberOr(raw: Readonly<Record<string, unknown>>, key: string, fallback: number) {
  const value = raw[key];
  return typeof value === 'number' ? value : fallback;
}

/** Unit comparison key: case, spaces and '%' ignored ('%LEL', 'LEL%', '% lel' are all 'lel'). */
export function unitKey(unit: string): string {
  return unit.toLowerCase().replace(/[\s%]/g, '');
}

/** Numbers in messages: at most 3 decimals, no trailing zeros. */
export function fmt(value: number): string {
  return String(Math.round(value * 1000) / 1000);
}

/** Tolerance for comparing converted setpoints against a maximum (floating-point noise only). */
export const EPSILON = 1e-9;
