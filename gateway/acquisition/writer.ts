/**
 * Writing to field devices, for the edge's local linkage outputs (a relay that starts
 * a fan or closes a valve when a gas alarm is raised). Small on purpose: the edge calls
 * it, acquisition implements it (Modbus today).
 *
 * Guarantees of every method:
 * - The write goes out on the device's own link, serialised with its polls (never two
 *   requests on one bus at a time).
 * - It fails fast with WriteError code 'offline' when the device's link is down; it is
 *   never queued for later (a late relay command is worse than a failed one: the caller
 *   decides whether to retry).
 * - Unless `{ readback: false }`, the written range is read back (FC 1 for coils, FC 3
 *   for registers) and compared; a difference rejects with code 'readback mismatch'.
 *
 * Usage:
 *   const relay = acquisition.writer('gas-controller-1');
 *   await relay?.writeCoil(0, true); // FC 5, then FC 1 read back
 */

/** Modbus Application Protocol V1.1b3 §6.12: FC 16 writes at most 123 registers. */
export const MAX_WRITE_REGISTERS = 123;
/** Modbus Application Protocol V1.1b3 §6.11: FC 15 writes at most 1968 coils. */
export const MAX_WRITE_COILS = 1968;

export interface WriteOptions {
  /** Read the written range back and compare (default true). */
  readback?: boolean;
}

export interface WriteResult<T> {
  /** What the device holds after the write (read back), or what was written with readback off. */
  readonly value: T;
  /** True when the value was read back and matched. */
  readonly verified: boolean;
}

export type WriteErrorCode =
  | 'offline'
  | 'timeout'
  | 'exception'
  | 'readback mismatch'
  | 'invalid'
  | 'failed';

/** A write that did not take effect (or could not be confirmed); `cause` keeps the original. */
export class WriteError extends Error {
  override name = 'WriteError';
  constructor(
    readonly code: WriteErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** One device that accepts writes. */
export interface DeviceWriter {
  readonly deviceId: string;
  /** FC 5 (write single coil). */
  writeCoil(address: number, value: boolean, options?: WriteOptions): Promise<WriteResult<boolean>>;
  /** FC 15 (write multiple coils), at most MAX_WRITE_COILS. */
  writeCoils(
    address: number,
    values: readonly boolean[],
    options?: WriteOptions,
  ): Promise<WriteResult<boolean[]>>;
  /**
   * FC 6 (write single register) for one value, FC 16 (write multiple registers) for
   * several, at most MAX_WRITE_REGISTERS; values are raw 16-bit words (0..65535).
   */
  writeRegisters(
    address: number,
    values: readonly number[],
    options?: WriteOptions,
  ): Promise<WriteResult<number[]>>;
}

/** Finds the writer of a device by id; undefined for unknown ids and read-only protocols. */
export interface DeviceWriters {
  writer(deviceId: string): DeviceWriter | undefined;
}
