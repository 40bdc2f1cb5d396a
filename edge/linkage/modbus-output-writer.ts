/**
 * OutputWriter over Modbus TCP (modbus-serial): one client per output device of
 * the rule files' `outputs:` section (host, port, unitId, timeoutMs).
 *
 * Connections open on first use and are dropped on any transport error or
 * timeout, then reopened by the next call: modbus-serial's "Port Not Open" can
 * otherwise persist until a restart, and a late reply after a timeout could be
 * taken for the answer to the next request (BRIEF, library facts). Calls to one
 * device are serialised.
 *
 * Lifecycle: the constructor stores the devices; no start() is needed (lazy
 * connect); stop() closes every connection and is safe to call twice.
 */
import ModbusRTU from 'modbus-serial';
import { createLogger } from '../../common/logger.js';
import type { OutputDevice } from '../rule-types.js';
import type { OutputWriter } from './output-writer.js';

const log = createLogger('edge.linkage.modbus');

type ModbusClient = InstanceType<typeof ModbusRTU.default>;

export const MODBUS_OUTPUT_DEFAULTS = {
  connectTimeoutMs: 3000, // 3 s to open a TCP connection
} as const;

interface Device {
  readonly spec: OutputDevice;
  client: ModbusClient | null;
  /** Tail of this device's call chain (calls run one at a time). */
  queue: Promise<unknown>;
  down: boolean;
}

export class ModbusOutputWriter implements OutputWriter {
  private readonly devices = new Map<string, Device>();
  private stopped = false;

  constructor(outputs: readonly OutputDevice[]) {
    for (const spec of outputs) {
      this.devices.set(spec.id, { spec, client: null, queue: Promise.resolve(), down: false });
    }
  }

  writeCoil(deviceId: string, address: number, value: boolean): Promise<void> {
    return this.call(deviceId, `write coil ${address}`, async (c) => {
      await c.writeCoil(address, value);
    });
  }

  readCoil(deviceId: string, address: number): Promise<boolean> {
    return this.call(deviceId, `read coil ${address}`, async (c) => {
      const result = await c.readCoils(address, 1);
      return result.data[0] === true;
    });
  }

  writeRegister(deviceId: string, address: number, value: number): Promise<void> {
    return this.call(deviceId, `write register ${address}`, async (c) => {
      await c.writeRegister(address, value);
    });
  }

  readRegister(deviceId: string, address: number): Promise<number> {
    return this.call(deviceId, `read register ${address}`, async (c) => {
      const result = await c.readHoldingRegisters(address, 1);
      return result.data[0] ?? Number.NaN;
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.devices.values()].map((d) => this.drop(d)));
  }

  private call<T>(deviceId: string, what: string, op: (c: ModbusClient) => Promise<T>): Promise<T> {
    const device = this.devices.get(deviceId);
    if (!device) return Promise.reject(new Error(`unknown output device '${deviceId}'`));
    const run = async (): Promise<T> => {
      if (this.stopped) throw new Error(`output writer stopped; cannot ${what} on '${deviceId}'`);
      try {
        const client = device.client ?? (await this.open(device));
        const result = await op(client);
        if (device.down) {
          device.down = false;
          log.info({ output: deviceId }, 'output device answering again');
        }
        return result;
      } catch (err) {
        await this.drop(device);
        if (!device.down) {
          device.down = true;
          log.warn(
            { output: deviceId, err: (err as Error).message },
            'output device not answering',
          );
        }
        throw new Error(`${what} on output '${deviceId}' failed: ${(err as Error).message}`, {
          cause: err,
        });
      }
    };
    const next = device.queue.then(run, run);
    device.queue = next.catch(() => {});
    return next;
  }

  private async open(device: Device): Promise<ModbusClient> {
    const client: ModbusClient = new ModbusRTU.default();
    // modbus-serial re-emits port errors; without a listener they would crash the process.
    client.on('error', () => {});
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        client.connectTCP(device.spec.host, { port: device.spec.port }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new Error(`connect timed out after ${MODBUS_OUTPUT_DEFAULTS.connectTimeoutMs} ms`),
              ),
            MODBUS_OUTPUT_DEFAULTS.connectTimeoutMs,
          );
        }),
      ]);
    } catch (err) {
      destroy(client);
      throw err;
    } finally {
      clearTimeout(timer);
    }
    client.setID(device.spec.unitId);
    client.setTimeout(device.spec.timeoutMs);
    client.on('close', () => {
      if (device.client === client) device.client = null;
    });
    device.client = client;
    return client;
  }

  private async drop(device: Device): Promise<void> {
    const client = device.client;
    device.client = null;
    if (!client) return;
    await new Promise<void>((resolve) => {
      try {
        client.close(() => resolve());
      } catch {
        resolve();
      }
      setTimeout(resolve, 500).unref(); // close() may never call back
    });
    destroy(client);
  }
}

function destroy(client: ModbusClient): void {
  try {
    client.destroy(() => {});
  } catch {
    // already destroyed
  }
}
