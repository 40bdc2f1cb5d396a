/**
 * What local linkage needs from an output device: write a coil or a holding
 * register and read it back. Defined here (not in gateway/) so the edge depends on
 * nothing but this contract; `ModbusOutputWriter` implements it over Modbus TCP,
 * and the gateway may pass any other implementation (say, its acquisition writer).
 *
 * Guarantees an implementation must give: each call resolves only after the
 * device answered, and rejects (naming the device and address) on a timeout, an
 * exception response or a closed connection; calls to one device run one at a
 * time, in call order.
 */
export interface OutputWriter {
  writeCoil(deviceId: string, address: number, value: boolean): Promise<void>;
  readCoil(deviceId: string, address: number): Promise<boolean>;
  writeRegister(deviceId: string, address: number, value: number): Promise<void>;
  readRegister(deviceId: string, address: number): Promise<number>;
}
