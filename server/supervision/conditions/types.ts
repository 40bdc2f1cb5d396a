/**
 * What a condition type sees and returns. A condition type is a pure function of the screening
 * context and its rule's options: it lists the subjects (point, installation, gateway, alarm)
 * for which the condition holds now, each with since when and the evidence. The engine
 * (screening.ts) turns that into records: it opens one when a condition has held for the rule's
 * `forMs`, and closes the evidence side when it stops holding.
 */
import type { Disposition } from '../../alarms/disposal.js';
import type { GatewayPresence } from '../../gateways.js';
import type { InstallationRecord, SensorRecord } from '../../platform/registry.js';
import type { SupervisionConfig } from '../config.js';
import type { EvidenceTracker } from '../evidence.js';
import type { LiveGrading } from '../inventory.js';
import type { ConditionName, PackRule } from '../packs.js';

export interface Finding {
  subject: string;
  enterpriseId: string;
  installationId: string | null;
  /** When the condition started holding (epoch ms, server clock). */
  since: number;
  evidence: Record<string, unknown>;
}

export interface ConditionResult {
  findings: Finding[];
  /**
   * Subjects that cannot be judged now (points behind an offline gateway: suppressed by
   * design). Their timers and records are left as they are: neither started nor closed.
   */
  suppressed: Set<string>;
}

export interface ScreeningContext {
  now: number;
  config: SupervisionConfig;
  tracker: EvidenceTracker;
  /** The registry's sensors (catalogue, installation, setpoints seen in alarms). */
  sensors: readonly SensorRecord[];
  installations: readonly InstallationRecord[];
  gateways: readonly GatewayPresence[];
  /** Gateways offline now, with since when (their open outage). */
  offlineGateways: ReadonlyMap<string, number>;
  /** Gateways back from an outage within the window, with when they came back. */
  gatewaysBackAt: ReadonlyMap<string, number>;
  gradings: readonly LiveGrading[];
  /** Alarm dispositions not closed (drills excluded). */
  unclosedAlarms: readonly Disposition[];
  /** Raises per `gateway\u0000rule` per day number (floor(t / 1 day)). */
  raisesByDay: ReadonlyMap<string, ReadonlyMap<number, number>>;
}

export interface ConditionType {
  readonly name: ConditionName;
  evaluate(ctx: ScreeningContext, rule: PackRule): ConditionResult;
}

export const pointSubject = (gatewayId: string, sensorId: string) => `${gatewayId}/${sensorId}`;

export const none = (): ConditionResult => ({ findings: [], suppressed: new Set() });
