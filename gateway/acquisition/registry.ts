/**
 * The one place acquisition drivers are registered: one folder per driver, one
 * case per protocol name here. A new driver (e.g. Modbus RTU) adds its folder, its
 * protocol to the config schema, and one case below.
 */
import type { Clock } from '../../common/clock.js';
import { createLogger } from '../../common/logger.js';
import type { DeviceConfig } from '../config/types.js';
import { ModbusLinkPool } from './modbus/link.js';
import { ModbusSource } from './modbus/modbus-source.js';
import { OpcuaSource } from './opcua/opcua-source.js';
import {
  type AcquisitionSource,
  type DeviceStatusEvent,
  type DeviceStatusListener,
  deviceStatusReading,
  type ReadingSink,
} from './source.js';
import type { DeviceWriter, DeviceWriters } from './writer.js';

export interface AcquisitionDeps {
  clock: Clock;
  /** PKI folder for OPC UA client certificates; default node-opcua's per-user folder. */
  opcuaPkiDir?: string;
  /** Shared Modbus links (one per serial bus / RTU-over-TCP endpoint); Acquisition makes one. */
  modbusLinks?: ModbusLinkPool;
  /** Called once per device offline/online transition (see source.ts DeviceStatusEvent). */
  onDeviceStatus?: DeviceStatusListener;
  /**
   * Also emit each transition as a reading of the synthetic sensor `<deviceId>.online`
   * (bool, true = online) through the sink, so rules can alarm on it; default false.
   */
  statusReadings?: boolean;
}

/** Creates the source for one device; does no I/O (that starts in start()). */
export function createSource(
  device: DeviceConfig,
  sink: ReadingSink,
  deps: AcquisitionDeps,
): AcquisitionSource {
  switch (device.protocol) {
    case 'modbus-tcp':
    case 'modbus-rtu':
    case 'modbus-rtu-tcp':
      return new ModbusSource(device, sink, {
        clock: deps.clock,
        ...(deps.modbusLinks ? { links: deps.modbusLinks } : {}),
        ...(deps.onDeviceStatus ? { onDeviceStatus: deps.onDeviceStatus } : {}),
      });
    case 'opcua':
      return new OpcuaSource(device, sink, {
        clock: deps.clock,
        ...(deps.opcuaPkiDir ? { pkiDir: deps.opcuaPkiDir } : {}),
        ...(deps.onDeviceStatus ? { onDeviceStatus: deps.onDeviceStatus } : {}),
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
export class Acquisition implements DeviceWriters {
  readonly sources: readonly AcquisitionSource[];
  private started = false;

  constructor(devices: readonly DeviceConfig[], sink: ReadingSink, deps: AcquisitionDeps) {
    const onDeviceStatus = (event: DeviceStatusEvent) => {
      try {
        deps.onDeviceStatus?.(event);
      } catch (err) {
        log.error({ err, device: event.deviceId }, 'device status listener threw');
      }
      if (deps.statusReadings && this.started) sink([deviceStatusReading(event)]);
    };
    const shared: AcquisitionDeps = {
      ...deps,
      modbusLinks: deps.modbusLinks ?? new ModbusLinkPool(),
      onDeviceStatus,
    };
    this.sources = devices.map((device) => createSource(device, sink, shared));
  }

  /** The writer of a device (Modbus devices), for local linkage outputs; see writer.ts. */
  writer(deviceId: string): DeviceWriter | undefined {
    const source = this.sources.find((s) => s.deviceId === deviceId);
    return source instanceof ModbusSource ? source : undefined;
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
