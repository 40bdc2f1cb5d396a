/** OPC UA DataValue → Reading: quality from the StatusCode, ts from the source timestamp. */
import type { DataValue, StatusCode } from 'node-opcua';
import type { Quality, Reading } from '../../../protocol/payloads.js';
import type { OpcuaTagConfig } from '../../config/types.js';

type OpcuaModule = typeof import('node-opcua');

/** Timestamps outside 2000..2100 are broken device clocks (same bounds as protocol epochMs). */
const MIN_TS = 946_684_800_000;
const MAX_TS = 4_102_444_800_000;

/** OPC UA Part 4 §7.39: the two top bits of a StatusCode are its severity. */
export function qualityOf(status: Pick<StatusCode, 'value'>): Quality {
  const severity = status.value >>> 30;
  if (severity === 0) return 'good';
  if (severity === 1) return 'uncertain';
  return 'bad';
}

/** True for a StatusCode of severity Bad. */
export function isBadStatus(status: Pick<StatusCode, 'value'> | undefined): boolean {
  return status !== undefined && status.value >= 0x80000000;
}

function validTs(date: Date | null | undefined): number | undefined {
  const ms = date?.getTime();
  return ms !== undefined && Number.isFinite(ms) && ms >= MIN_TS && ms <= MAX_TS ? ms : undefined;
}

/** Converts one DataValue to a Reading; `now` stamps values that carry no timestamp. */
export function toReading(
  opcua: OpcuaModule,
  tag: OpcuaTagConfig,
  dataValue: DataValue,
  now: number,
): Reading {
  const ts = validTs(dataValue.sourceTimestamp) ?? validTs(dataValue.serverTimestamp) ?? now;
  const status = dataValue.statusCode;
  const quality = qualityOf(status);
  if (quality === 'bad') {
    return { sensorId: tag.sensorId, value: null, quality, reason: status.name, ts };
  }
  const value = toScalar(opcua, dataValue);
  if (value === undefined) {
    return { sensorId: tag.sensorId, value: null, quality: 'bad', reason: 'unsupported value', ts };
  }
  if (typeof value === 'number' && !Number.isFinite(value)) {
    return { sensorId: tag.sensorId, value: null, quality: 'bad', reason: 'not a number', ts };
  }
  const reading: Reading = { sensorId: tag.sensorId, value, quality, ts };
  if (quality === 'uncertain') reading.reason = status.name;
  return reading;
}

/** A scalar number, boolean or string; undefined for arrays, structures and the like. */
function toScalar(opcua: OpcuaModule, dataValue: DataValue): number | boolean | string | undefined {
  const variant = dataValue.value;
  if (!variant || variant.arrayType !== opcua.VariantArrayType.Scalar) return undefined;
  const value: unknown = variant.value;
  if (typeof value === 'number' || typeof value === 'boolean') return value;
  if (typeof value === 'string') return value.slice(0, 256);
  // node-opcua carries Int64/UInt64 as [high, low] 32-bit words.
  if (
    (variant.dataType === opcua.DataType.Int64 || variant.dataType === opcua.DataType.UInt64) &&
    Array.isArray(value) &&
    typeof value[0] === 'number' &&
    typeof value[1] === 'number'
  ) {
    return value[0] * 2 ** 32 + value[1];
  }
  return undefined;
}
