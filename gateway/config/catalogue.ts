import type { SensorInfo } from '../../protocol/payloads.js';
import type { GatewayConfig } from './types.js';

/** Every tag of every device as the SensorInfo the gateway's birth message carries. */
export function sensorCatalogue(config: GatewayConfig): SensorInfo[] {
  const sensors: SensorInfo[] = [];
  for (const device of config.devices) {
    for (const tag of device.tags) {
      const info: SensorInfo = {
        sensorId: tag.sensorId,
        name: tag.name,
        kind: tag.kind,
        unit: tag.unit,
      };
      if (tag.gas !== undefined) info.gas = tag.gas;
      if (tag.installationId !== undefined) info.installationId = tag.installationId;
      if (tag.location !== undefined) info.location = tag.location;
      if (tag.rangeMin !== undefined) info.rangeMin = tag.rangeMin;
      if (tag.rangeMax !== undefined) info.rangeMax = tag.rangeMax;
      sensors.push(info);
    }
  }
  return sensors;
}

/**
 * The synthetic status sensor of every device, `<deviceId>.online` (bool, true = online),
 * that acquisition emits when started with `statusReadings: true`; add these to the
 * catalogue to let rules alarm on a device going offline. The id is the same as
 * acquisition/source.ts deviceStatusSensorId().
 */
export function deviceStatusSensors(config: GatewayConfig): SensorInfo[] {
  return config.devices.map((device) => ({
    sensorId: `${device.id}.online`,
    name: `${device.id} communication`,
    kind: 'status',
    unit: '',
  }));
}
