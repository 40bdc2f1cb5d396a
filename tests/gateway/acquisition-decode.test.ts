import { describe, expect, it } from 'vitest';
import { Backoff } from '../../gateway/acquisition/backoff.js';
import { coalesceReads } from '../../gateway/acquisition/modbus/coalesce.js';
import {
  decodeRegisters,
  encodeRegisters,
  type RegisterDecoding,
} from '../../gateway/acquisition/modbus/decode.js';
import { decodeCurrentLoop } from '../../gateway/acquisition/modbus/ne43.js';
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
    ['float32', 'ABCD', [0x42f6, 0xe979], 123.456],
    ['float32', 'DCBA', [0x79e9, 0xf642], 123.456],
    ['float32', 'BADC', [0xf642, 0x79e9], 123.456],
    ['float32', 'CDAB', [0xe979, 0x42f6], 123.456],
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
    ['float32', [0x42f6, 0xe979], 2, 1, 247.912],
  ];

  it.each(scaled)(
    '%s %j with scale %d and offset %d reads %d',
    (type, words, scale, offset, expected) => {
      expect(decodeRegisters(words, reg(type, 'ABCD', { scale, offset }))).toBe(expected);
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

/** Significant digits of the shortest text of `x`: 47.59389 → 7, 1.5e-10 → 2. */
function significantDigits(x: number): number {
  const mantissa = Math.abs(x).toExponential().split('e')[0]!;
  return mantissa.replace('.', '').length;
}

/** The words a device sends for `value` as `type` (ABCD). */
function wordsOf(value: number, type: RegisterType): number[] {
  return encodeRegisters(value, reg(type));
}

describe('values rounded to the sensor resolution at acquisition (issue 11 item 7)', () => {
  it('float32 widened to double reads as the shortest decimal of the float32, not 47.59389114379883', () => {
    expect(Math.fround(47.59389)).toBe(47.593_891_143_798_83); // what used to reach the API
    expect(decodeRegisters(wordsOf(47.59389, 'float32'), reg('float32'))).toBe(47.59389);
    expect(decodeRegisters(wordsOf(0.1, 'float32'), reg('float32'))).toBe(0.1);
    expect(decodeRegisters(wordsOf(20.9, 'float32'), reg('float32'))).toBe(20.9);
    expect(decodeRegisters(wordsOf(-3.4e38, 'float32'), reg('float32'))).toBe(-3.4e38);
    expect(decodeRegisters(wordsOf(1.5e-10, 'float32'), reg('float32'))).toBe(1.5e-10);
  });

  it('float32: the rounded value is always the same float32, in the fewest significant digits (at most 9)', () => {
    // Deterministic spread of bit patterns over every exponent (xorshift32).
    let seed = 0x2545f491;
    for (let i = 0; i < 2000; i++) {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      const bits = seed >>> 0;
      const exponent = (bits >>> 23) & 0xff;
      if (exponent === 0xff) continue; // NaN and infinities are the source's business
      const words = [bits >>> 16, bits & 0xffff];
      const exact = Buffer.from([
        bits >>> 24,
        (bits >>> 16) & 0xff,
        (bits >>> 8) & 0xff,
        bits & 0xff,
      ]).readFloatBE(0);
      const value = decodeRegisters(words, reg('float32')) as number;
      expect(Math.fround(value)).toBe(exact);
      // Shortest: one significant digit fewer would no longer read back as the float32.
      const digits = significantDigits(value);
      expect(digits).toBeLessThanOrEqual(9);
      if (digits > 1) expect(Math.fround(Number(exact.toPrecision(digits - 1)))).not.toBe(exact);
    }
  });

  const scaledInts: [string, RegisterType, number, number, number, number][] = [
    // what, type, raw, scale, offset, engineering value
    ['209 * 0.1 (20.900000000000002 in binary)', 'int16', 209, 0.1, 0, 20.9],
    ['3 * 0.1 (0.30000000000000004)', 'uint16', 3, 0.1, 0, 0.3],
    ['7 * 0.3 + 0 (2.0999999999999996)', 'uint16', 7, 0.3, 0, 2.1],
    ['4001 * 0.01 - 20', 'uint16', 4001, 0.01, -20, 20.01],
    ['1234567 * 0.001', 'int32', 1_234_567, 0.001, 0, 1234.567],
    ['-5 * 0.5 + 0.25', 'int16', -5, 0.5, 0.25, -2.25],
    ['12345 * 1e-7', 'uint32', 12_345, 1e-7, 0, 0.0012345],
  ];

  it.each(scaledInts)(
    'a scaled integer keeps the decimals of its scale and offset: %s',
    (_what, type, raw, scale, offset, expected) => {
      expect(decodeRegisters(wordsOf(raw, type), reg(type, 'ABCD', { scale, offset }))).toBe(
        expected,
      );
    },
  );

  it('a scaled float32 keeps the decimals of the float and of the scale', () => {
    expect(Math.fround(123.456) * 2 + 1).not.toBe(247.912); // the noise that used to show
    expect(
      decodeRegisters(wordsOf(123.456, 'float32'), reg('float32', 'ABCD', { scale: 2, offset: 1 })),
    ).toBe(247.912);
    expect(decodeRegisters(wordsOf(20.9, 'float32'), reg('float32', 'ABCD', { scale: 0.1 }))).toBe(
      2.09,
    );
  });

  it('float64 keeps the full precision the device gives', () => {
    expect(decodeRegisters(wordsOf(20.900000000000002, 'float64'), reg('float64'))).toBe(
      20.900000000000002,
    );
    expect(decodeRegisters(wordsOf(Math.PI, 'float64'), reg('float64'))).toBe(Math.PI);
  });

  it("the tag's decimals replace the default, for every numeric type", () => {
    expect(decodeRegisters(wordsOf(47.59389, 'float32'), reg('float32'), 1)).toBe(47.6);
    expect(decodeRegisters(wordsOf(20.900000000000002, 'float64'), reg('float64'), 2)).toBe(20.9);
    expect(decodeRegisters(wordsOf(209, 'int16'), reg('int16', 'ABCD', { scale: 0.1 }), 0)).toBe(
      21,
    );
    expect(decodeRegisters(wordsOf(1234, 'uint16'), reg('uint16'), 0)).toBe(1234);
    expect(decodeRegisters([0x7fc0, 0x0000], reg('float32'), 1)).toBeNaN();
  });

  it('4-20 mA counts keep the decimals of one count (range / counts)', () => {
    // 100 %LEL over 16000 counts: one count is 0.00625 %LEL, so 5 decimals at most.
    const loop = { rawAt4mA: 4000, rawAt20mA: 20_000 };
    expect(decodeCurrentLoop(7333, loop, 0, 100).value).toBe(20.83125);
    // 25 %VOL over 1000 counts from an offset range: 0.025 per count.
    const o2 = { rawAt4mA: 200, rawAt20mA: 1200 };
    expect(decodeCurrentLoop(1037, o2, 0.5, 25.5).value).toBe(21.425);
    // 100 over 3000 counts does not end in decimal: 15 significant digits (IEEE 754 double).
    const thirds = { rawAt4mA: 0, rawAt20mA: 3000 };
    expect(decodeCurrentLoop(1000, thirds, 0, 100).value).toBe(33.3333333333333);
  });
});
