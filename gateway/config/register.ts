/**
 * How many 16-bit registers (or bits, for coil/discrete tables) a Modbus tag spans.
 * Shared by the config cross-checks and the acquisition decoder.
 */
import type { ModbusRegisterConfig, RegisterType } from './types.js';

/** Registers per value for the fixed-width types. */
export const REGISTER_WIDTH: Readonly<Record<Exclude<RegisterType, 'string'>, number>> = {
  bool: 1,
  int16: 1,
  uint16: 1,
  int32: 2,
  uint32: 2,
  float32: 2,
  float64: 4,
};

/** Registers (or bits) one tag occupies, starting at its address. */
export function registerCount(register: Pick<ModbusRegisterConfig, 'type' | 'count'>): number {
  if (register.type === 'string') return register.count ?? 1;
  return REGISTER_WIDTH[register.type];
}

/** True for the single-bit tables (coils FC1, discrete inputs FC2). */
export function isBitTable(table: ModbusRegisterConfig['table']): boolean {
  return table === 'coil' || table === 'discrete';
}
