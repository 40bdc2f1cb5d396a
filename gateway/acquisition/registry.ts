/**
 * The one place acquisition drivers are registered: one folder per driver, one
 * case per protocol name here. A new driver (e.g. Modbus RTU) adds its folder, its
 * protocol to the config schema, and one case below.
 */
import type { Clock } from '../../common/clock.js';
import { createLogger } from '../../common/logger.js';
import type { DeviceConfig } from '../config/types.js';
import { ModbusTcpSource } from './modbus/modbus-tcp-source.js';
import { OpcuaSource } from './opcua/opcua-source.js';
import type { AcquisitionSource, ReadingSink } from './source.js';

export interface AcquisitionDeps {
  clock: Clock;
  /** PKI folder for OPC UA client certificates; default node-opcua's per-user folder. */
  opcuaPkiDir?: string;
}

/** Creates the source for one device; does no I/O (that starts in start()). */
export function createSource(
  device: DeviceConfig,
  sink: ReadingSink,
  deps: AcquisitionDeps,
): AcquisitionSource {
  switch (device.protocol) {
    case 'modbus-tcp':
      return new ModbusTcpSource(device, sink, { clock: deps.clock });
    case 'opcua':
      return new OpcuaSource(device, sink, {
        clock: deps.clock,
        ...(deps.opcuaPkiDir ? { pkiDir: deps.opcuaPkiDir } : {}),
      });
    default: {
      // The config schema rejects unknown protocols; this guards hand-built configs.
      const unknown: { protocol?: unknown; id?: unknown } = device;
      throw new Error(
        `device '${String(unknown.id)}': unknown protocol '${String(unknown.protocol)}'`,
      );
    }
  }
}

const log = createLogger('gateway.acquisition');

/**
 * All devices' acquisition. Lifecycle: the constructor creates one source per device
 * (no I/O); start() starts them all and resolves once each has begun (never waits for
 * a device to answer); stop() stops them all, may be called twice, and no reading
 * reaches the sink after it resolves.
 */
export class Acquisition {
  readonly sources: readonly AcquisitionSource[];
  private started = false;

  constructor(devices: readonly DeviceConfig[], sink: ReadingSink, deps: AcquisitionDeps) {
    this.sources = devices.map((device) => createSource(device, sink, deps));
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await Promise.all(this.sources.map((source) => source.start()));
    log.info({ devices: this.sources.map((s) => s.deviceId) }, 'acquisition started');
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    const results = await Promise.allSettled(this.sources.map((source) => source.stop()));
    results.forEach((result, i) => {
      if (result.status === 'rejected') {
        log.error(
          { device: this.sources[i]?.deviceId, err: result.reason },
          'source did not stop cleanly',
        );
      }
    });
  }
}
