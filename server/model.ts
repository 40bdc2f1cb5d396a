/**
 * The server's shared model types: what the event hub carries and what several modules
 * (ingest, gateways, platform, the API, the cluster relay) read. A leaf module that imports
 * only the protocol and the alarm modules, so server/events.ts, gateways.ts and
 * platform/platform.ts need not import each other for types.
 */
import type { GatewayState, SensorInfo, UplinkStatus } from '../protocol/index.js';
import type { DisposalEvent } from './alarms/disposal.js';

export type StaleReason = 'offline' | 'heartbeat-timeout';

export interface GatewayPresence {
  gatewayId: string;
  enterpriseId: string;
  state: GatewayState;
  /** Last message of any kind from this gateway (server clock, epoch ms); null if never heard. */
  lastSeen: number | null;
  /** Sensor catalogue from the latest birth message. */
  sensors: readonly SensorInfo[];
  software?: string;
  /** True after a last will / clean offline or two missed heartbeats: its sensors' values are stale. */
  stale: boolean;
  staleReason: StaleReason | null;
  /** Gateway clock minus server clock at the latest online status, ms; null before one. */
  clockSkewMs: number | null;
  /** |clockSkewMs| above the threshold. */
  clockSkewed: boolean;
  /** Store-and-forward figures from the latest heartbeat (backlog, shed, time to drain). */
  uplink?: UplinkStatus;
  /**
   * When the current state was taken (server clock of the node that took it: the status
   * message, or the heartbeat timeout); absent for a gateway known from traffic only.
   */
  stateAt?: number;
}

/** What an 'escalation' event on the hub carries: one level reached by one alarm. */
export interface EscalationNotice {
  event: DisposalEvent;
  level: number;
  to: string;
}
