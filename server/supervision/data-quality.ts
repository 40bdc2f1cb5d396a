/**
 * Data quality per point, enterprise and jurisdiction (issue 16; definitions in
 * docs/indicators.md, supervision section): online rate, completeness against the expected
 * reading rate, flat-lined values, clock skew, setpoints missing or looser than GB/T 50493-2019,
 * non-standard point names, and gateway outages.
 *
 * A gateway that is offline counts once, as a gateway outage: the points behind it are
 * `gateway-offline` (suppressed by design), not device faults, so one dead uplink is one line,
 * not hundreds (thingsboard-gateway #1014). Their online time still stops: the data did not
 * reach the platform, and the online rate says so.
 */
import type { GatewayPresence } from '../gateways.js';
import type { SensorRecord } from '../platform/registry.js';
import { isDiagnosticPoint } from '../platform/supervision.js';
import { setpointProblems } from './conditions/setpoint-looser.js';
import type { SupervisionConfig } from './config.js';
import type { EvidenceTracker } from './evidence.js';
import type { OutageRecord } from './store.js';

export type PointStatus = 'online' | 'offline' | 'fault' | 'gateway-offline' | 'never-read';
export type SetpointStatus = 'compliant' | 'not-seen' | 'looser' | 'not-applicable';

export interface PointQuality {
  gatewayId: string;
  enterpriseId: string;
  sensorId: string;
  name: string;
  kind: string;
  status: PointStatus;
  /** Fraction of the observed window with a good reading no older than staleMs. */
  onlineRate: number;
  /** Readings received / readings expected at expectedReadingIntervalMs, capped at 1. */
  completeness: number;
  /** ms the (non-zero) value has been exactly the same; null when not flat-lined. */
  flatForMs: number | null;
  /** Source time minus server receive time of the newest reading (ms); null before one. */
  clockSkewMs: number | null;
  clockSkewed: boolean;
  setpoint: SetpointStatus;
  setpointProblems: string[];
  standardName: boolean;
}

export interface QualitySummary {
  points: number;
  online: number;
  /** Mean of the points' online rates (null without points). */
  onlineRate: number | null;
  completeness: number | null;
  flatLined: number;
  clockSkewed: number;
  setpointsNotSeen: number;
  setpointsLooser: number;
  nonStandardNames: number;
  /** Points offline or faulted behind an online gateway: device faults. */
  deviceFaults: number;
  /** Points behind an offline gateway: counted in gatewayOutages, not as device faults. */
  pointsSuppressed: number;
  /** Gateway outages open now or ended within the window, each counted once. */
  gatewayOutages: number;
}

export interface QualityInput {
  now: number;
  config: SupervisionConfig;
  tracker: EvidenceTracker;
  sensors: readonly SensorRecord[];
  gateways: readonly GatewayPresence[];
  offlineGateways: ReadonlyMap<string, number>;
  outages: readonly OutageRecord[];
  /** The setpoint rule's limits (the accident pack), or {} when that rule is off. */
  setpointLimits: Record<string, unknown>;
  /** Flat-line threshold (the detector rule's `flatLineMs`). */
  flatLineMs: number;
}

export function pointQualities(input: QualityInput): PointQuality[] {
  const { now, config, tracker } = input;
  const pattern = new RegExp(config.pointNamePattern);
  const out: PointQuality[] = [];
  for (const s of input.sensors) {
    if (isDiagnosticPoint(s)) continue;
    const p = tracker.point(s.gatewayId, s.sensorId);
    let status: PointStatus;
    if (input.offlineGateways.has(s.gatewayId)) status = 'gateway-offline';
    else if (!p) status = 'never-read';
    else if (now - p.lastReceivedAt > config.staleMs) status = 'offline';
    else if (p.lastQuality === 'bad') status = 'fault';
    else status = 'online';
    const figures = p ? tracker.windowFigures(p, now) : null;
    const expected = figures ? Math.max(1, figures.spanMs / config.expectedReadingIntervalMs) : 1;
    const flatFor =
      p && typeof p.lastValue === 'number' && p.lastValue !== 0 ? now - p.valueSince : 0;
    const problems = setpointProblems(s, input.setpointLimits);
    const gasLike = s.kind === 'gas' || s.kind === 'oxygen';
    let setpoint: SetpointStatus = 'not-applicable';
    if (gasLike) {
      if (s.setpointLevel1 === null && s.setpointLevel2 === null) setpoint = 'not-seen';
      else setpoint = problems.length > 0 ? 'looser' : 'compliant';
    }
    const skew = p ? p.skewMs : null;
    out.push({
      gatewayId: s.gatewayId,
      enterpriseId: s.enterpriseId,
      sensorId: s.sensorId,
      name: s.name,
      kind: s.kind,
      status,
      onlineRate: figures ? figures.onlineMs / figures.spanMs : 0,
      completeness: figures ? Math.min(1, figures.readings / expected) : 0,
      flatForMs: flatFor >= input.flatLineMs ? flatFor : null,
      clockSkewMs: skew,
      clockSkewed: skew !== null && Math.abs(skew) > config.skewThresholdMs,
      setpoint,
      setpointProblems: problems,
      standardName: pattern.test(s.sensorId),
    });
  }
  return out;
}

export function summarise(
  points: readonly PointQuality[],
  outages: readonly OutageRecord[],
): QualitySummary {
  let online = 0;
  let rate = 0;
  let completeness = 0;
  const s: QualitySummary = {
    points: points.length,
    online: 0,
    onlineRate: null,
    completeness: null,
    flatLined: 0,
    clockSkewed: 0,
    setpointsNotSeen: 0,
    setpointsLooser: 0,
    nonStandardNames: 0,
    deviceFaults: 0,
    pointsSuppressed: 0,
    gatewayOutages: outages.length,
  };
  for (const p of points) {
    if (p.status === 'online') online++;
    if (p.status === 'offline' || p.status === 'fault' || p.status === 'never-read')
      s.deviceFaults++;
    if (p.status === 'gateway-offline') s.pointsSuppressed++;
    if (p.flatForMs !== null) s.flatLined++;
    if (p.clockSkewed) s.clockSkewed++;
    if (p.setpoint === 'not-seen') s.setpointsNotSeen++;
    if (p.setpoint === 'looser') s.setpointsLooser++;
    if (!p.standardName) s.nonStandardNames++;
    rate += p.onlineRate;
    completeness += p.completeness;
  }
  s.online = online;
  if (points.length > 0) {
    s.onlineRate = rate / points.length;
    s.completeness = completeness / points.length;
  }
  return s;
}
