/**
 * Pure decoding of Modbus registers into engineering values.
 *
 * Byte order names follow the usual A-B-C-D convention, A being the most significant
 * byte of the value, letters listed in the order the device sends them:
 *   ABCD  big-endian (Modbus default: registers big-endian, high word first)
 *   DCBA  little-endian (whole value byte-reversed)
 *   BADC  big-endian words, bytes swapped inside each register
 *   CDAB  low word first, bytes big-endian inside each register ("word swap")
 * 64-bit values generalise the same way (ABCDEFGH, HGFEDCBA, BADCFEHG, GHEFCDAB);
 * 16-bit values only see the byte swap (DCBA and BADC read BA).
 *
 * Values are rounded to what the device said, never carrying binary noise to the API
 * (issue 11: 20.900000000000002 from 209 * 0.1, 47.59389114379883 from a float32):
 *   - float32 reads as the shortest decimal that gives back the same float32 (at most
 *     9 significant digits, IEEE 754-2008 §5.12.2; usually 7);
 *   - raw * scale + offset keeps the decimals of raw, scale and offset (scale 0.1 on an
 *     integer: 1 decimal), which is exact decimal arithmetic;
 *   - float64 keeps the full precision the device gives;
 *   - a tag's `decimals` (the sensor's resolution) replaces all of the above.
 */
import type { ModbusRegisterConfig, WordOrder } from '../../config/types.js';

export type DecodedValue = number | boolean | string;

/** Register words (as received, 0..65535) → bytes of the value, most significant first. */
export function wordsToBytes(words: readonly number[], order: WordOrder): Buffer {
  const received = Buffer.alloc(words.length * 2);
  words.forEach((word, i) => {
    received.writeUInt16BE(word & 0xffff, i * 2);
  });
  const swapBytes = order === 'DCBA' || order === 'BADC';
  const reverseWords = order === 'DCBA' || order === 'CDAB';
  const out = Buffer.alloc(received.length);
  for (let i = 0; i < words.length; i++) {
    const source = reverseWords ? words.length - 1 - i : i;
    const hi = received[source * 2]!;
    const lo = received[source * 2 + 1]!;
    out[i * 2] = swapBytes ? lo : hi;
    out[i * 2 + 1] = swapBytes ? hi : lo;
  }
  return out;
}

/**
 * engineering = raw * scale + offset, rounded to the decimals that exact decimal
 * arithmetic gives (decimals of raw plus those of scale, or those of offset if more):
 * 209 * 0.1 is 20.9, not 20.900000000000002. Identity scaling leaves raw untouched.
 */
export function toEngineering(raw: number, scale: number, offset: number): number {
  if (scale === 1 && offset === 0) return raw;
  const decimals = Math.max(decimalPlaces(raw) + decimalPlaces(scale), decimalPlaces(offset));
  return roundToDecimals(raw * scale + offset, decimals);
}

/** Decimal places of the shortest text of `x`: 0.1 → 1, 2.5e-7 → 8, 1200 → 0. */
export function decimalPlaces(x: number): number {
  if (!Number.isFinite(x)) return 0;
  const [mantissa = '', exponent = '0'] = String(Math.abs(x)).split('e');
  const fraction = mantissa.split('.')[1]?.length ?? 0;
  return Math.max(0, fraction - Number(exponent));
}

/**
 * IEEE 754 double holds 15 significant decimal digits faithfully (C's DBL_DIG): where
 * the decimals asked for go beyond what the double can hold, round to 15 significant
 * digits instead, which still removes the noise of the last binary digits.
 */
const DOUBLE_DIGITS = 15;

/** Rounds half away from zero on the decimal text; NaN and ±Infinity pass through. */
export function roundToDecimals(x: number, decimals: number): number {
  if (!Number.isFinite(x)) return x;
  const integerDigits = x === 0 ? 1 : Math.max(1, Math.floor(Math.log10(Math.abs(x))) + 1);
  if (integerDigits + decimals > DOUBLE_DIGITS) {
    return integerDigits >= DOUBLE_DIGITS ? x : Number(x.toPrecision(DOUBLE_DIGITS));
  }
  return Number(x.toFixed(decimals));
}

/**
 * The shortest decimal that reads back as the same float32 (`x` is a float32 widened to
 * double): 47.59389114379883 → 47.59389. At most 9 significant digits are needed
 * (IEEE 754-2008 §5.12.2 for binary32), usually 7 or fewer.
 */
export function shortestFloat32(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  for (let digits = 1; digits < 9; digits++) {
    const candidate = Number(x.toPrecision(digits));
    if (Math.fround(candidate) === x) return candidate;
  }
  return Number(x.toPrecision(9));
}

export type RegisterDecoding = Pick<
  ModbusRegisterConfig,
  'type' | 'wordOrder' | 'scale' | 'offset' | 'bit' | 'count'
>;

/**
 * Decodes the registers of one tag (exactly registerCount(register) words, starting
 * at the tag's address), rounded as the header says; `decimals` is the tag's own
 * resolution, when it has one. Numbers may come out NaN or ±Infinity (float types):
 * the caller decides what that means for quality.
 */
export function decodeRegisters(
  words: readonly number[],
  register: RegisterDecoding,
  decimals?: number,
): DecodedValue {
  const value = decodeUnrounded(words, register);
  return typeof value === 'number' && decimals !== undefined
    ? roundToDecimals(value, decimals)
    : value;
}

function decodeUnrounded(words: readonly number[], register: RegisterDecoding): DecodedValue {
  const bytes = wordsToBytes(words, register.wordOrder);
  const { scale, offset } = register;
  switch (register.type) {
    case 'bool': {
      const word = bytes.readUInt16BE(0);
      return register.bit === undefined ? word !== 0 : ((word >> register.bit) & 1) === 1;
    }
    case 'int16':
      return toEngineering(bytes.readInt16BE(0), scale, offset);
    case 'uint16':
      return toEngineering(bytes.readUInt16BE(0), scale, offset);
    case 'int32':
      return toEngineering(bytes.readInt32BE(0), scale, offset);
    case 'uint32':
      return toEngineering(bytes.readUInt32BE(0), scale, offset);
    case 'float32':
      return toEngineering(shortestFloat32(bytes.readFloatBE(0)), scale, offset);
    case 'float64':
      return toEngineering(bytes.readDoubleBE(0), scale, offset);
    case 'string':
      return decodeAscii(bytes);
  }
}

/** ASCII text, two characters per register; trailing NULs and spaces are padding. */
function decodeAscii(bytes: Buffer): string {
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === 0 || bytes[end - 1] === 0x20)) end--;
  return bytes.subarray(0, end).toString('latin1');
}

/** Inverse of decodeRegisters for numeric types (test fixtures and simulators of tests). */
export function encodeRegisters(value: number, register: RegisterDecoding): number[] {
  const raw =
    register.scale === 1 && register.offset === 0
      ? value
      : (value - register.offset) / register.scale;
  let bytes: Buffer;
  switch (register.type) {
    case 'int16':
      bytes = Buffer.alloc(2);
      bytes.writeInt16BE(Math.round(raw));
      break;
    case 'uint16':
    case 'bool':
      bytes = Buffer.alloc(2);
      bytes.writeUInt16BE(Math.round(raw));
      break;
    case 'int32':
      bytes = Buffer.alloc(4);
      bytes.writeInt32BE(Math.round(raw));
      break;
    case 'uint32':
      bytes = Buffer.alloc(4);
      bytes.writeUInt32BE(Math.round(raw));
      break;
    case 'float32':
      bytes = Buffer.alloc(4);
      bytes.writeFloatBE(raw);
      break;
    case 'float64':
      bytes = Buffer.alloc(8);
      bytes.writeDoubleBE(raw);
      break;
    case 'string':
      throw new Error("encodeRegisters: type 'string' is not numeric");
  }
  // Every order is its own inverse at the byte level (a reversal or a swap).
  const words: number[] = [];
  for (let i = 0; i < bytes.length; i += 2) words.push(bytes.readUInt16BE(i));
  const reordered = wordsToBytes(words, register.wordOrder);
  const out: number[] = [];
  for (let i = 0; i < reordered.length; i += 2) out.push(reordered.readUInt16BE(i));
  return out;
}
