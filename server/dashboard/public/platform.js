/**
 * Regulator platform page: login, jurisdiction overview, enterprises ranked by risk (four
 * colours), alarm disposal (acknowledge, assign, measures, close), enterprise detail with live
 * trends. Talks to /api/v1 with a bearer token (kept in sessionStorage for this tab only) and
 * follows /api/v1/stream (EventSource; the token goes in ?access_token=).
 *
 * Hooks for browser tests: html[data-ready] once the first snapshot is shown;
 * #pf-connection[data-state]; #pf-ranking tbody tr[data-enterprise-id][data-colour];
 * #pf-alarms > li[data-alarm-id][data-alarm-level][data-status][data-escalation];
 * button[data-action=acknowledge|assign|measure|close] inside an alarm item.
 */
import { pickLanguage, translate } from './platform-i18n.js';

const TOKEN_KEY = 'hazardwatch.platform.token';
const LANG_KEY = 'hazardwatch.dashboard.lang';
const TREND_POINTS = 120;
const REFRESH_DEBOUNCE_MS = 150;

const $ = (id) => document.getElementById(id);
let lang = pickLanguage(
  location.search,
  safeStorage(() => localStorage.getItem(LANG_KEY)),
);
let token = safeStorage(() => sessionStorage.getItem(TOKEN_KEY));
let user = null;
let stream = null;
let refreshTimer = null;
let detailId = null;
/** `${gatewayId}\u0000${sensorId}` → { values: number[], el } for the open detail page. */
const trends = new Map();
/** enterprise id → name, from the last ranking. */
const enterpriseNames = new Map();

function safeStorage(read) {
  try {
    return read();
  } catch {
    return null;
  }
}

const t = (key, params) => translate(lang, key, params);

/** A reading or alarm value for people: at most 2 decimals, grouped digits. */
function fmtValue(value) {
  if (typeof value !== 'number') return value === null || value === undefined ? '—' : String(value);
  return value.toLocaleString(lang, { maximumFractionDigits: 2 });
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') node.textContent = String(v);
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function applyStaticText() {
  document.documentElement.lang = lang;
  document.title = t('title');
  for (const node of document.querySelectorAll('[data-t]')) node.textContent = t(node.dataset.t);
  $('pf-lang').textContent = t('langToggle');
}

async function api(method, url, body) {
  const headers = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) {
    logout();
    throw new Error('unauthorized');
  }
  const data = response.headers.get('content-type')?.includes('json')
    ? await response.json()
    : null;
  if (!response.ok) throw new Error(data?.message ?? `HTTP ${response.status}`);
  return data;
}

function showLogin() {
  $('pf-login').hidden = false;
  $('pf-app').hidden = true;
  $('pf-logout').hidden = true;
  $('pf-user').textContent = '';
  document.documentElement.dataset.ready = '';
}

function logout() {
  if (token)
    fetch('/api/v1/auth/logout', {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    }).catch(() => {});
  token = null;
  safeStorage(() => sessionStorage.removeItem(TOKEN_KEY));
  stream?.close();
  stream = null;
  showLogin();
}

async function login(event) {
  event.preventDefault();
  $('pf-login-error').textContent = '';
  const response = await fetch('/api/v1/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: $('pf-username').value, password: $('pf-password').value }),
  });
  if (!response.ok) {
    $('pf-login-error').textContent = t(response.status === 429 ? 'login.limited' : 'login.failed');
    return;
  }
  const data = await response.json();
  token = data.token;
  safeStorage(() => sessionStorage.setItem(TOKEN_KEY, token));
  await enter();
}

async function enter() {
  try {
    user = await api('GET', '/api/v1/me');
  } catch {
    return showLogin();
  }
  $('pf-login').hidden = true;
  $('pf-app').hidden = false;
  $('pf-logout').hidden = false;
  $('pf-user').textContent = `${user.name} · ${t(`role.${user.role}`)}`;
  connect();
  await refresh();
  await route();
  document.documentElement.dataset.ready = 'true';
}

function connect() {
  stream?.close();
  const state = $('pf-connection');
  state.dataset.state = 'connecting';
  state.textContent = t('conn.connecting');
  stream = new EventSource(`/api/v1/stream?access_token=${encodeURIComponent(token)}`);
  stream.onopen = () => {
    state.dataset.state = 'open';
    state.textContent = t('conn.open');
    scheduleRefresh();
  };
  stream.onerror = () => {
    state.dataset.state = 'closed';
    state.textContent = t('conn.closed');
  };
  for (const name of ['alarm', 'disposal', 'escalation', 'gateway'])
    stream.addEventListener(name, scheduleRefresh);
  stream.addEventListener('readings', (e) => onReadings(JSON.parse(e.data)));
}

function scheduleRefresh() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    refresh().catch(() => {});
    if (detailId) renderDetail(detailId).catch(() => {});
  }, REFRESH_DEBOUNCE_MS);
}

async function refresh() {
  const [overview, ranking, disposals] = await Promise.all([
    api('GET', '/api/v1/overview'),
    api('GET', '/api/v1/enterprises'),
    api('GET', '/api/v1/disposals'),
  ]);
  renderOverview(overview);
  renderRanking(ranking.enterprises);
  renderAlarms(disposals.items);
}

function riskBadge(colour) {
  return el('span', { class: 'pf-risk', 'data-colour': colour, text: t(`colour.${colour}`) });
}

function renderOverview(o) {
  const box = $('pf-overview');
  box.replaceChildren(
    el('h2', { text: t('overview.title') }),
    el(
      'div',
      { class: 'pf-overview-items' },
      el('span', { text: t('overview.enterprises', { n: o.enterprises }) }),
      ...['red', 'orange', 'yellow', 'blue'].map((c) =>
        el('span', {}, riskBadge(c), document.createTextNode(` ${o.byColour[c]}`)),
      ),
      el('span', { text: t('overview.level2', { n: o.activeLevel2 }) }),
      el('span', { text: t('overview.level1', { n: o.activeLevel1 }) }),
      el('span', { text: t('overview.overdue', { n: o.overdueDisposals }) }),
      el('span', { text: t('overview.offline', { n: o.offlinePoints }) }),
    ),
  );
}

function region(j) {
  return [j.province, j.city, j.county, j.park].filter(Boolean).join(' / ') || '—';
}

function renderRanking(list) {
  for (const e of list) enterpriseNames.set(e.id, e.name);
  const rows = list.map((e, i) =>
    el(
      'tr',
      {
        'data-enterprise-id': e.id,
        'data-colour': e.risk.colour,
        onclick: () => (location.hash = `#/enterprise/${encodeURIComponent(e.id)}`),
      },
      el('td', { text: i + 1 }),
      el('td', { text: e.name }),
      el('td', { text: region(e.jurisdiction) }),
      el('td', {}, riskBadge(e.risk.colour)),
      el('td', { text: e.risk.score }),
      el('td', { text: e.risk.grade ? t('grade.n', { n: e.risk.grade }) : t('grade.none') }),
      el('td', { text: `${e.risk.activeLevel2} / ${e.risk.activeLevel1}` }),
      el('td', { text: e.risk.offlinePoints }),
      el('td', { text: e.risk.overdueDisposals }),
    ),
  );
  $('pf-ranking').tBodies[0].replaceChildren(...rows);
}

function fmtTime(iso) {
  return iso ? new Date(iso).toLocaleString(lang, { hour12: false }) : '—';
}

function alarmItem({ alarm, disposition }) {
  const d = disposition;
  const note = el('input', {
    class: 'pf-note',
    'aria-label': t('prompt.measure'),
    maxlength: 2000,
  });
  const step = async (action, body) => {
    try {
      // An alarm is addressed by its identity: enterprise, gateway, alarm id (issue 13).
      const key = [alarm.enterpriseId, alarm.gatewayId, alarm.id].map(encodeURIComponent).join('/');
      await api('POST', `/api/v1/alarms/${key}/${action}`, body);
    } finally {
      scheduleRefresh();
    }
  };
  const needText = (action, key) => () => {
    const text = note.value.trim();
    if (!text) {
      note.placeholder = t(`prompt.${action}`);
      note.focus();
      return;
    }
    step(action === 'measure' ? 'measures' : action, { [key]: text });
  };
  const canAct = user.role !== 'emergency';
  const actions = canAct
    ? el(
        'div',
        { class: 'pf-actions' },
        d.status === 'open'
          ? el('button', {
              type: 'button',
              'data-action': 'acknowledge',
              text: t('action.acknowledge'),
              onclick: () => step('acknowledge', {}),
            })
          : null,
        note,
        el('button', {
          type: 'button',
          'data-action': 'assign',
          text: t('action.assign'),
          onclick: needText('assign', 'assignee'),
        }),
        el('button', {
          type: 'button',
          'data-action': 'measure',
          text: t('action.measure'),
          onclick: needText('measure', 'measure'),
        }),
        d.status === 'acknowledged'
          ? el('button', {
              type: 'button',
              'data-action': 'close',
              text: t('action.close'),
              onclick: needText('close', 'note'),
            })
          : null,
      )
    : null;
  return el(
    'li',
    {
      'data-alarm-id': alarm.id,
      'data-alarm-level': alarm.level,
      'data-status': d.status,
      'data-escalation': d.escalationLevel,
      'data-drill': alarm.drill ? 'true' : 'false',
    },
    el(
      'div',
      {},
      el('strong', {
        text: `${t(`alarm.level.${alarm.level}`)}${alarm.drill ? ` · ${t('alarm.drill')}` : ''} · ${t(`status.${d.status}`)}`,
      }),
      document.createTextNode(
        ` ${enterpriseNames.get(alarm.enterpriseId) ?? alarm.enterpriseId} · ${alarm.sensorName ?? alarm.sensorId} · ${fmtValue(alarm.value)} ${alarm.unit}`,
      ),
    ),
    el(
      'div',
      {},
      el('span', { text: `${t(`alarm.state.${alarm.state}`)} · ${fmtTime(alarm.raisedAt)} · ` }),
      el('span', { class: 'pf-escalation', text: t(`escalation.${d.escalationLevel}`) }),
      d.assignee ? el('span', { text: ` · → ${d.assignee}` }) : null,
    ),
    actions,
  );
}

function renderAlarms(items) {
  const list = $('pf-alarms');
  // Keep a half-typed note: rebuild only when something about the items changed.
  const signature = JSON.stringify(
    items.map((i) => [
      i.alarm.id,
      i.alarm.state,
      i.disposition.status,
      i.disposition.escalationLevel,
      i.disposition.assignee,
    ]),
  );
  if (list.dataset.signature === signature && list.dataset.lang === lang) return;
  list.dataset.signature = signature;
  list.dataset.lang = lang;
  if (items.length === 0)
    return list.replaceChildren(el('li', { class: 'pf-empty', text: t('alarms.empty') }));
  list.replaceChildren(...items.map(alarmItem));
}

async function route() {
  const match = /^#\/enterprise\/(.+)$/.exec(location.hash);
  detailId = match ? decodeURIComponent(match[1]) : null;
  $('pf-detail').hidden = detailId === null;
  if (detailId) await renderDetail(detailId);
}

function sparkline(values) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 100 30');
  svg.setAttribute('preserveAspectRatio', 'none');
  const line = document.createElementNS(ns, 'polyline');
  svg.append(line);
  const update = (vals) => {
    if (vals.length === 0) return line.setAttribute('points', '');
    const min = Math.min(...vals);
    const max = Math.max(...vals);
    const span = max - min || 1;
    const step = vals.length > 1 ? 100 / (vals.length - 1) : 0;
    line.setAttribute(
      'points',
      vals
        .map((v, i) => `${(i * step).toFixed(1)},${(28 - ((v - min) / span) * 26).toFixed(1)}`)
        .join(' '),
    );
  };
  update(values);
  return { svg, update };
}

async function renderDetail(id) {
  const data = await api('GET', `/api/v1/enterprises/${encodeURIComponent(id)}`);
  const box = $('pf-detail');
  trends.clear();
  const installations = data.installations.map((inst) =>
    el(
      'div',
      {},
      el('h4', {
        text: `${inst.name} · ${inst.grading ? (inst.grading.isMajorHazard ? `${t('detail.major')} · ${t('grade.n', { n: inst.grading.grade })} · R = ${inst.grading.r.toFixed(1)}` : t('detail.notMajor')) : inst.gradingError}`,
      }),
      inst.grading
        ? el('pre', { class: 'pf-derivation', text: inst.grading.derivation.join('\n') })
        : null,
    ),
  );
  const sensors = await Promise.all(
    data.sensors.map(async (s) => {
      const history = await api(
        'GET',
        `/api/v1/telemetry?gatewayId=${encodeURIComponent(s.gatewayId)}&sensorId=${encodeURIComponent(s.sensorId)}&limit=${TREND_POINTS}`,
      ).catch(() => ({ readings: [] }));
      const values = history.readings
        .map((r) => r.value)
        .filter((v) => typeof v === 'number')
        .slice(-TREND_POINTS);
      const chart = sparkline(values);
      const valueEl = el('div', {
        class: 'pf-sensor__value',
        text: s.value === null ? t('detail.noData') : `${fmtValue(s.value)} ${s.unit}`,
      });
      trends.set(`${s.gatewayId}\u0000${s.sensorId}`, { values, chart, valueEl, unit: s.unit });
      const limits = [s.setpointLevel1, s.setpointLevel2].filter((v) => v !== null).join(' / ');
      return el(
        'div',
        { class: 'pf-sensor', 'data-sensor-id': s.sensorId, 'data-gateway-id': s.gatewayId },
        el('div', { text: `${s.name} (${s.sensorId})${s.gas ? ` · ${s.gas}` : ''}` }),
        valueEl,
        chart.svg,
        el('div', {
          class: 'pf-derivation',
          text: `${s.location ?? ''}${s.rangeMax !== null ? ` · ${s.rangeMin ?? 0}–${s.rangeMax} ${s.unit}` : ''}${limits ? ` · ⚠ ${limits}` : ''}`,
        }),
      );
    }),
  );
  const history = data.alarms.map(({ alarm, disposition }) =>
    el('li', {
      'data-alarm-id': alarm.id,
      text: `${fmtTime(alarm.raisedAt)} · ${t(`alarm.level.${alarm.level}`)} · ${alarm.sensorName ?? alarm.sensorId} · ${fmtValue(alarm.value)} ${alarm.unit} · ${t(`alarm.state.${alarm.state}`)} · ${disposition ? t(`status.${disposition.status}`) : ''}`,
    }),
  );
  box.replaceChildren(
    el('p', {}, el('a', { href: '#/', text: t('detail.back') })),
    el(
      'h2',
      {},
      document.createTextNode(`${data.enterprise.name} `),
      riskBadge(data.enterprise.risk.colour),
    ),
    el('p', { text: region(data.enterprise.jurisdiction) }),
    el('h3', { text: t('detail.installations') }),
    ...installations,
    el('h3', { text: t('detail.sensors') }),
    el('div', { class: 'pf-sensors' }, ...sensors),
    el('h3', { text: t('detail.alarms') }),
    el('ul', { id: 'pf-history' }, ...history),
  );
}

function onReadings(batch) {
  if (!detailId || batch.enterpriseId !== detailId) return;
  for (const r of batch.readings) {
    const trend = trends.get(`${batch.gatewayId}\u0000${r.sensorId}`);
    if (!trend) continue;
    trend.valueEl.textContent =
      r.value === null ? t('detail.noData') : `${fmtValue(r.value)} ${trend.unit}`;
    if (typeof r.value === 'number') {
      trend.values.push(r.value);
      if (trend.values.length > TREND_POINTS) trend.values.shift();
      trend.chart.update(trend.values);
    }
  }
}

async function exportCsv(event) {
  event.preventDefault();
  const response = await fetch('/api/v1/ledger/export.csv', {
    headers: { authorization: `Bearer ${token}` },
  });
  if (!response.ok) return;
  const url = URL.createObjectURL(await response.blob());
  const link = el('a', { href: url, download: 'alarm-disposal-ledger.csv' });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

$('pf-login-form').addEventListener('submit', (e) =>
  login(e).catch((err) => ($('pf-login-error').textContent = err.message)),
);
$('pf-logout').addEventListener('click', logout);
$('pf-export').addEventListener('click', (e) => exportCsv(e).catch(() => {}));
$('pf-lang').addEventListener('click', () => {
  lang = lang === 'en' ? 'zh-CN' : 'en';
  safeStorage(() => localStorage.setItem(LANG_KEY, lang));
  applyStaticText();
  if (token && user) {
    $('pf-user').textContent = `${user.name} · ${t(`role.${user.role}`)}`;
    refresh().catch(() => {});
    if (detailId) renderDetail(detailId).catch(() => {});
  }
});
window.addEventListener('hashchange', () => route().catch(() => {}));

applyStaticText();
if (token) enter();
else showLogin();
