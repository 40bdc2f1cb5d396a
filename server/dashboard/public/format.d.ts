/** Types for format.js (plain ES module served to the browser, imported by tests). */

export declare const DISPLAY_DEFAULTS: Readonly<{
  staleIntervalFactor: number;
  staleFloorMs: number;
  historyLength: number;
  intervalSamples: number;
  recentAlarms: number;
  maxTextLength: number;
}>;
export declare const NO_VALUE: string;

export type DisplayStatus = 'good' | 'uncertain' | 'bad' | 'stale' | 'nodata';

export interface ReadingLike {
  value: unknown;
  quality: string;
  reason?: string | null;
  ts: number | null;
}

export interface AlarmLike {
  id: string;
  level: number;
  drill: boolean;
  state: string;
  raisedAt: string | null;
  clearedAt: string | null;
}

export interface SensorGroupable {
  gatewayId: string;
  enterpriseId: string;
  installationId?: string | null;
}

export declare function formatNumber(value: number): string;
export declare function formatValue(
  value: number | boolean | string | null | undefined,
  labels?: { on: string; off: string },
): string;
export declare function estimateIntervalMs(timestamps: readonly number[]): number | null;
export declare function staleAfterMs(intervalMs: number | null | undefined): number;
export declare function isStale(
  ts: number | null | undefined,
  now: number,
  intervalMs?: number | null,
): boolean;
export declare function displayState(
  reading: ReadingLike,
  now: number,
  intervalMs?: number | null,
): { status: DisplayStatus; reason: string | null; ageMs: number | null };
export declare function isLiveStatus(status: string): boolean;
export declare function parseTime(time: string | number | null | undefined): number | null;
export declare function compareAlarms(
  a: Pick<AlarmLike, 'id' | 'level' | 'drill' | 'raisedAt'>,
  b: Pick<AlarmLike, 'id' | 'level' | 'drill' | 'raisedAt'>,
): number;
export declare function mergeAlarm<A extends { state: string }>(
  existing: A | undefined,
  incoming: A,
): A;
export declare function partitionAlarms<A extends AlarmLike>(
  alarms: Iterable<A>,
  recentLimit?: number,
): { active: A[]; recent: A[] };
export declare function groupSensors<S extends SensorGroupable>(
  sensors: Iterable<S>,
): {
  gatewayId: string;
  enterpriseId: string;
  installations: { installationId: string | null; sensors: S[] }[];
}[];
export declare function pushBounded<T>(history: T[], item: T, max: number): T[];
export declare function plottable(value: unknown): number | null;
export declare function sparklinePoints(
  values: readonly number[],
  width: number,
  height: number,
  pad?: number,
): { x: number; y: number }[];
export declare function durationParts(ms: number): { unit: 's' | 'min' | 'h' | 'd'; n: number };
export declare function formatLocalDateTime(time: string | number | null | undefined): string;
export declare function formatLocalTime(time: string | number | null | undefined): string;
export declare function clockOffsetMs(
  dateHeader: string | null | undefined,
  sentAt: number,
  receivedAt: number,
): number;
