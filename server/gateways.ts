/**
 * Gateway presence registry, fed by status messages (birth with the sensor
 * catalogue, heartbeats, the last will 'offline') and by any other traffic.
 *
 * Held in memory: every gateway sends its birth (with the catalogue) on each
 * (re)connect, so after a server restart the registry refills as gateways
 * reconnect. Status messages apply in arrival order, not by their `ts`: a last
 * will carries the timestamp of the connect that registered it, which is older
 * than the heartbeats that followed, yet it is the newest news.
 */
import type { Clock } from '../common/clock.js';
import { systemClock } from '../common/clock.js';
import { createLogger } from '../common/logger.js';
import type { GatewayState, GatewayStatus, SensorInfo } from '../protocol/index.js';

const log = createLogger('server.gateways');

export interface GatewayPresence {
  gatewayId: string;
  enterpriseId: string;
  state: GatewayState;
  /** Last message of any kind from this gateway (server clock, epoch ms); null if never heard. */
  lastSeen: number | null;
  /** Sensor catalogue from the latest birth message. */
  sensors: readonly SensorInfo[];
  software?: string;
}

export interface PresenceUpdate {
  /** True when the gateway's state (online/offline) or catalogue changed. */
  changed: boolean;
  gateway: GatewayPresence;
}

/**
 * In-memory registry; no I/O, so no start/stop. Returned objects are copies:
 * changing them does not change the registry.
 */
export class GatewayRegistry {
  private readonly gateways = new Map<string, GatewayPresence>();
  private readonly sensorsByGateway = new Map<string, Map<string, SensorInfo>>();

  constructor(private readonly clock: Clock = systemClock) {}

  /** Applies a status message (birth, heartbeat or last will). */
  applyStatus(status: GatewayStatus): PresenceUpdate {
    const now = this.clock.now();
    const known = this.gateways.get(status.gatewayId);
    const next: GatewayPresence = {
      gatewayId: status.gatewayId,
      enterpriseId: status.enterpriseId,
      state: status.state,
      lastSeen: now,
      sensors: status.sensors ?? known?.sensors ?? [],
    };
    const software = status.software ?? known?.software;
    if (software !== undefined) next.software = software;
    if (status.sensors) {
      this.sensorsByGateway.set(
        status.gatewayId,
        new Map(status.sensors.map((s) => [s.sensorId, s])),
      );
    }
    this.gateways.set(status.gatewayId, next);
    const changed =
      !known ||
      known.state !== next.state ||
      known.enterpriseId !== next.enterpriseId ||
      status.sensors !== undefined;
    if (!known || known.state !== next.state) {
      log.info({ gatewayId: status.gatewayId, state: next.state }, `gateway ${next.state}`);
    }
    return { changed, gateway: copy(next) };
  }

  /**
   * Records traffic (telemetry, alarms) from a gateway. An unknown gateway
   * (e.g. after a server restart, before its next birth) becomes known and
   * online. An offline gateway stays offline: a message processed just after
   * its last will is late, not a sign of life; its next birth brings it back.
   */
  markSeen(gatewayId: string, enterpriseId: string): PresenceUpdate {
    const now = this.clock.now();
    const known = this.gateways.get(gatewayId);
    if (known) {
      known.lastSeen = now;
      return { changed: false, gateway: copy(known) };
    }
    const next: GatewayPresence = {
      gatewayId,
      enterpriseId,
      state: 'online',
      lastSeen: now,
      sensors: [],
    };
    this.gateways.set(gatewayId, next);
    log.info({ gatewayId }, 'gateway online (traffic before its birth message)');
    return { changed: true, gateway: copy(next) };
  }

  get(gatewayId: string): GatewayPresence | undefined {
    const gateway = this.gateways.get(gatewayId);
    return gateway ? copy(gateway) : undefined;
  }

  list(): GatewayPresence[] {
    return [...this.gateways.values()].map(copy);
  }

  online(): GatewayPresence[] {
    return this.list().filter((g) => g.state === 'online');
  }

  /** The catalogue entry of one sensor, from the gateway's latest birth message. */
  sensor(gatewayId: string, sensorId: string): SensorInfo | undefined {
    return this.sensorsByGateway.get(gatewayId)?.get(sensorId);
  }
}

function copy(gateway: GatewayPresence): GatewayPresence {
  return { ...gateway };
}
