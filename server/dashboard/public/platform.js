/**
 * The regulator's workbench (/platform): login, navigation, language and the live stream; each
 * view is a module of views/ (overview with map, indicators and ranking; enterprise detail;
 * alarm desk; one alarm; reports; hazard ledger and one hazard; data quality). Shared parts: shared/api.js, shared/stream.js,
 * shared/i18n.js, shared/charts.js, shared/components.js.
 *
 * Routes (location.hash): #/ overview, #/enterprise/<id> (detail below the overview, scrolled
 * into view), #/alarms desk, #/alarm/<enterprise>/<gateway>/<alarm>, #/reports, #/hazards
 * (hazard ledger), #/hazard/<id>, #/quality (data quality; ?enterpriseId= for its points).
 * The token lives in sessionStorage (this tab only); the stream is /api/v1/stream?access_token=.
 *
 * Hooks for browser tests: html[data-ready="true"] once a view is drawn; html[data-view];
 * #pf-connection[data-state]; the views' own hooks are in their modules.
 */
import { localName, pickLanguage, translate } from './platform-i18n.js';
import { createApi } from './shared/api.js';
import { disposeCharts } from './shared/chart-registry.js';
import { el } from './shared/components.js';
import { LANGUAGE_STORAGE_KEY } from './shared/i18n.js';
import { openStream } from './shared/stream.js';

/**
 * Each view's module, loaded when the view is first shown: this module then runs (asks for
 * /me, opens the stream) before the views and the chart library have loaded. platform.html
 * preloads the overview's modules, the first view shown.
 */
const VIEW_MODULES = {
  overview: () => import('./views/overview.js'),
  enterprise: () => import('./views/enterprise.js'),
  desk: () => import('./views/desk.js'),
  alarm: () => import('./views/alarm.js'),
  reports: () => import('./views/reports.js'),
  hazards: () => import('./views/hazards.js'),
  hazard: () => import('./views/hazards.js'),
  quality: () => import('./views/quality.js'),
};

const TOKEN_KEY = 'hazardwatch.platform.token';
const REFRESH_DEBOUNCE_MS = 300; // a burst of stream events becomes one refresh
const REFRESH_MIN_INTERVAL_MS = 2_000; // and refreshes come at most every 2 s (a busy jurisdiction streams many events)
// The first view waits this long at most for the stream to open (or fail) before it fetches
// its data: a stream opened first spares it a second fetch, but one a proxy holds back must not
// hold the page back.
const STREAM_OPEN_WAIT_MS = 1_000;

const $ = (id) => document.getElementById(id);
const safe = (f) => {
  try {
    return f();
  } catch {
    return null;
  }
};

const session = {
  lang: pickLanguage(
    location.search,
    safe(() => localStorage.getItem(LANGUAGE_STORAGE_KEY)),
  ),
  token: safe(() => sessionStorage.getItem(TOKEN_KEY)),
  user: null,
  stream: null,
  refreshTimer: null,
  lastRefresh: 0,
  /** The mounted views' refresh functions (called on stream events). */
  refreshers: [],
  /**
   * Whether a view has fetched its data since this stream was created: events from then until
   * the stream opens may be missing from that data, so an open then means a refresh. A stream
   * that opens first delivers everything after the fetch began and needs none.
   */
  fetchedSinceConnect: false,
};

const api = createApi({ token: () => session.token, onUnauthorized: () => logout() });

/** What every view gets. */
const ctx = {
  api,
  get lang() {
    return session.lang;
  },
  get user() {
    return session.user;
  },
  t: (key, params) => translate(session.lang, key, params),
  /** An enterprise's (or installation's) name in the page's language. */
  name: (e) => localName(e.name, e.nameEn, session.lang),
  /** An error answer as words in the page's language (server messages are English). */
  errorText(result) {
    if (result.status === 0) return ctx.t('error.network');
    const code = result.data?.code;
    const key = `error.${code}`;
    const text = translate(session.lang, key);
    if (text !== key) return session.lang === 'en' ? `${text} (${result.message})` : text;
    return ctx.t('error.other', { status: result.status });
  },
  canDispose: () => session.user !== null && session.user.role !== 'emergency',
  navigate: (hash) => {
    if (location.hash === hash) void route();
    else location.hash = hash;
  },
};

function applyStaticText() {
  document.documentElement.lang = session.lang;
  document.title = ctx.t('title');
  for (const node of document.querySelectorAll('[data-t]'))
    node.textContent = ctx.t(node.dataset.t);
  $('pf-lang').textContent = ctx.t('langToggle');
  $('pf-nav').setAttribute('aria-label', ctx.t('nav.label'));
}

function renderNav() {
  const role = session.user?.role ?? 'regulator';
  const view = document.documentElement.dataset.view ?? '';
  const link = (hash, key, name) =>
    el('a', {
      href: hash,
      'data-nav': name,
      'aria-current': view === name ? 'page' : false,
      text: ctx.t(key),
    });
  $('pf-nav').replaceChildren(
    link('#/', `nav.overview.${role}`, 'overview'),
    link('#/alarms', `nav.desk.${role}`, 'desk'),
    link('#/hazards', 'nav.hazards', 'hazards'),
    link('#/quality', 'nav.quality', 'quality'),
    link('#/reports', 'nav.reports', 'reports'),
    el('a', { href: `/?lang=${session.lang === 'en' ? 'en' : 'zh'}`, text: ctx.t('nav.live') }),
  );
}

function showLogin() {
  $('pf-login').hidden = false;
  $('pf-app').hidden = true;
  $('pf-nav').hidden = true;
  $('pf-logout').hidden = true;
  $('pf-user').textContent = '';
  document.documentElement.dataset.ready = '';
}

function logout() {
  if (session.token) void api.post('/auth/logout');
  session.token = null;
  session.user = null;
  safe(() => sessionStorage.removeItem(TOKEN_KEY));
  session.stream?.close();
  session.stream = null;
  showLogin();
}

async function login(event) {
  event.preventDefault();
  $('pf-login-error').textContent = '';
  const result = await api.post('/auth/login', {
    username: $('pf-username').value,
    password: $('pf-password').value,
  });
  if (!result.ok) {
    $('pf-login-error').textContent = ctx.t(
      result.status === 429 ? 'login.limited' : 'login.failed',
    );
    return;
  }
  session.token = result.data.token;
  safe(() => sessionStorage.setItem(TOKEN_KEY, session.token));
  await enter();
}

function showUser() {
  const u = session.user;
  $('pf-user').textContent =
    `${localName(u.name, null, session.lang)} · ${ctx.t(`role.${u.role}`)}`;
}

async function enter() {
  // The stream opens while /me is asked, and the view fetches its data once it is open: then
  // it need not fetch it a second time (see fetchedSinceConnect).
  const settled = connect();
  const [me] = await Promise.all([
    api.get('/me'),
    Promise.race([settled, new Promise((resolve) => setTimeout(resolve, STREAM_OPEN_WAIT_MS))]),
  ]);
  if (!me.ok) {
    session.stream?.close();
    session.stream = null;
    return showLogin();
  }
  session.user = me.data;
  $('pf-login').hidden = true;
  $('pf-app').hidden = false;
  $('pf-nav').hidden = false;
  $('pf-logout').hidden = false;
  showUser();
  await route();
}

/** Opens the stream; resolves once it is open or has failed for the first time. */
function connect() {
  session.stream?.close();
  const state = $('pf-connection');
  let settle;
  const settled = new Promise((resolve) => {
    settle = resolve;
  });
  const setState = (s) => {
    state.dataset.state = s;
    state.textContent = ctx.t(`conn.${s}`);
    if (s !== 'connecting') settle();
  };
  const refresh = () => scheduleRefresh();
  session.fetchedSinceConnect = false;
  session.stream = openStream({
    url: () => `/api/v1/stream?access_token=${encodeURIComponent(session.token ?? '')}`,
    onState: setState,
    // Every reopen after a drop refreshes (events may have been missed, or the server asked
    // for a resync); the first open only if a view fetched before it.
    onOpen: () => {
      if (session.fetchedSinceConnect) refresh();
    },
    // hazard and gradeChanged (issue 16) arrive scoped like alarms (server/api/stream.ts).
    events: {
      alarm: refresh,
      disposal: refresh,
      escalation: refresh,
      gateway: refresh,
      hazard: refresh,
      gradeChanged: refresh,
    },
  });
  return settled;
}

function scheduleRefresh() {
  if (session.refreshTimer) return;
  const wait = Math.max(
    REFRESH_DEBOUNCE_MS,
    session.lastRefresh + REFRESH_MIN_INTERVAL_MS - Date.now(),
  );
  session.refreshTimer = setTimeout(() => {
    session.refreshTimer = null;
    session.lastRefresh = Date.now();
    for (const refresh of session.refreshers) refresh().catch(() => {});
  }, wait);
}

/** Mounts the view the hash names; the overview stays mounted under an enterprise's detail. */
async function route() {
  if (!session.user) return;
  const hash = location.hash || '#/';
  const view = $('pf-view');
  const detail = $('pf-detail');
  const enterpriseMatch = /^#\/enterprise\/(.+)$/.exec(hash);
  const alarmMatch = /^#\/alarm\/([^/]+)\/([^/]+)\/(.+)$/.exec(hash);
  const hazardMatch = /^#\/hazard\/([^/?]+)$/.exec(hash);
  let name = 'overview';
  if (enterpriseMatch) name = 'enterprise';
  else if (alarmMatch) name = 'alarm';
  else if (hash.startsWith('#/alarms')) name = 'desk';
  else if (hash.startsWith('#/reports')) name = 'reports';
  else if (hazardMatch) name = 'hazard';
  else if (hash.startsWith('#/hazards')) name = 'hazards';
  else if (hash.startsWith('#/quality')) name = 'quality';
  // An operator's overview is their own enterprise.
  if (name === 'overview' && session.user.role === 'enterprise' && session.user.enterpriseId) {
    return ctx.navigate(`#/enterprise/${encodeURIComponent(session.user.enterpriseId)}`);
  }
  document.documentElement.dataset.view = name;
  document.documentElement.dataset.ready = '';
  session.fetchedSinceConnect = true;
  renderNav();
  // The overview stays mounted under an enterprise's detail (not for an operator).
  const withOverview =
    (name === 'overview' || name === 'enterprise') && session.user.role !== 'enterprise';
  const [overviewModule, m] = await Promise.all([
    withOverview ? VIEW_MODULES.overview() : null,
    VIEW_MODULES[name](),
  ]);
  session.refreshers = [];
  disposeCharts(view);
  view.replaceChildren();
  disposeCharts(detail);
  detail.replaceChildren();
  detail.hidden = true;
  if (overviewModule) session.refreshers.push(await overviewModule.renderOverview(ctx, view));
  if (name === 'enterprise') {
    detail.hidden = false;
    session.refreshers.push(
      await m.renderEnterprise(ctx, detail, decodeURIComponent(enterpriseMatch[1])),
    );
    detail.scrollIntoView({ block: 'start' });
    detail.focus({ preventScroll: true });
  } else if (name === 'desk') {
    session.refreshers.push(await m.renderDesk(ctx, view));
  } else if (name === 'alarm') {
    const key = alarmMatch.slice(1, 4).map(decodeURIComponent);
    session.refreshers.push(
      await m.renderAlarm(ctx, view, { enterpriseId: key[0], gatewayId: key[1], alarmId: key[2] }),
    );
  } else if (name === 'reports') {
    session.refreshers.push(await m.renderReports(ctx, view));
  } else if (name === 'hazards') {
    session.refreshers.push(await m.renderHazards(ctx, view));
  } else if (name === 'hazard') {
    session.refreshers.push(await m.renderHazard(ctx, view, decodeURIComponent(hazardMatch[1])));
  } else if (name === 'quality') {
    session.refreshers.push(await m.renderQuality(ctx, view));
  }
  document.documentElement.dataset.ready = 'true';
}

$('pf-login-form').addEventListener('submit', (e) =>
  login(e).catch((err) => ($('pf-login-error').textContent = err.message)),
);
$('pf-logout').addEventListener('click', logout);
$('pf-lang').addEventListener('click', () => {
  session.lang = session.lang === 'en' ? 'zh-CN' : 'en';
  safe(() => localStorage.setItem(LANGUAGE_STORAGE_KEY, session.lang));
  applyStaticText();
  if (session.user) {
    showUser();
    void route();
  }
});
window.addEventListener('hashchange', () => void route().catch(() => {}));

applyStaticText();
if (session.token) void enter();
else showLogin();
