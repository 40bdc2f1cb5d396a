/**
 * What failed on a Modbus request, in words an engineer can act on: the `reason` of
 * bad-quality readings and of the device-offline log line and status event. A wrong
 * unit id, for one, shows as "no reply from unit 7 within 1000 ms" (a silent bus),
 * "exception 11 (gateway target device failed to respond)" (a TCP-to-RTU gateway) or
 * "wrong unit id: asked unit 7, reply from unit 8", from the first failed poll on.
 *
 * `kind` groups failures for logging: a device logs each kind once, not every poll.
 */
import { COMM_LOST } from '../source.js';

/** A reply did not match its request (unit id, function code, length): the link was closed. */
export class ReplyMismatchError extends Error {
  override name = 'ReplyMismatchError';
}

export function isTimeout(err: unknown): boolean {
  const e = err as { errno?: unknown; message?: unknown } | null;
  return e?.errno === 'ETIMEDOUT' || e?.message === 'Timed out';
}

export function isModbusException(err: unknown): err is { modbusCode: number } {
  return typeof (err as { modbusCode?: unknown } | null)?.modbusCode === 'number';
}

export function isMismatch(err: unknown): boolean {
  if (err instanceof ReplyMismatchError) return true;
  const message = (err as { message?: unknown } | null)?.message;
  return (
    typeof message === 'string' &&
    (message.startsWith('Unexpected data error') ||
      message.startsWith('Data length error') ||
      message.startsWith('CRC error'))
  );
}

export function describeError(err: unknown): string {
  return err instanceof Error || (err && typeof err === 'object' && 'message' in err)
    ? String((err as { message: unknown }).message)
    : String(err);
}

export interface Failure {
  /** Stable group: 'timeout', 'exception 11', 'wrong unit id', 'reply mismatch', 'comm error'. */
  kind: string;
  /** One line for readings and logs (protocol Reading.reason allows 200 characters). */
  reason: string;
}

/** Modbus Application Protocol V1.1b3 §7 (MODBUS Exception Responses), codes 01..0B. */
export const MODBUS_EXCEPTION_NAMES: Readonly<Record<number, string>> = {
  1: 'illegal function',
  2: 'illegal data address',
  3: 'illegal data value',
  4: 'server device failure',
  5: 'acknowledge',
  6: 'server device busy',
  8: 'memory parity error',
  10: 'gateway path unavailable',
  11: 'gateway target device failed to respond',
};

/**
 * Exceptions 0x0A and 0x0B come from a gateway (TCP to RTU, say), not from the device:
 * the device itself did not answer, so they count as no reply (the breaker opens and
 * the device goes offline) rather than as an answer.
 */
export function isGatewayNoTarget(code: number): boolean {
  return code === 10 || code === 11;
}

export function exceptionReason(code: number): string {
  const name = MODBUS_EXCEPTION_NAMES[code];
  return name ? `exception ${code} (${name})` : `exception ${code}`;
}

/** The reason of the readings a device going offline emits: 'comm lost: <what failed>'. */
export function commLostReason(cause: string): string {
  return clip(`${COMM_LOST}: ${cause}`);
}

/** Reading.reason is at most 200 characters (protocol/payloads.ts). */
const MAX_REASON = 200;

function clip(reason: string): string {
  return reason.length > MAX_REASON ? `${reason.slice(0, MAX_REASON - 3)}...` : reason;
}

/** Describes an error of one request to `unitId` that had `timeoutMs` to be answered. */
export function describeFailure(
  err: unknown,
  request: { unitId: number; timeoutMs: number },
): Failure {
  if (isTimeout(err)) {
    return {
      kind: 'timeout',
      reason: `timeout: no reply from unit ${request.unitId} within ${request.timeoutMs} ms`,
    };
  }
  if (isModbusException(err)) {
    return { kind: `exception ${err.modbusCode}`, reason: exceptionReason(err.modbusCode) };
  }
  const message = describeError(err);
  // modbus-serial: "Unexpected data error, expected address 7 got 8" (the reply's unit id).
  const unit = /expected address (\d+) got (\d+)/.exec(message);
  if (unit) {
    return {
      kind: 'wrong unit id',
      reason: `wrong unit id: asked unit ${unit[1]}, reply from unit ${unit[2]}`,
    };
  }
  if (isMismatch(err))
    return { kind: 'reply mismatch', reason: clip(`reply mismatch: ${message}`) };
  return { kind: 'comm error', reason: clip(`comm error: ${message}`) };
}

/** Describes a failed connect (TCP connection, serial port) to `where`. */
export function describeConnectFailure(err: unknown, where: string): string {
  const code = (err as { code?: unknown } | null)?.code;
  switch (code) {
    case 'ECONNREFUSED':
      return `connection refused by ${where}`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `host unreachable: ${where}`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `host name not found: ${where}`;
    case 'ENOENT':
      return `serial port not found: ${where}`;
    case 'EACCES':
      return `no permission to open ${where}`;
    default:
      return clip(`cannot connect to ${where}: ${describeError(err)}`);
  }
}
