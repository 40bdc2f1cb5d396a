/**
 * Display logic of the dashboard that needs no DOM: value formatting, staleness, display state
 * of a sensor, alarm ordering and merging, grouping, sparkline geometry, times.
 * Node imports this module in tests (tests/dashboard), the browser as /assets/format.js.
 * Types: format.d.ts next to this file.
 */

/** Display defaults, each with its unit. */
export const DISPLAY_DEFAULTS = Object.freeze({
  /**
   * A value is stale once it missed this many of its usual updates. Three, so one late batch or
   * one lost packet does not flag it, while a dead link shows within a few intervals.
   */
  staleIntervalFactor: 3,
  /** Never call a value stale sooner than this: batch cadence and network jitter. */
  staleFloorMs: 10_000, // 10 s
  /** Points kept per sensor for its sparkline. */
  historyLength: 60,
  /** Source timestamps kept per sensor to estimate its usual update interval. */
  intervalSamples: 20,
  /** Cleared alarms kept in the "recent alarms" list. */
  recentAlarms: 20,
  /** Longest text value shown on a card, in characters. */
  maxTextLength: 64,
});

/** Shown wherever there is no value or no time. */
export const NO_VALUE = '—';

/**
 * Formats a number for a gauge: enough digits to see a trend, never more than the sensor can
 * mean, and a fixed number of decimals per magnitude so the figure does not jump about.
 * @param {number} value
 * @returns {string}
 */
export function formatNumber(value) {
  if (typeof value !== 'number' || !Number.isFinite(value)) return NO_VALUE;
  const abs = Math.abs(value);
  if (abs === 0) return '0'; // also -0
  if (abs >= 1000) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  if (abs >= 0.001) return value.toFixed(3);
  return value.toPrecision(2);
}

/**
 * Formats any reading value (number, boolean state, text, or none).
 * @param {number|boolean|string|null|undefined} value
 * @param {{ on: string, off: string }} [labels] words for true and false
 * @returns {string}
 */
export function formatValue(value, labels = { on: 'ON', off: 'OFF' }) {
  if (value === null || value === undefined) return NO_VALUE;
  if (typeof value === 'boolean') return value ? labels.on : labels.off;
  if (typeof value === 'number') return formatNumber(value);
  const text = String(value);
  const max = DISPLAY_DEFAULTS.maxTextLength;
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/**
 * The usual update interval of a sensor: the median gap between successive source timestamps
 * (the median, so one outage or one burst does not move it). Null until two distinct stamps.
 * @param {readonly number[]} timestamps epoch ms, oldest first
 * @returns {number|null} ms
 */
export function estimateIntervalMs(timestamps) {
  /** @type {number[]} */
  const gaps = [];
  let previous = null;
  for (const ts of timestamps) {
    if (previous !== null && ts - previous > 0) gaps.push(ts - previous);
    previous = ts;
  }
  if (gaps.length === 0) return null;
  gaps.sort((a, b) => a - b);
  const upper = gaps[Math.floor(gaps.length / 2)] ?? 0;
  const lower = gaps[Math.floor((gaps.length - 1) / 2)] ?? 0;
  return (lower + upper) / 2;
}

/**
 * Age after which a value counts as stale: 3× its usual interval, but never under 10 s.
 * @param {number|null|undefined} intervalMs
 * @returns {number} ms
 */
export function staleAfterMs(intervalMs) {
  const floor = DISPLAY_DEFAULTS.staleFloorMs;
  if (typeof intervalMs !== 'number' || !Number.isFinite(intervalMs) || intervalMs <= 0) {
    return floor;
  }
  return Math.max(floor, DISPLAY_DEFAULTS.staleIntervalFactor * intervalMs);
}

/**
 * @param {number|null|undefined} ts source time of the value, epoch ms
 * @param {number} now epoch ms
 * @param {number|null} [intervalMs] the sensor's usual update interval
 * @returns {boolean} true when there is no time or it is older than staleAfterMs(intervalMs)
 */
export function isStale(ts, now, intervalMs = null) {
  if (typeof ts !== 'number' || !Number.isFinite(ts)) return true;
  return now - ts > staleAfterMs(intervalMs);
}

/**
 * What a sensor's value may be taken for. Order matters: a bad value is bad whatever its age;
 * a good value that stopped updating is stale, never good.
 *  - 'bad': quality bad (reason from the gateway)
 *  - 'nodata': no value or no time yet
 *  - 'stale': older than staleAfterMs
 *  - 'uncertain': quality uncertain (shown, but flagged)
 *  - 'good'
 * @param {{ value: unknown, quality: string, reason?: string|null, ts: number|null }} reading
 * @param {number} now epoch ms
 * @param {number|null} [intervalMs]
 * @returns {{ status: 'good'|'uncertain'|'bad'|'stale'|'nodata', reason: string|null, ageMs: number|null }}
 */
export function displayState(reading, now, intervalMs = null) {
  const ts = typeof reading.ts === 'number' && Number.isFinite(reading.ts) ? reading.ts : null;
  const ageMs = ts === null ? null : Math.max(0, now - ts);
  const reason = reading.reason ? String(reading.reason) : null;
  if (reading.quality === 'bad') return { status: 'bad', reason, ageMs };
  if (ts === null || reading.value === null || reading.value === undefined) {
    return { status: 'nodata', reason, ageMs };
  }
  if (isStale(ts, now, intervalMs)) return { status: 'stale', reason, ageMs };
  if (reading.quality === 'uncertain') return { status: 'uncertain', reason, ageMs };
  if (reading.quality === 'good') return { status: 'good', reason: null, ageMs };
  // An unknown quality word is not a promise of a good value.
  return { status: 'uncertain', reason: reason ?? `quality '${String(reading.quality)}'`, ageMs };
}

/**
 * @param {string} status a displayState status
 * @returns {boolean} whether the value may be shown as a live measurement (good or uncertain)
 */
export function isLiveStatus(status) {
  return status === 'good' || status === 'uncertain';
}

/**
 * @param {string|number|null|undefined} time ISO string or epoch ms
 * @returns {number|null} epoch ms
 */
export function parseTime(time) {
  if (typeof time === 'number') return Number.isFinite(time) ? time : null;
  if (typeof time !== 'string' || time === '') return null;
  const ms = Date.parse(time);
  return Number.isNaN(ms) ? null : ms;
}

/**
 * Alarm display order, most severe first: real alarms before drills, level 2 before level 1,
 * then the newest raise first (what the operator has most likely not seen yet), then id.
 * @param {{ id: string, level: number, drill: boolean, raisedAt: string|null }} a
 * @param {{ id: string, level: number, drill: boolean, raisedAt: string|null }} b
 * @returns {number}
 */
export function compareAlarms(a, b) {
  if (a.drill !== b.drill) return a.drill ? 1 : -1;
  if (a.level !== b.level) return b.level - a.level;
  const ta = parseTime(a.raisedAt) ?? 0;
  const tb = parseTime(b.raisedAt) ?? 0;
  if (ta !== tb) return tb - ta;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * Merges a newer report of one alarm occurrence (same id) into what is shown. An occurrence
 * runs from raise to clear once, so a cleared alarm is never reopened by a late 'active' copy
 * (e.g. a REST snapshot read before the clear but answered after the clear event).
 * @template {{ state: string }} A
 * @param {A|undefined} existing
 * @param {A} incoming
 * @returns {A}
 */
export function mergeAlarm(existing, incoming) {
  if (existing && existing.state === 'cleared' && incoming.state === 'active') return existing;
  return incoming;
}

/**
 * Splits alarms into the active panel (compareAlarms order) and the recent list (cleared,
 * newest clear first, at most `recentLimit`).
 * @template {{ id: string, level: number, drill: boolean, state: string, raisedAt: string|null, clearedAt: string|null }} A
 * @param {Iterable<A>} alarms
 * @param {number} [recentLimit]
 * @returns {{ active: A[], recent: A[] }}
 */
export function partitionAlarms(alarms, recentLimit = DISPLAY_DEFAULTS.recentAlarms) {
  const active = [];
  const recent = [];
  for (const alarm of alarms) (alarm.state === 'active' ? active : recent).push(alarm);
  active.sort(compareAlarms);
  recent.sort((a, b) => {
    const ta = parseTime(a.clearedAt) ?? parseTime(a.raisedAt) ?? 0;
    const tb = parseTime(b.clearedAt) ?? parseTime(b.raisedAt) ?? 0;
    return tb - ta || compareAlarms(a, b);
  });
  return { active, recent: recent.slice(0, Math.max(0, recentLimit)) };
}

/**
 * Groups sensors by gateway, then by installation, keeping the order in which they came
 * (the gateway's catalogue order); gateways sorted by id, sensors without an installation last.
 * @template {{ gatewayId: string, enterpriseId: string, installationId?: string|null }} S
 * @param {Iterable<S>} sensors
 * @returns {{ gatewayId: string, enterpriseId: string, installations: { installationId: string|null, sensors: S[] }[] }[]}
 */
export function groupSensors(sensors) {
  /** @type {Map<string, { gatewayId: string, enterpriseId: string, byInstallation: Map<string|null, S[]> }>} */
  const gateways = new Map();
  for (const sensor of sensors) {
    let gateway = gateways.get(sensor.gatewayId);
    if (!gateway) {
      gateway = {
        gatewayId: sensor.gatewayId,
        enterpriseId: sensor.enterpriseId,
        byInstallation: new Map(),
      };
      gateways.set(sensor.gatewayId, gateway);
    }
    const key = sensor.installationId ? sensor.installationId : null;
    const list = gateway.byInstallation.get(key);
    if (list) list.push(sensor);
    else gateway.byInstallation.set(key, [sensor]);
  }
  return [...gateways.values()]
    .sort((a, b) => (a.gatewayId < b.gatewayId ? -1 : a.gatewayId > b.gatewayId ? 1 : 0))
    .map((gateway) => ({
      gatewayId: gateway.gatewayId,
      enterpriseId: gateway.enterpriseId,
      installations: [...gateway.byInstallation.entries()]
        .sort(([a], [b]) => (a === null ? 1 : 0) - (b === null ? 1 : 0))
        .map(([installationId, list]) => ({ installationId, sensors: list })),
    }));
}

/**
 * Appends to a bounded history (drops the oldest beyond `max`). Mutates and returns `history`.
 * @template T
 * @param {T[]} history
 * @param {T} item
 * @param {number} max
 * @returns {T[]}
 */
export function pushBounded(history, item, max) {
  history.push(item);
  if (history.length > max) history.splice(0, history.length - max);
  return history;
}

/**
 * A reading value as a plottable number: numbers as they are, booleans as 0/1, anything else null.
 * @param {unknown} value
 * @returns {number|null}
 */
export function plottable(value) {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'boolean') return value ? 1 : 0;
  return null;
}

/**
 * Sparkline geometry: points spread evenly across the width, scaled into the height inside
 * `pad`. A flat series sits in the middle.
 * @param {readonly number[]} values
 * @param {number} width
 * @param {number} height
 * @param {number} [pad]
 * @returns {{ x: number, y: number }[]}
 */
export function sparklinePoints(values, width, height, pad = 2) {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return [];
  const min = Math.min(...finite);
  const max = Math.max(...finite);
  const span = max - min;
  const innerW = Math.max(0, width - 2 * pad);
  const innerH = Math.max(0, height - 2 * pad);
  const step = finite.length > 1 ? innerW / (finite.length - 1) : 0;
  return finite.map((v, i) => ({
    x: pad + (finite.length > 1 ? i * step : innerW / 2),
    y: span === 0 ? height / 2 : pad + innerH - ((v - min) / span) * innerH,
  }));
}

/**
 * Splits a duration into the largest whole unit for "x ago" texts.
 * @param {number} ms
 * @returns {{ unit: 's'|'min'|'h'|'d', n: number }}
 */
export function durationParts(ms) {
  const s = Math.max(0, Math.floor((Number.isFinite(ms) ? ms : 0) / 1000));
  if (s < 60) return { unit: 's', n: s };
  if (s < 3600) return { unit: 'min', n: Math.floor(s / 60) };
  if (s < 86_400) return { unit: 'h', n: Math.floor(s / 3600) };
  return { unit: 'd', n: Math.floor(s / 86_400) };
}

/** @param {number} n */
function pad2(n) {
  return String(n).padStart(2, '0');
}

/**
 * Local date and time, 24-hour, unambiguous in both languages: 'YYYY-MM-DD HH:mm:ss'.
 * @param {string|number|null|undefined} time ISO string or epoch ms
 * @returns {string}
 */
export function formatLocalDateTime(time) {
  const ms = parseTime(time);
  if (ms === null) return NO_VALUE;
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${formatLocalTime(ms)}`;
}

/**
 * Local time of day, 24-hour: 'HH:mm:ss'.
 * @param {string|number|null|undefined} time ISO string or epoch ms
 * @returns {string}
 */
export function formatLocalTime(time) {
  const ms = parseTime(time);
  if (ms === null) return NO_VALUE;
  const d = new Date(ms);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

/**
 * How far the server's clock is ahead of this browser's, from an HTTP Date header (1 s
 * resolution, so take its middle) and the request's round trip. Control-room PCs with wrong
 * clocks would otherwise show every value as stale, or none. 0 when the header is unusable or
 * the clocks agree to within a second.
 * @param {string|null|undefined} dateHeader
 * @param {number} sentAt browser epoch ms when the request left
 * @param {number} receivedAt browser epoch ms when the answer came
 * @returns {number} ms to add to the browser's clock
 */
export function clockOffsetMs(dateHeader, sentAt, receivedAt) {
  if (!dateHeader) return 0;
  const server = Date.parse(dateHeader);
  if (Number.isNaN(server)) return 0;
  const offset = Math.round(server + 500 - (sentAt + receivedAt) / 2);
  // Within the header's own resolution the local clock is the better one.
  return Math.abs(offset) <= 1000 ? 0 : offset;
}
