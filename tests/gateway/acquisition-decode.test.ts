import { describe, expect, it } from 'vitest';
import { Backoff } from '../../gateway/acquisition/backoff.js';
import { coalesceReads } from '../../gateway/acquisition/modbus/coalesce.js';
import {
  decodeRegisters,
  encodeRegisters,
  type RegisterDecoding,
} from '../../gateway/acquisition/modbus/decode.js';
import type {
  ModbusRegisterConfig,
  ModbusTagConfig,
  RegisterType,
  WordOrder,
} from '../../gateway/config/types.js';

function reg(
  type: RegisterType,
  wordOrder: WordOrder = 'ABCD',
  extra: Partial<RegisterDecoding> = {},
) {
  return { type, wordOrder, scale: 1, offset: 0, ...extra };
}

describe('decoding registers', () => {
  // Each row: the words a device sends for one known value, in every byte order.
  const rows: [RegisterType, WordOrder, number[], number][] = [
    ['int16', 'ABCD', [0xfb2e], -1234],
    ['int16', 'CDAB', [0xfb2e], -1234],
    ['int16', 'DCBA', [0x2efb], -1234],
    ['int16', 'BADC', [0x2efb], -1234],
    ['uint16', 'ABCD', [0x1234], 0x1234],
    ['uint16', 'DCBA', [0x3412], 0x1234],
    ['uint16', 'ABCD', [0xffff], 65_535],
    ['int32', 'ABCD', [0xffff, 0xfffe], -2],
    ['int32', 'CDAB', [0xfffe, 0xffff], -2],
    ['int32', 'BADC', [0xffff, 0xfeff], -2],
    ['int32', 'DCBA', [0xfeff, 0xffff], -2],
    ['uint32', 'ABCD', [0x1234, 0x5678], 0x12345678],
    ['uint32', 'DCBA', [0x7856, 0x3412], 0x12345678],
    ['uint32', 'BADC', [0x3412, 0x7856], 0x12345678],
    ['uint32', 'CDAB', [0x5678, 0x1234], 0x12345678],
    ['uint32', 'ABCD', [0xffff, 0xffff], 4_294_967_295],
    ['float32', 'ABCD', [0x42f6, 0xe979], 123.456_001_281_738_28],
    ['float32', 'DCBA', [0x79e9, 0xf642], 123.456_001_281_738_28],
    ['float32', 'BADC', [0xf642, 0x79e9], 123.456_001_281_738_28],
    ['float32', 'CDAB', [0xe979, 0x42f6], 123.456_001_281_738_28],
    ['float64', 'ABCD', [0xc093, 0x4a45, 0x6d5c, 0xfaad], -1234.5678],
    ['float64', 'DCBA', [0xadfa, 0x5c6d, 0x454a, 0x93c0], -1234.5678],
    ['float64', 'BADC', [0x93c0, 0x454a, 0x5c6d, 0xadfa], -1234.5678],
    ['float64', 'CDAB', [0xfaad, 0x6d5c, 0x4a45, 0xc093], -1234.5678],
  ];

  it.each(rows)('%s %s %j reads %d', (type, order, words, expected) => {
    expect(decodeRegisters(words, reg(type, order))).toBe(expected);
  });

  it.each(rows)('%s %s encodes %j back from the value', (type, order, words, value) => {
    expect(encodeRegisters(value, reg(type, order))).toEqual(words);
  });

  const scaled: [RegisterType, number[], number, number, number][] = [
    // type, words, scale, offset, engineering value
    ['int16', [250], 0.1, 0, 25],
    ['int16', [0xff9c], 0.5, 0, -50],
    ['uint16', [4000], 0.01, -20, 20],
    ['int32', [0x0000, 0x2710], 0.001, 0, 10],
    ['float32', [0x42f6, 0xe979], 2, 1, 247.912_002_563_476_56],
  ];

  it.each(scaled)(
    '%s %j with scale %d and offset %d reads %d',
    (type, words, scale, offset, expected) => {
      expect(decodeRegisters(words, reg(type, 'ABCD', { scale, offset }))).toBeCloseTo(expected, 9);
    },
  );

  it('returns NaN and Infinity as they are, for the source to mark bad', () => {
    expect(decodeRegisters([0x7fc0, 0x0000], reg('float32'))).toBeNaN();
    expect(decodeRegisters([0x7f80, 0x0000], reg('float32'))).toBe(Number.POSITIVE_INFINITY);
  });

  const bools: [number, number | undefined, WordOrder, boolean][] = [
    [0, undefined, 'ABCD', false],
    [1, undefined, 'ABCD', true],
    [0x8000, undefined, 'ABCD', true],
    [0b0100, 2, 'ABCD', true],
    [0b0100, 1, 'ABCD', false],
    [0x8000, 15, 'ABCD', true],
    [0x0080, 15, 'DCBA', true],
  ];

  it.each(bools)('bool from register %i, bit %s, %s reads %s', (word, bit, order, expected) => {
    const extra = bit === undefined ? {} : { bit };
    expect(decodeRegisters([word], reg('bool', order, extra))).toBe(expected);
  });

  it('reads ASCII strings two characters per register, without padding', () => {
    expect(
      decodeRegisters([0x4754, 0x2d31, 0x3031, 0x0000], reg('string', 'ABCD', { count: 4 })),
    ).toBe('GT-101');
    expect(decodeRegisters([0x5447, 0x312d, 0x3130], reg('string', 'BADC', { count: 3 }))).toBe(
      'GT-101',
    );
  });
});

function tag(sensorId: string, register: Partial<ModbusRegisterConfig>): ModbusTagConfig {
  return {
    sensorId,
    name: sensorId,
    kind: 'other',
    unit: '',
    register: {
      table: 'input',
      address: 0,
      type: 'uint16',
      wordOrder: 'ABCD',
      scale: 1,
      offset: 0,
      ...register,
    },
  };
}

const limits = { maxRegisters: 125, maxBits: 2000, maxGapRegisters: 8, maxGapBits: 64 };

describe('coalescing reads', () => {
  it('merges contiguous and near tags of one table into one request', () => {
    const blocks = coalesceReads(
      [
        tag('c', { address: 6, type: 'float32' }),
        tag('a', { address: 0, type: 'float32' }),
        tag('b', { address: 2, type: 'float32' }),
        tag('d', { address: 14, type: 'int16' }),
      ],
      limits,
    );
    expect(blocks.map((b) => [b.table, b.address, b.count, b.tags.map((t) => t.sensorId)])).toEqual(
      [['input', 0, 15, ['a', 'b', 'c', 'd']]],
    );
  });

  it('splits at gaps wider than allowed and keeps tables apart', () => {
    const blocks = coalesceReads(
      [
        tag('a', { address: 0 }),
        tag('b', { address: 100 }),
        tag('h', { table: 'holding', address: 0 }),
        tag('k', { table: 'coil', address: 5, type: 'bool' }),
        tag('l', { table: 'coil', address: 9, type: 'bool' }),
      ],
      limits,
    );
    expect(blocks.map((b) => [b.table, b.address, b.count])).toEqual([
      ['coil', 5, 5],
      ['holding', 0, 1],
      ['input', 0, 1],
      ['input', 100, 1],
    ]);
  });

  it('never asks for more than the per-read limit', () => {
    const tags = Array.from({ length: 100 }, (_, i) =>
      tag(`t${i}`, { address: i * 2, type: 'float32' }),
    );
    const blocks = coalesceReads(tags, limits);
    expect(blocks.map((b) => b.count)).toEqual([124, 76]);
    expect(coalesceReads(tags, { ...limits, maxRegisters: 10 }).every((b) => b.count <= 10)).toBe(
      true,
    );
  });
});

describe('reconnect backoff', () => {
  it('doubles from the initial delay up to the ceiling', () => {
    const backoff = new Backoff(
      { initialMs: 1000, maxMs: 30_000, factor: 2, jitter: 0.2 },
      () => 0.5,
    );
    expect(Array.from({ length: 7 }, () => backoff.next())).toEqual([
      1000, 2000, 4000, 8000, 16_000, 30_000, 30_000,
    ]);
    backoff.reset();
    expect(backoff.next()).toBe(1000);
  });

  it('spreads each delay by the jitter, never above the ceiling', () => {
    const low = new Backoff({ initialMs: 1000, maxMs: 30_000, factor: 2, jitter: 0.2 }, () => 0);
    const high = new Backoff({ initialMs: 1000, maxMs: 30_000, factor: 2, jitter: 0.2 }, () => 1);
    expect([low.next(), low.next()]).toEqual([800, 1600]);
    expect([high.next(), high.next()]).toEqual([1200, 2400]);
    for (let i = 0; i < 10; i++) high.next();
    expect(high.next()).toBe(30_000);
  });
});
