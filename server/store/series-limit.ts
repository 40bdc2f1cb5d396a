/**
 * Bounds series cardinality: at most `maxSensorsPerGateway` distinct sensor
 * ids per gateway. A series is (gateway, sensor) in both backends (the
 * InfluxDB tags are enterprise_id, gateway_id, sensor_id; docs/influxdb.md), so
 * the number of series is at most gateways × this limit, whatever a
 * misconfigured or hostile gateway sends.
 *
 * Readings of sensors beyond the limit are dropped (and counted, and logged
 * once per gateway with a count at each power of ten) while the rest of the
 * batch is stored: one runaway gateway must not stop its own good sensors.
 */
import { createLogger } from '../../common/logger.js';
import type { TelemetryBatch } from '../../protocol/index.js';

const log = createLogger('server.store');

export class SeriesLimiter {
  private readonly sensorsByGateway = new Map<string, Set<string>>();
  private droppedReadings = 0;
  private readonly droppedByGateway = new Map<string, number>();

  constructor(private readonly maxSensorsPerGateway: number) {}

  /** Readings dropped since start because their gateway had too many sensors. */
  get dropped(): number {
    return this.droppedReadings;
  }

  /** Records a series that already exists in the backend (loaded at start). */
  know(gatewayId: string, sensorId: string): void {
    let sensors = this.sensorsByGateway.get(gatewayId);
    if (!sensors) {
      sensors = new Set();
      this.sensorsByGateway.set(gatewayId, sensors);
    }
    sensors.add(sensorId);
  }

  /**
   * The batch itself when every sensor fits, else a copy without the readings
   * of sensors over the limit. New sensors that fit are not remembered until
   * `commit` (a failed write must not use up the budget).
   */
  admit(batch: TelemetryBatch): TelemetryBatch {
    const known = this.sensorsByGateway.get(batch.gatewayId);
    const budget = this.maxSensorsPerGateway - (known?.size ?? 0);
    let fresh: Set<string> | null = null;
    let over: Set<string> | null = null;
    for (const reading of batch.readings) {
      if (known?.has(reading.sensorId) || fresh?.has(reading.sensorId)) continue;
      if (over?.has(reading.sensorId)) continue;
      fresh ??= new Set();
      if (fresh.size < budget) {
        fresh.add(reading.sensorId);
      } else {
        over ??= new Set();
        over.add(reading.sensorId);
      }
    }
    if (!over) return batch;
    const kept = batch.readings.filter((r) => !over.has(r.sensorId));
    const dropped = batch.readings.length - kept.length;
    this.droppedReadings += dropped;
    const total = (this.droppedByGateway.get(batch.gatewayId) ?? 0) + dropped;
    const before = total - dropped;
    this.droppedByGateway.set(batch.gatewayId, total);
    if (
      before === 0 ||
      Math.floor(Math.log10(total)) > Math.floor(Math.log10(Math.max(1, before)))
    ) {
      log.warn(
        {
          gatewayId: batch.gatewayId,
          limit: this.maxSensorsPerGateway,
          droppedReadings: total,
          example: over.values().next().value,
        },
        'gateway exceeds the sensor (series) limit: readings of new sensors dropped',
      );
    }
    return { ...batch, readings: kept };
  }

  /** Remembers the sensors of a batch that was committed. */
  commit(batch: TelemetryBatch): void {
    for (const reading of batch.readings) this.know(batch.gatewayId, reading.sensorId);
  }

  clear(): void {
    this.sensorsByGateway.clear();
  }
}
