/**
 * The dashboard page: loads a snapshot from the REST API, then follows the server's event
 * stream (SSE) and keeps the page live without reloads. On every (re)connect of the stream it
 * takes a fresh snapshot, since events sent while it was away are gone.
 *
 * Data from the server is only ever put into the page with textContent / attributes, never as
 * HTML. Hooks for browser tests: #connection-state[data-state], #active-alarms > [data-alarm-id],
 * [data-sensor-id][data-gateway-id][data-status], html[data-ready] once the first snapshot is in.
 */
import {
  clockOffsetMs,
  DISPLAY_DEFAULTS,
  displayState,
  durationParts,
  estimateIntervalMs,
  formatLocalDateTime,
  formatLocalTime,
  formatNumber,
  formatValue,
  groupSensors,
  isStale,
  mergeAlarm,
  partitionAlarms,
  plottable,
  pushBounded,
  sparklinePoints,
} from './format.js';
import { chooseLanguage, LANGUAGE_STORAGE_KEY, translate } from './i18n.js';
import { createApi } from './shared/api.js';
import { openStream } from './shared/stream.js';

const API_BASE = '/api/v1';

/** The shared fetch wrapper; every answer's Date header keeps the server clock estimate. */
const api = createApi({
  base: API_BASE,
  onResponse: (response, sentAt, receivedAt) => {
    const offset = clockOffsetMs(response.headers.get('date'), sentAt, receivedAt);
    // The header has 1 s resolution: move only on a real change, so ages do not jitter.
    if (Math.abs(offset - state.clockOffset) > 1000) state.clockOffset = offset;
  },
});

const TIMING = Object.freeze({
  tickMs: 1000, // 1 s: ages, staleness and the clock move on even without data
  renderDelayMs: 50, // 50 ms: a burst of stream events becomes one render
  healthPollMs: 15_000, // 15 s
  snapshotRetryMs: 5000, // 5 s after a failed snapshot
  reconnectMinMs: 1000, // 1 s: first wait when the browser gave up on the stream
  reconnectMaxMs: 30_000, // 30 s: longest wait between attempts
});

/** Alarms (active ones are never pruned) kept in memory beyond what the page shows. */
const MAX_CLEARED_ALARMS = 200;
/** Active alarms asked for in a snapshot; a full page means a flood, not the whole set. */
const SNAPSHOT_ALARM_LIMIT = 100;

// ---------------------------------------------------------------------------------------------
// State

const state = {
  /** @type {'zh-CN'|'en'} */
  lang: 'zh-CN',
  /** gatewayId/sensorId → sensor view */
  sensors: new Map(),
  /** gatewayId → gateway as in /api/v1/gateways */
  gateways: new Map(),
  /** alarmKey(alarm) (enterprise/gateway/id) → alarm as in /api/v1/alarms */
  alarms: new Map(),
  /** 'alarm:<id>' | 'gateway:<id>' → performance.now() of the last stream update */
  streamTouched: new Map(),
  /** gatewayId/sensorId → { level, drill } of its most severe active alarm */
  sensorAlarms: new Map(),
  /** @type {number|null} source time of the newest reading seen, epoch ms */
  newestTelemetryTs: null,
  /** @type {{ gatewaysOnline: number, gatewaysKnown: number }|null} */
  health: null,
  /** ms to add to Date.now() to get the server's time */
  clockOffset: 0,
  /** @type {'connecting'|'open'|'closed'} */
  connection: 'connecting',
  /** @type {string|null} */
  loadError: null,
  /** @type {{ close(): void }|null} the event stream (shared/stream.js) */
  stream: null,
  /** @type {ReturnType<typeof setTimeout>|null} */
  snapshotRetryTimer: null,
  snapshotGeneration: 0,
  appliedGeneration: 0,
  /** @type {ReturnType<typeof setTimeout>|null} */
  renderTimer: null,
  structureDirty: true,
  alarmsDirty: true,
  gatewaysDirty: true,
  /** @type {Set<string>} */
  dirtySensors: new Set(),
  /** alarmKey(alarm) → { el, signature, ago } of the active list */
  alarmItems: new Map(),
  /** gatewayId → { state, seen, count } elements of the gateway headers */
  gatewayHeads: new Map(),
};

function now() {
  return Date.now() + state.clockOffset;
}

/**
 * @param {string} key
 * @param {Record<string, string|number>} [params]
 */
function t(key, params) {
  return translate(state.lang, key, params);
}

/** @param {number|null} ms */
function durationText(ms) {
  if (ms === null) return '—';
  const { unit, n } = durationParts(ms);
  return t(`duration.${unit}`, { n });
}

/** @param {number|null} ms */
function agoText(ms) {
  return ms === null ? '—' : t('ago', { duration: durationText(ms) });
}

/** @param {string} gatewayId @param {string} sensorId */
function sensorKey(gatewayId, sensorId) {
  return `${gatewayId}/${sensorId}`;
}

// ---------------------------------------------------------------------------------------------
// DOM helpers (text only: nothing from the server is ever parsed as HTML)

/** @param {string} id */
function byId(id) {
  const found = document.getElementById(id);
  if (!found) throw new Error(`dashboard: element #${id} missing from index.html`);
  return found;
}

/**
 * @param {string} tag
 * @param {string} [className]
 * @param {string} [text]
 * @returns {HTMLElement}
 */
function make(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Sets text only when it changed (keeps the DOM, and screen readers, quiet). */
function setText(/** @type {Element} */ node, /** @type {string} */ text) {
  if (node.textContent !== text) node.textContent = text;
}

/** @param {HTMLElement} node @param {string} name @param {string|null} value */
function setData(node, name, value) {
  if (value === null) {
    if (name in node.dataset) delete node.dataset[name];
  } else if (node.dataset[name] !== value) {
    node.dataset[name] = value;
  }
}

// ---------------------------------------------------------------------------------------------
// Applying data

/** @param {Record<string, unknown>} info */
function newSensorView(info) {
  return {
    key: sensorKey(String(info.gatewayId), String(info.sensorId)),
    info: {
      gatewayId: String(info.gatewayId),
      enterpriseId: String(info.enterpriseId ?? ''),
      sensorId: String(info.sensorId),
      name: String(info.name ?? info.sensorId),
      kind: String(info.kind ?? 'other'),
      unit: String(info.unit ?? ''),
      gas: info.gas ? String(info.gas) : null,
      installationId: info.installationId ? String(info.installationId) : null,
      location: info.location ? String(info.location) : null,
    },
    /** @type {number|boolean|string|null} */
    value: null,
    quality: 'bad',
    /** @type {string|null} */
    reason: null,
    /** @type {number|null} */
    ts: null,
    /** @type {number[]} */
    history: [],
    /** @type {number[]} */
    stamps: [],
    /** @type {number|null} */
    intervalMs: null,
    sparkDirty: true,
    /** @type {Record<string, any>|null} */
    els: null,
    lastSparkStatus: '',
  };
}

/**
 * Takes one reading into a sensor view. Older than what is shown, or without a time while a
 * timed value is shown: ignored (a replay, or a snapshot that raced the stream).
 * @param {ReturnType<typeof newSensorView>} sensor
 * @param {{ value: unknown, quality: string, reason?: string, ts: number|null }} reading
 */
function applyReading(sensor, reading) {
  const ts = typeof reading.ts === 'number' && Number.isFinite(reading.ts) ? reading.ts : null;
  if (sensor.ts !== null && (ts === null || ts < sensor.ts)) return;
  const isNew = ts !== null && ts !== sensor.ts;
  const value = reading.value;
  sensor.value =
    typeof value === 'number' || typeof value === 'boolean' || typeof value === 'string'
      ? value
      : null;
  sensor.quality = String(reading.quality);
  sensor.reason = reading.reason ? String(reading.reason) : null;
  sensor.ts = ts;
  if (isNew && ts !== null) {
    pushBounded(sensor.stamps, ts, DISPLAY_DEFAULTS.intervalSamples);
    sensor.intervalMs = estimateIntervalMs(sensor.stamps);
    const point = plottable(sensor.value);
    if (point !== null && sensor.quality !== 'bad') {
      pushBounded(sensor.history, point, DISPLAY_DEFAULTS.historyLength);
      sensor.sparkDirty = true;
    }
    if (state.newestTelemetryTs === null || ts > state.newestTelemetryTs) {
      state.newestTelemetryTs = ts;
    }
  }
  state.dirtySensors.add(sensor.key);
}

/** @param {any} event data of `event: readings` */
function onReadings(event) {
  if (!event || typeof event.gatewayId !== 'string' || !Array.isArray(event.readings)) return;
  for (const reading of event.readings) {
    if (!reading || typeof reading.sensorId !== 'string') continue;
    const key = sensorKey(event.gatewayId, reading.sensorId);
    let sensor = state.sensors.get(key);
    if (!sensor) {
      // Not in the catalogue we hold yet: show it under its id until the next snapshot.
      sensor = newSensorView({
        gatewayId: event.gatewayId,
        enterpriseId: event.enterpriseId,
        sensorId: reading.sensorId,
      });
      state.sensors.set(key, sensor);
      state.structureDirty = true;
    }
    applyReading(sensor, reading);
  }
}

/**
 * An alarm's identity: its id is unique only within its enterprise and gateway (two plants
 * may use the same id), so every map of alarms is keyed by all three.
 * @param {any} alarm
 */
function alarmKey(alarm) {
  return `${alarm.enterpriseId}/${alarm.gatewayId}/${alarm.id}`;
}

/** @param {any} alarm @param {boolean} fromStream */
function applyAlarm(alarm, fromStream) {
  if (!alarm || typeof alarm.id !== 'string') return;
  const key = alarmKey(alarm);
  const merged = mergeAlarm(state.alarms.get(key), alarm);
  state.alarms.set(key, merged);
  if (fromStream) state.streamTouched.set(`alarm:${key}`, performance.now());
  state.alarmsDirty = true;
}

/** @param {any} gateway @param {boolean} fromStream */
function applyGateway(gateway, fromStream) {
  if (!gateway || typeof gateway.gatewayId !== 'string') return;
  const known = state.gateways.has(gateway.gatewayId);
  state.gateways.set(gateway.gatewayId, gateway);
  if (fromStream) state.streamTouched.set(`gateway:${gateway.gatewayId}`, performance.now());
  if (!known) state.structureDirty = true;
  state.gatewaysDirty = true;
}

/** Whether the stream changed this item after a snapshot request started (the stream wins). */
function touchedSince(/** @type {string} */ key, /** @type {number} */ startedAt) {
  const touched = state.streamTouched.get(key);
  return touched !== undefined && touched >= startedAt;
}

/** Keeps the alarm map bounded: drops the oldest cleared alarms beyond MAX_CLEARED_ALARMS. */
function pruneAlarms() {
  const { recent } = partitionAlarms(state.alarms.values(), Number.MAX_SAFE_INTEGER);
  for (const alarm of recent.slice(MAX_CLEARED_ALARMS)) {
    state.alarms.delete(alarmKey(alarm));
    state.streamTouched.delete(`alarm:${alarmKey(alarm)}`);
  }
}

/**
 * @param {{ health: any, gateways: any, sensors: any, active: any, all: any }} snapshot
 * @param {number} startedAt performance.now() when the requests left
 */
function applySnapshot(snapshot, startedAt) {
  // Sensors: the snapshot is the catalogue; values only move forward in time.
  const sensors = Array.isArray(snapshot.sensors?.sensors) ? snapshot.sensors.sensors : [];
  const seen = new Set();
  for (const item of sensors) {
    if (!item || typeof item.gatewayId !== 'string' || typeof item.sensorId !== 'string') continue;
    const fresh = newSensorView(item);
    seen.add(fresh.key);
    const existing = state.sensors.get(fresh.key);
    if (existing) {
      if (JSON.stringify(existing.info) !== JSON.stringify(fresh.info)) {
        existing.info = fresh.info;
        state.structureDirty = true;
      }
      applyReading(existing, item);
    } else {
      state.sensors.set(fresh.key, fresh);
      applyReading(fresh, item);
      state.structureDirty = true;
    }
  }
  for (const key of [...state.sensors.keys()]) {
    if (!seen.has(key)) {
      state.sensors.delete(key);
      state.structureDirty = true;
    }
  }

  const gateways = Array.isArray(snapshot.gateways?.gateways) ? snapshot.gateways.gateways : [];
  const gatewayIds = new Set();
  for (const gateway of gateways) {
    if (!gateway || typeof gateway.gatewayId !== 'string') continue;
    gatewayIds.add(gateway.gatewayId);
    if (!touchedSince(`gateway:${gateway.gatewayId}`, startedAt)) applyGateway(gateway, false);
  }
  for (const id of [...state.gateways.keys()]) {
    if (!gatewayIds.has(id) && !touchedSince(`gateway:${id}`, startedAt)) {
      state.gateways.delete(id);
      state.structureDirty = true;
    }
  }

  const active = Array.isArray(snapshot.active?.alarms) ? snapshot.active.alarms : [];
  const all = Array.isArray(snapshot.all?.alarms) ? snapshot.all.alarms : [];
  const activeIds = new Set();
  for (const alarm of [...all, ...active]) {
    if (!alarm || typeof alarm.id !== 'string') continue;
    if (alarm.state === 'active') activeIds.add(alarmKey(alarm));
    if (!touchedSince(`alarm:${alarmKey(alarm)}`, startedAt)) applyAlarm(alarm, false);
  }
  // Active here but not in a complete active list: it cleared while the stream was down.
  if (active.length < SNAPSHOT_ALARM_LIMIT) {
    for (const alarm of [...state.alarms.values()]) {
      if (
        alarm.state === 'active' &&
        !activeIds.has(alarmKey(alarm)) &&
        !touchedSince(`alarm:${alarmKey(alarm)}`, startedAt)
      ) {
        state.alarms.set(alarmKey(alarm), { ...alarm, state: 'cleared', clearedAt: null });
        state.alarmsDirty = true;
      }
    }
  }
  pruneAlarms();
  applyHealth(snapshot.health);
  state.alarmsDirty = true;
  state.gatewaysDirty = true;
}

/** @param {any} health */
function applyHealth(health) {
  if (!health || typeof health !== 'object') return;
  if (typeof health.newestTelemetryAgeMs === 'number') {
    const newest = now() - health.newestTelemetryAgeMs;
    if (state.newestTelemetryTs === null || newest > state.newestTelemetryTs) {
      state.newestTelemetryTs = newest;
    }
  }
  if (typeof health.gatewaysOnline === 'number' && typeof health.gatewaysKnown === 'number') {
    state.health = { gatewaysOnline: health.gatewaysOnline, gatewaysKnown: health.gatewaysKnown };
  }
}

// ---------------------------------------------------------------------------------------------
// Talking to the server

/** @param {string} path under /api/v1 */
function fetchJson(path) {
  return api.getJson(path);
}

async function loadSnapshot() {
  if (state.snapshotRetryTimer !== null) {
    clearTimeout(state.snapshotRetryTimer);
    state.snapshotRetryTimer = null;
  }
  const generation = ++state.snapshotGeneration;
  const startedAt = performance.now();
  try {
    const [health, gateways, sensors, active, all] = await Promise.all([
      fetchJson('/health'),
      fetchJson('/gateways'),
      fetchJson('/sensors'),
      fetchJson(`/alarms?state=active&limit=${SNAPSHOT_ALARM_LIMIT}`),
      fetchJson(`/alarms?state=all&limit=${SNAPSHOT_ALARM_LIMIT}`),
    ]);
    // A slower, older snapshot must not overwrite a newer one.
    if (generation < state.appliedGeneration) return;
    state.appliedGeneration = generation;
    applySnapshot({ health, gateways, sensors, active, all }, startedAt);
    state.loadError = null;
    document.documentElement.dataset.ready = 'true';
  } catch (err) {
    state.loadError = err instanceof Error ? err.message : String(err);
    if (state.snapshotRetryTimer === null) {
      state.snapshotRetryTimer = setTimeout(() => {
        state.snapshotRetryTimer = null;
        void loadSnapshot();
      }, TIMING.snapshotRetryMs);
    }
  }
  scheduleRender();
}

async function pollHealth() {
  try {
    applyHealth(await fetchJson('/health'));
    scheduleRender();
  } catch {
    // The connection state and staleness already say the server is unreachable.
  }
}

/** @param {'connecting'|'open'|'closed'} connection */
function setConnection(connection) {
  if (state.connection === connection) return;
  state.connection = connection;
  scheduleRender();
}

/** @param {(data: any) => void} handler */
function onStreamEvent(handler) {
  return (/** @type {any} */ data) => {
    handler(data);
    scheduleRender();
  };
}

function connectStream() {
  state.stream = openStream({
    url: () => `${API_BASE}/stream`,
    minDelayMs: TIMING.reconnectMinMs,
    maxDelayMs: TIMING.reconnectMaxMs,
    onState: setConnection,
    // Whatever happened before this connection is not in the stream: take it from REST.
    onOpen: () => void loadSnapshot(),
    events: {
      readings: onStreamEvent(onReadings),
      alarm: onStreamEvent((alarm) => {
        applyAlarm(alarm, true);
        pruneAlarms();
      }),
      gateway: onStreamEvent((gateway) => applyGateway(gateway, true)),
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Rendering

function scheduleRender() {
  if (state.renderTimer !== null) return;
  state.renderTimer = setTimeout(() => {
    state.renderTimer = null;
    render();
  }, TIMING.renderDelayMs);
}

function render() {
  const at = now();
  if (state.alarmsDirty) {
    renderAlarms(at);
    state.alarmsDirty = false;
  }
  if (state.structureDirty) {
    renderStructure();
    state.structureDirty = false;
    state.gatewaysDirty = true;
    for (const key of state.sensors.keys()) state.dirtySensors.add(key);
  }
  if (state.gatewaysDirty) {
    renderGatewayHeads();
    state.gatewaysDirty = false;
  }
  for (const key of state.dirtySensors) {
    const sensor = state.sensors.get(key);
    if (sensor) renderSensor(sensor, at);
  }
  state.dirtySensors.clear();
  renderHeader(at);
}

/** Every second: ages, staleness and the clock move on without new data. */
function tick() {
  const at = now();
  for (const sensor of state.sensors.values()) renderSensor(sensor, at);
  for (const [id, item] of state.alarmItems) {
    const alarm = state.alarms.get(id);
    const raised = alarm ? Date.parse(alarm.raisedAt ?? '') : Number.NaN;
    setText(item.ago, Number.isNaN(raised) ? '' : agoText(Math.max(0, at - raised)));
  }
  renderHeader(at);
}

/** @param {number} at */
function renderHeader(at) {
  const connection = byId('connection-state');
  setData(connection, 'state', state.connection);
  setText(connection, t(`conn.${state.connection}`));
  setData(document.body, 'connection', state.connection);

  let online = 0;
  for (const gateway of state.gateways.values()) if (gateway.state === 'online') online++;
  const known = state.gateways.size;
  const counts =
    known > 0 || !state.health
      ? { online, known }
      : { online: state.health.gatewaysOnline, known: state.health.gatewaysKnown };
  const gatewaysEl = byId('gateways-online');
  setText(gatewaysEl, state.health || known > 0 ? `${counts.online} / ${counts.known}` : '—');
  setData(gatewaysEl, 'warn', counts.online < counts.known ? 'true' : null);

  const ageEl = byId('telemetry-age');
  const newest = state.newestTelemetryTs;
  setText(ageEl, newest === null ? '—' : agoText(Math.max(0, at - newest)));
  setData(ageEl, 'warn', newest !== null && isStale(newest, at) ? 'true' : null);

  setText(byId('clock'), formatLocalTime(at));

  const banner = byId('banner');
  let message = null;
  if (state.connection === 'closed') message = t('banner.disconnected');
  else if (state.loadError) message = t('banner.loadFailed', { message: state.loadError });
  if (message === null) {
    banner.hidden = true;
  } else {
    setText(banner, message);
    banner.hidden = false;
  }
}

/** @param {any} alarm */
function alarmWhere(alarm) {
  const parts = [];
  if (alarm.enterpriseId) parts.push(`${t('alarm.enterprise')} ${alarm.enterpriseId}`);
  if (alarm.installationId) parts.push(`${t('installation.label')} ${alarm.installationId}`);
  if (alarm.location) parts.push(String(alarm.location));
  return parts.join(' · ');
}

/** @param {any} alarm */
function alarmValueText(alarm) {
  const unit = alarm.unit ? ` ${alarm.unit}` : '';
  return `${formatValue(alarm.value)}${unit}`;
}

/** @param {any} alarm */
function alarmSetpointText(alarm) {
  const unit = alarm.unit ? ` ${alarm.unit}` : '';
  return `${typeof alarm.setpoint === 'number' ? formatNumber(alarm.setpoint) : '—'}${unit}`;
}

/**
 * Fills an active-alarm row. Level and drill are words as well as colours.
 * @param {HTMLElement} item
 * @param {any} alarm
 */
function fillAlarmItem(item, alarm) {
  item.className = `alarm alarm--level${alarm.level === 2 ? 2 : 1}${alarm.drill ? ' alarm--drill' : ''}`;
  item.dataset.alarmId = alarm.id;
  item.dataset.alarmLevel = String(alarm.level);
  item.dataset.alarmState = String(alarm.state);
  item.dataset.drill = alarm.drill ? 'true' : 'false';
  item.replaceChildren();

  item.append(make('div', 'alarm__level', t(`alarm.level.${alarm.level === 2 ? 2 : 1}`)));

  const body = make('div', 'alarm__body');
  const title = make('div', 'alarm__title');
  title.append(make('span', 'alarm__sensor', String(alarm.sensorName || alarm.sensorId)));
  if (alarm.gas) title.append(make('span', 'alarm__gas', String(alarm.gas)));
  if (alarm.drill) title.append(make('span', 'tag tag--drill', t('alarm.drill')));
  body.append(title);

  const reading = make('div', 'alarm__reading');
  reading.append(
    make('span', 'alarm__label', t('alarm.value')),
    make('strong', 'alarm__value', alarmValueText(alarm)),
    make('span', 'alarm__label', t('alarm.setpoint')),
    make('span', 'alarm__setpoint', alarmSetpointText(alarm)),
  );
  body.append(reading);
  body.append(make('div', 'alarm__where', alarmWhere(alarm)));
  item.append(body);

  const side = make('div', 'alarm__side');
  const time = make('time', 'alarm__time', formatLocalDateTime(alarm.raisedAt));
  if (alarm.raisedAt) time.setAttribute('datetime', String(alarm.raisedAt));
  time.setAttribute('title', t('alarm.raisedAt'));
  const ago = make('span', 'alarm__ago');
  // Ticks every second: hidden from screen readers, which get the absolute time instead.
  ago.setAttribute('aria-hidden', 'true');
  side.append(time, ago, make('span', 'alarm__state', t(`alarm.state.${alarm.state}`)));
  item.append(side);
  return ago;
}

/** @param {any} alarm */
function recentAlarmItem(alarm) {
  const item = make('li', `recent recent--level${alarm.level === 2 ? 2 : 1}`);
  item.dataset.alarmId = alarm.id;
  item.dataset.alarmLevel = String(alarm.level);
  item.dataset.alarmState = String(alarm.state);
  item.dataset.drill = alarm.drill ? 'true' : 'false';
  const head = make('div', 'recent__head');
  head.append(make('span', 'recent__level', t(`alarm.level.${alarm.level === 2 ? 2 : 1}`)));
  head.append(make('span', 'recent__sensor', String(alarm.sensorName || alarm.sensorId)));
  if (alarm.gas) head.append(make('span', 'recent__gas', String(alarm.gas)));
  if (alarm.drill) head.append(make('span', 'tag tag--drill', t('alarm.drill')));
  item.append(head);
  item.append(
    make(
      'div',
      'recent__reading',
      `${t('alarm.value')} ${alarmValueText(alarm)} · ${t('alarm.setpoint')} ${alarmSetpointText(alarm)}`,
    ),
  );
  item.append(make('div', 'recent__where', alarmWhere(alarm)));
  const times = make('div', 'recent__times');
  times.append(
    make('span', '', `${t('alarm.raisedAt')} ${formatLocalDateTime(alarm.raisedAt)}`),
    make('span', '', `${t('alarm.clearedAt')} ${formatLocalDateTime(alarm.clearedAt)}`),
  );
  item.append(times);
  return item;
}

/** @param {number} at */
function renderAlarms(at) {
  const { active, recent } = partitionAlarms(state.alarms.values());

  // Which sensors are in alarm, for their cards.
  state.sensorAlarms.clear();
  for (const alarm of active) {
    const key = sensorKey(String(alarm.gatewayId), String(alarm.sensorId));
    const current = state.sensorAlarms.get(key);
    // Active alarms come most severe first, so the first one per sensor is the one to show.
    if (!current) state.sensorAlarms.set(key, { level: alarm.level, drill: Boolean(alarm.drill) });
  }
  for (const key of state.sensors.keys()) state.dirtySensors.add(key);

  // Active list: keyed, so a screen reader hears additions, not the whole list again.
  const list = byId('active-alarms');
  const wanted = [];
  const activeIds = new Set();
  for (const alarm of active) {
    const key = alarmKey(alarm);
    activeIds.add(key);
    const signature = `${state.lang}|${JSON.stringify(alarm)}`;
    let item = state.alarmItems.get(key);
    if (!item) {
      const el = make('li');
      item = { el, signature: '', ago: el };
      state.alarmItems.set(key, item);
    }
    if (item.signature !== signature) {
      item.ago = fillAlarmItem(item.el, alarm);
      item.signature = signature;
    }
    const raised = Date.parse(alarm.raisedAt ?? '');
    setText(item.ago, Number.isNaN(raised) ? '' : agoText(Math.max(0, at - raised)));
    wanted.push(item.el);
  }
  for (const [id, item] of state.alarmItems) {
    if (!activeIds.has(id)) {
      item.el.remove();
      state.alarmItems.delete(id);
    }
  }
  let ref = list.firstChild;
  for (const el of wanted) {
    if (el === ref) ref = ref.nextSibling;
    else list.insertBefore(el, ref);
  }

  byId('no-active-alarms').hidden = active.length > 0;
  const count = byId('active-alarm-count');
  setText(count, t('alarms.count', { n: active.length }));
  const worst = active.find((alarm) => !alarm.drill);
  setData(document.body, 'alarm', worst ? String(worst.level) : null);

  const recentList = byId('recent-alarms');
  recentList.replaceChildren(...recent.map(recentAlarmItem));
  byId('no-recent-alarms').hidden = recent.length > 0;
}

/** Builds the gateway / installation sections, reusing each sensor's card. */
function renderStructure() {
  const grid = byId('sensor-grid');
  const groups = groupSensors(
    [...state.sensors.values()].map((sensor) => ({
      gatewayId: sensor.info.gatewayId,
      enterpriseId: sensor.info.enterpriseId,
      installationId: sensor.info.installationId,
      sensor,
    })),
  );
  // Known gateways without sensors still get a header: an offline gateway must be visible.
  for (const gateway of state.gateways.values()) {
    if (!groups.some((group) => group.gatewayId === gateway.gatewayId)) {
      groups.push({
        gatewayId: gateway.gatewayId,
        enterpriseId: String(gateway.enterpriseId ?? ''),
        installations: [],
      });
    }
  }
  groups.sort((a, b) => (a.gatewayId < b.gatewayId ? -1 : a.gatewayId > b.gatewayId ? 1 : 0));

  state.gatewayHeads.clear();
  const sections = groups.map((group) => {
    const section = make('section', 'gateway');
    section.dataset.gatewayId = group.gatewayId;
    const head = make('header', 'gateway__head');
    const title = make('h3', 'gateway__title');
    title.append(
      make('span', 'gateway__label', t('gateway.label')),
      make('span', 'gateway__id', group.gatewayId),
    );
    const stateEl = make('span', 'gateway__state');
    const enterprise = make(
      'span',
      'gateway__enterprise',
      `${t('gateway.enterprise')} ${group.enterpriseId}`,
    );
    const countEl = make('span', 'gateway__count');
    const seen = make('span', 'gateway__seen');
    head.append(title, stateEl, enterprise, countEl, seen);
    section.append(head);
    state.gatewayHeads.set(group.gatewayId, { state: stateEl, seen, count: countEl });
    let sensorCount = 0;
    for (const installation of group.installations) {
      const block = make('div', 'installation');
      if (installation.installationId) {
        block.dataset.installationId = installation.installationId;
      }
      block.append(
        make(
          'h4',
          'installation__title',
          installation.installationId
            ? `${t('installation.label')} ${installation.installationId}`
            : t('installation.none'),
        ),
      );
      const cards = make('div', 'sensor-grid');
      for (const { sensor } of installation.sensors) {
        cards.append(sensorCard(sensor));
        sensorCount++;
      }
      block.append(cards);
      section.append(block);
    }
    countEl.textContent = t('gateway.sensorCount', { n: sensorCount });
    return section;
  });
  grid.replaceChildren(...sections);
  byId('no-sensors').hidden = state.sensors.size > 0;
}

function renderGatewayHeads() {
  for (const [gatewayId, head] of state.gatewayHeads) {
    const gateway = state.gateways.get(gatewayId);
    const gatewayState =
      gateway && (gateway.state === 'online' || gateway.state === 'offline')
        ? gateway.state
        : 'unknown';
    setData(head.state, 'state', gatewayState);
    setText(head.state, t(`gateway.state.${gatewayState}`));
    setText(
      head.seen,
      gateway?.lastSeen ? `${t('gateway.lastSeen')} ${formatLocalDateTime(gateway.lastSeen)}` : '',
    );
  }
}

/**
 * The card of one sensor, created once and then updated in place.
 * @param {ReturnType<typeof newSensorView>} sensor
 */
function sensorCard(sensor) {
  if (sensor.els) return sensor.els.card;
  const card = make('article', 'sensor');
  card.dataset.sensorId = sensor.info.sensorId;
  card.dataset.gatewayId = sensor.info.gatewayId;
  const head = make('header', 'sensor__head');
  const name = make('h5', 'sensor__name');
  const id = make('span', 'sensor__id');
  head.append(name, id);
  const alarm = make('div', 'sensor__alarm');
  const reading = make('div', 'sensor__reading');
  const value = make('span', 'sensor__value');
  const unit = make('span', 'sensor__unit');
  reading.append(value, unit);
  const quality = make('div', 'sensor__quality');
  const badge = make('span', 'badge');
  const reason = make('span', 'sensor__reason');
  quality.append(badge, reason);
  const canvas = /** @type {HTMLCanvasElement} */ (make('canvas', 'sparkline'));
  canvas.setAttribute('aria-hidden', 'true');
  const foot = make('footer', 'sensor__foot');
  const where = make('span', 'sensor__where');
  const updated = make('span', 'sensor__updated');
  foot.append(where, updated);
  card.append(head, alarm, reading, quality, canvas, foot);
  sensor.els = { card, name, id, alarm, value, unit, badge, reason, canvas, where, updated };
  sensor.sparkDirty = true;
  return card;
}

/**
 * @param {ReturnType<typeof newSensorView>} sensor
 * @param {number} at
 */
function renderSensor(sensor, at) {
  const els = sensor.els;
  if (!els) return;
  const shown = displayState(sensor, at, sensor.intervalMs);
  setData(els.card, 'status', shown.status);
  setText(els.name, sensor.info.name);
  setText(els.id, sensor.info.sensorId);
  setText(els.value, formatValue(sensor.value, { on: t('value.on'), off: t('value.off') }));
  setData(els.card, 'value', sensor.value === null ? 'none' : null);
  setText(els.unit, sensor.info.unit);
  setData(els.badge, 'status', shown.status);
  setText(els.badge, t(`status.${shown.status}`));
  const reasons = [];
  if (shown.status === 'stale') {
    reasons.push(t('status.staleReason', { duration: durationText(shown.ageMs) }));
  }
  if (shown.status !== 'good' && shown.reason) reasons.push(shown.reason);
  setText(els.reason, reasons.join(t('separator')));
  const where = [sensor.info.gas, sensor.info.location].filter((part) => Boolean(part)).join(' · ');
  setText(els.where, where);
  if (els.where.title !== where) els.where.title = where;
  if (els.name.title !== sensor.info.name) els.name.title = sensor.info.name;
  setText(
    els.updated,
    sensor.ts === null ? '' : `${formatLocalTime(sensor.ts)} · ${agoText(shown.ageMs)}`,
  );
  if (sensor.ts !== null) els.updated.setAttribute('title', formatLocalDateTime(sensor.ts));

  const alarm = state.sensorAlarms.get(sensor.key);
  setData(els.card, 'alarmLevel', alarm ? String(alarm.level) : null);
  setData(els.card, 'alarmDrill', alarm?.drill ? 'true' : null);
  els.alarm.hidden = !alarm;
  setText(
    els.alarm,
    alarm
      ? `${t('sensor.inAlarm', { level: t(`alarm.level.${alarm.level === 2 ? 2 : 1}`) })}${
          alarm.drill ? ` · ${t('alarm.drill')}` : ''
        }`
      : '',
  );

  if (sensor.sparkDirty || sensor.lastSparkStatus !== shown.status) {
    drawSparkline(els.canvas, sensor.history, shown.status);
    sensor.sparkDirty = false;
    sensor.lastSparkStatus = shown.status;
  }
}

/** Colours come from the style sheet (--spark-*), read once. */
const sparkColours = { good: '#4cc9f0', uncertain: '#ffd166', dead: '#5f6b78' };
function readSparkColours() {
  const style = getComputedStyle(document.documentElement);
  for (const name of /** @type {const} */ (['good', 'uncertain', 'dead'])) {
    const value = style.getPropertyValue(`--spark-${name}`).trim();
    if (value) sparkColours[name] = value;
  }
}

/**
 * @param {HTMLCanvasElement} canvas
 * @param {number[]} values
 * @param {string} status
 */
function drawSparkline(canvas, values, status) {
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (width === 0 || height === 0) return;
  const ratio = window.devicePixelRatio || 1;
  const pixelWidth = Math.round(width * ratio);
  const pixelHeight = Math.round(height * ratio);
  if (canvas.width !== pixelWidth) canvas.width = pixelWidth;
  if (canvas.height !== pixelHeight) canvas.height = pixelHeight;
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  // One point is not a trend.
  const points = sparklinePoints(values, width, height, 4);
  if (points.length < 2) return;
  const colour =
    status === 'good'
      ? sparkColours.good
      : status === 'uncertain'
        ? sparkColours.uncertain
        : sparkColours.dead;
  ctx.strokeStyle = colour;
  ctx.fillStyle = colour;
  ctx.lineWidth = 2;
  ctx.lineJoin = 'round';
  ctx.lineCap = 'round';
  // Not live: dashed, so even a colour-blind eye sees it is not a current trend.
  ctx.setLineDash(status === 'good' || status === 'uncertain' ? [] : [4, 4]);
  ctx.beginPath();
  points.forEach((point, index) => {
    if (index === 0) ctx.moveTo(point.x, point.y);
    else ctx.lineTo(point.x, point.y);
  });
  ctx.stroke();
  const last = points[points.length - 1];
  if (last) {
    ctx.beginPath();
    ctx.arc(last.x, last.y, 3, 0, Math.PI * 2);
    ctx.fill();
  }
}

// ---------------------------------------------------------------------------------------------
// Language

/** @param {'zh-CN'|'en'} lang */
function applyLanguage(lang) {
  state.lang = lang;
  document.documentElement.lang = lang;
  document.title = t('app.title');
  for (const node of document.querySelectorAll('[data-i18n]')) {
    if (node instanceof HTMLElement && node.dataset.i18n) setText(node, t(node.dataset.i18n));
  }
  for (const node of document.querySelectorAll('[data-i18n-aria-label]')) {
    if (node instanceof HTMLElement && node.dataset.i18nAriaLabel) {
      node.setAttribute('aria-label', t(node.dataset.i18nAriaLabel));
    }
  }
  // The toggle is written in the language it switches to.
  byId('lang-toggle').lang = lang === 'en' ? 'zh-CN' : 'en';
  state.structureDirty = true;
  state.alarmsDirty = true;
  state.gatewaysDirty = true;
}

function readStoredLanguage() {
  try {
    return localStorage.getItem(LANGUAGE_STORAGE_KEY);
  } catch {
    return null; // storage disabled: no memory, still works
  }
}

function toggleLanguage() {
  const next = state.lang === 'en' ? 'zh-CN' : 'en';
  try {
    localStorage.setItem(LANGUAGE_STORAGE_KEY, next);
  } catch {
    // storage disabled: the choice lasts for this page only
  }
  const url = new URL(window.location.href);
  if (url.searchParams.has('lang')) {
    url.searchParams.set('lang', next === 'en' ? 'en' : 'zh');
    window.history.replaceState(null, '', url);
  }
  applyLanguage(next);
  render();
}

// ---------------------------------------------------------------------------------------------
// Start

function start() {
  const query = new URLSearchParams(window.location.search).get('lang');
  applyLanguage(chooseLanguage(query, readStoredLanguage()));
  readSparkColours();
  byId('lang-toggle').addEventListener('click', toggleLanguage);
  let resizeTimer = /** @type {ReturnType<typeof setTimeout>|null} */ (null);
  window.addEventListener('resize', () => {
    if (resizeTimer !== null) clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      for (const sensor of state.sensors.values()) sensor.sparkDirty = true;
      tick();
    }, 200);
  });
  render();
  void loadSnapshot();
  connectStream();
  setInterval(tick, TIMING.tickMs);
  setInterval(() => void pollHealth(), TIMING.healthPollMs);
}

start();
