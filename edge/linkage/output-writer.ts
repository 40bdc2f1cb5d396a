/**
 * What local linkage needs from the gateway: the writer of a device of the gateway
 * config. The edge must not import gateway/, so the contract is restated here; it is
 * structurally the same as `DeviceWriters` / `DeviceWriter` of
 * gateway/acquisition/writer.ts, and the gateway passes its `Acquisition` itself.
 *
 * Why the acquisition and not a connection of our own: one owner per device. On an
 * RTU bus a second connection would be a second master on one serial port, and on TCP
 * a second connection races the polls; the acquisition serialises writes with its polls
 * on the device's own link and reconnects it.
 *
 * Guarantees an implementation gives (see gateway/acquisition/writer.ts):
 * - a write goes out on the device's own link, serialised with its polls;
 * - it fails fast when the device is offline, never queued for later (the runner
 *   decides about the retry);
 * - unless `{ readback: false }`, the written value is read back and compared, and a
 *   difference rejects (code 'readback mismatch'); errors name the device and address.
 */

/** Read the written value back and compare (default true). */
export interface OutputWriteOptions {
  readback?: boolean;
}

/** What the device holds after the write, and whether it was read back and matched. */
export interface OutputWriteResult<T> {
  readonly value: T;
  readonly verified: boolean;
}

/** The writer of one device. */
export interface OutputDeviceWriter {
  readonly deviceId: string;
  /** Modbus FC 5 (write single coil), then FC 1 to read it back. */
  writeCoil(
    address: number,
    value: boolean,
    options?: OutputWriteOptions,
  ): Promise<OutputWriteResult<boolean>>;
  /** Modbus FC 6 for one value (FC 16 for several), then FC 3 to read back; raw 16-bit words. */
  writeRegisters(
    address: number,
    values: readonly number[],
    options?: OutputWriteOptions,
  ): Promise<OutputWriteResult<number[]>>;
}

/**
 * Finds the writer of a gateway-config device by id; undefined for unknown ids and
 * read-only protocols. The gateway's `Acquisition` implements it.
 */
export interface OutputDeviceWriters {
  writer(deviceId: string): OutputDeviceWriter | undefined;
}
