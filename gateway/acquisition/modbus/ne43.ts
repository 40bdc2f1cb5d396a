/**
 * Raw 4–20 mA loop counts → engineering value and quality, by NAMUR NE 43
 * ("Standardisation of the signal level for the failure information of digital
 * transmitters", NAMUR recommendation NE 43):
 *   3.8 .. 20.5 mA    valid measurement (3.8–4 and 20–20.5 mA: the signal saturates
 *                     just outside the measuring range, still a measurement)
 *   3.6 .. 3.8 mA     uncertain (below the saturation limit, not yet a failure signal)
 *   20.5 .. 21 mA     uncertain
 *   below 3.6 mA      bad: device failure signal (or a broken loop)
 *   above 21 mA       bad: device failure signal (or a shorted loop)
 */
import type { Quality } from '../../../protocol/payloads.js';
import type { CurrentLoopConfig } from '../../config/types.js';
import { decimalPlaces, roundToDecimals } from './decode.js';

/** NAMUR NE 43 signal limits, mA. */
export const NE43_MA = {
  zero: 4, // measuring range start
  full: 20, // measuring range end
  saturationLow: 3.8, // NE 43: lowest valid measurement
  saturationHigh: 20.5, // NE 43: highest valid measurement
  faultBelow: 3.6, // NE 43: below this, failure information
  faultAbove: 21, // NE 43: above this, failure information
} as const;

export interface LoopReading {
  /** Engineering value, null when quality is bad. */
  value: number | null;
  quality: Quality;
  reason?: string;
  /** Loop current in mA (for diagnostics). */
  milliamps: number;
}

/** Loop current in mA from raw counts, by linear interpolation between the 4 and 20 mA counts. */
export function countsToMilliamps(raw: number, loop: CurrentLoopConfig): number {
  return (
    NE43_MA.zero +
    ((raw - loop.rawAt4mA) * (NE43_MA.full - NE43_MA.zero)) / (loop.rawAt20mA - loop.rawAt4mA)
  );
}

/** Engineering value (rangeMin at 4 mA, rangeMax at 20 mA) and its NE 43 quality. */
export function decodeCurrentLoop(
  raw: number,
  loop: CurrentLoopConfig,
  rangeMin: number,
  rangeMax: number,
): LoopReading {
  const mA = countsToMilliamps(raw, loop);
  const milliamps = Math.round(mA * 1000) / 1000;
  if (mA < NE43_MA.faultBelow) {
    return { value: null, quality: 'bad', reason: 'ne43 fault low', milliamps };
  }
  if (mA > NE43_MA.faultAbove) {
    return { value: null, quality: 'bad', reason: 'ne43 fault high', milliamps };
  }
  // From the counts directly (not via mA): one rounding step fewer. One count is
  // `perCount` engineering units; the value keeps the decimals exact decimal arithmetic
  // gives (like scale and offset, decode.ts), so binary noise never reaches the API.
  const perCount = (rangeMax - rangeMin) / (loop.rawAt20mA - loop.rawAt4mA);
  const decimals = Math.max(
    decimalPlaces(rangeMin),
    decimalPlaces(raw) + decimalPlaces(loop.rawAt4mA) + decimalPlaces(perCount),
  );
  const value = roundToDecimals(
    rangeMin + ((raw - loop.rawAt4mA) * (rangeMax - rangeMin)) / (loop.rawAt20mA - loop.rawAt4mA),
    decimals,
  );
  if (mA < NE43_MA.saturationLow) {
    return { value, quality: 'uncertain', reason: 'ne43 below range', milliamps };
  }
  if (mA > NE43_MA.saturationHigh) {
    return { value, quality: 'uncertain', reason: 'ne43 above range', milliamps };
  }
  return { value, quality: 'good', milliamps };
}
