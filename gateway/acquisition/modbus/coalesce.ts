/**
 * Register coalescing: tags of one table at nearby addresses are read with one
 * request instead of one request each (200 single reads take seconds; a few
 * coalesced reads take milliseconds). Greedy: sort by address, extend the current
 * block while the gap is small and the block stays within the per-read limit.
 *
 * Some devices answer exception 2 (illegal data address) for a read that spans an
 * address they do not implement, although every tag inside it is legal; others stay
 * silent. splitBlock() breaks such a block into smaller ones (first at its gaps, then
 * into single tags); the poller remembers the split for the device's lifetime.
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

/**
 * Smaller blocks covering the same tags: the gap-free runs of `block` when it has
 * gaps, else one block per tag (tags sharing an address stay together, e.g. the bits
 * of one status word). Returns [block] when it cannot be split further.
 */
export function splitBlock(block: ReadBlock): ReadBlock[] {
  const bits = isBitTable(block.table);
  const span = (tag: ModbusTagConfig) => (bits ? 1 : registerCount(tag.register));
  const sorted = [...block.tags].sort((a, b) => a.register.address - b.register.address);
  const runs: { address: number; end: number; tags: ModbusTagConfig[] }[] = [];
  for (const tag of sorted) {
    const start = tag.register.address;
    const end = start + span(tag);
    const last = runs[runs.length - 1];
    if (last && start <= last.end) {
      last.end = Math.max(last.end, end);
      last.tags.push(tag);
    } else {
      runs.push({ address: start, end, tags: [tag] });
    }
  }
  if (runs.length > 1) return runs.map((run) => toBlock(block.table, run));
  // Gap-free already: one block per distinct address range.
  const single = new Map<number, { address: number; end: number; tags: ModbusTagConfig[] }>();
  for (const tag of sorted) {
    const start = tag.register.address;
    const entry = single.get(start);
    if (entry) {
      entry.end = Math.max(entry.end, start + span(tag));
      entry.tags.push(tag);
    } else {
      single.set(start, { address: start, end: start + span(tag), tags: [tag] });
    }
  }
  if (single.size <= 1) return [block];
  return [...single.values()].map((run) => toBlock(block.table, run));
}
