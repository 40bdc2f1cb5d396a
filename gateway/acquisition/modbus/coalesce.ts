/**
 * Register coalescing: tags of one table at nearby addresses are read with one
 * request instead of one request each (200 single reads take seconds; a few
 * coalesced reads take milliseconds). This is the simple greedy version: sort by
 * address, extend the current block while the gap is small and the block stays
 * within the per-read limit.
 */
import { isBitTable, registerCount } from '../../config/register.js';
import type { ModbusTagConfig, RegisterTable } from '../../config/types.js';

export interface CoalesceOptions {
  /** Largest register read (FC3/FC4), at most 125. */
  maxRegisters: number;
  /** Largest bit read (FC1/FC2), at most 2000. */
  maxBits: number;
  /** Unused registers tolerated between two tags of one block. */
  maxGapRegisters: number;
  /** Unused bits tolerated between two tags of one block. */
  maxGapBits: number;
}

/** One read request and the tags decoded from its reply. */
export interface ReadBlock {
  readonly table: RegisterTable;
  readonly address: number;
  /** Registers (or bits) requested. */
  readonly count: number;
  readonly tags: readonly ModbusTagConfig[];
}

const TABLE_ORDER: readonly RegisterTable[] = ['coil', 'discrete', 'holding', 'input'];

export function coalesceReads(
  tags: readonly ModbusTagConfig[],
  options: CoalesceOptions,
): ReadBlock[] {
  const blocks: ReadBlock[] = [];
  for (const table of TABLE_ORDER) {
    const bits = isBitTable(table);
    const limit = bits ? options.maxBits : options.maxRegisters;
    const maxGap = bits ? options.maxGapBits : options.maxGapRegisters;
    const sorted = tags
      .filter((tag) => tag.register.table === table)
      .sort((a, b) => a.register.address - b.register.address);

    let current: { address: number; end: number; tags: ModbusTagConfig[] } | null = null;
    for (const tag of sorted) {
      const start = tag.register.address;
      const end = start + (bits ? 1 : registerCount(tag.register));
      if (
        current &&
        start - current.end <= maxGap &&
        Math.max(current.end, end) - current.address <= limit
      ) {
        current.end = Math.max(current.end, end);
        current.tags.push(tag);
        continue;
      }
      if (current) blocks.push(toBlock(table, current));
      current = { address: start, end, tags: [tag] };
    }
    if (current) blocks.push(toBlock(table, current));
  }
  return blocks;
}

function toBlock(
  table: RegisterTable,
  block: { address: number; end: number; tags: ModbusTagConfig[] },
): ReadBlock {
  return { table, address: block.address, count: block.end - block.address, tags: block.tags };
}
