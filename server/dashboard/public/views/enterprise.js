/**
 * One enterprise: its stable risk score and the terms behind it, its colour over the last
 * days, its major hazard installations (GB 18218-2018 grading in the page's language), every
 * process point with its trend (one time range for all), and its alarms (each opens the alarm).
 *
 * Hooks: #pf-detail h2[data-enterprise-id]; #pf-terms tr[data-factor][data-points];
 * #pf-risk-history[data-chart=risk-history]; .pf-sensor[data-sensor-id] .pf-chart[data-chart=trend];
 * #pf-history a[data-alarm-id].
 */

import { formatNumber } from '../format.js';
import { riskHistoryChart, trendChart } from '../shared/charts.js';
import { el, fmtTime, fmtValue, rangePicker, riskBadge } from '../shared/components.js';

const HISTORY_DAYS = 7;

/** The gateway's own diagnostic points are not process points (server/platform/supervision.ts). */
const isDiagnostic = (s) =>
  s.sensorId.startsWith('_') || (s.kind === 'status' && s.sensorId.endsWith('.online'));

export function alarmHash(a) {
  return `#/alarm/${[a.enterpriseId, a.gatewayId, a.id ?? a.alarmId].map(encodeURIComponent).join('/')}`;
}

function chemicalName(name, lang) {
  // grading.ts names table chemicals "中文 (English)".
  const m = /^(.*?)\s*\((.*)\)$/.exec(name);
  if (!m) return name;
  return lang === 'en' ? m[2] : m[1];
}

function installationView(ctx, inst) {
  const { t } = ctx;
  const g = inst.grading;
  const head = el('h4', { text: ctx.name(inst) });
  if (!g)
    return el(
      'div',
      { class: 'pf-installation' },
      head,
      el('p', { text: t('detail.gradingError') }),
    );
  const grade = g.grade ? t('grade.n', { n: g.grade }) : t('detail.notMajor');
  return el(
    'div',
    { class: 'pf-installation', 'data-installation-id': inst.id },
    head,
    el('p', {}, el('strong', { text: g.isMajorHazard ? t('detail.major') : t('detail.notMajor') })),
    el(
      'table',
      { class: 'pf-small-table' },
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          ...['chemical', 'q', 'Q', 'beta', 'ratio'].map((k) =>
            el('th', { scope: 'col', text: t(`inst.${k}`) }),
          ),
        ),
      ),
      el(
        'tbody',
        {},
        ...g.items.map((it) =>
          el(
            'tr',
            {},
            el('td', { text: chemicalName(it.name, ctx.lang) }),
            el('td', { text: formatNumber(it.quantityT) }),
            el('td', { text: formatNumber(it.criticalQuantityT) }),
            el('td', { text: formatNumber(it.beta) }),
            el('td', { text: formatNumber(it.ratio) }),
          ),
        ),
      ),
    ),
    el('p', { text: t('detail.sum', { s: formatNumber(g.sumRatio) }) }),
    el('p', { text: t('detail.alpha', { n: inst.peopleWithin500m, alpha: g.alpha }) }),
    el('p', { text: t('detail.r', { r: formatNumber(g.r), grade }) }),
  );
}

function termsTable(ctx, risk, halfLifeMs) {
  const { t } = ctx;
  return el(
    'div',
    {},
    el(
      'table',
      { id: 'pf-terms', class: 'pf-small-table' },
      el('caption', {
        text: t('terms.total', { score: risk.score, colour: t(`colour.${risk.colour}`) }),
      }),
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          ...['factor', 'points', 'live', 'decaying'].map((k) =>
            el('th', { scope: 'col', text: t(`terms.${k}`) }),
          ),
        ),
      ),
      el(
        'tbody',
        {},
        ...risk.terms.map((term) =>
          el(
            'tr',
            {
              'data-factor': term.factor,
              'data-points': term.points,
              class: term.points > 0 ? 'pf-term--on' : 'pf-term--off',
            },
            el('td', { text: t(`term.${term.factor}`) }),
            el('td', { text: formatNumber(term.points) }),
            el('td', { text: term.live }),
            el('td', { text: term.decaying }),
          ),
        ),
      ),
    ),
    el('p', { class: 'pf-muted', text: t('terms.explain', { hours: halfLifeMs / 3_600_000 }) }),
  );
}

export async function renderEnterprise(ctx, root, id) {
  const { t } = ctx;
  const enc = encodeURIComponent(id);
  const [detail, ranking, history] = await Promise.all([
    ctx.api.request('GET', `/enterprises/${enc}`),
    ctx.api.getJson('/workbench/ranking'),
    ctx.api.request('GET', `/workbench/enterprises/${enc}/risk-history?days=${HISTORY_DAYS}`),
  ]);
  if (!detail.ok) {
    root.replaceChildren(el('p', { role: 'alert', text: ctx.errorText(detail) }));
    return async () => {};
  }
  const data = detail.data;
  const ranked = ranking.enterprises.find((e) => e.id === id);
  const termsBox = el('div', { id: 'pf-terms-box' });
  const historyChart = el('div', { class: 'pf-chart', id: 'pf-risk-history' });
  let range = { from: Date.now() - 3_600_000, to: Date.now(), key: '1h' };
  const sensors = data.sensors.filter((s) => !isDiagnostic(s));
  const cards = sensors.map((s) => {
    const value = el('div', { class: 'pf-sensor__value' });
    const chart = el('div', { class: 'pf-chart' });
    const status = el('span', { class: 'pf-muted' });
    const setpoints = [s.setpointLevel1, s.setpointLevel2]
      .map((v) => (v === null ? '—' : formatNumber(v)))
      .join(' / ');
    const card = el(
      'div',
      { class: 'pf-sensor', 'data-sensor-id': s.sensorId, 'data-gateway-id': s.gatewayId },
      el('h4', { text: `${s.name} (${s.sensorId})` }),
      value,
      status,
      el(
        'p',
        { class: 'pf-muted' },
        `${t('sensor.location')}: ${s.location ?? '—'} · ${t('sensor.range')}: ${s.rangeMax !== null ? `${formatNumber(s.rangeMin ?? 0)}–${formatNumber(s.rangeMax)} ${s.unit}` : '—'} · ${t('sensor.setpoints')}: ${setpoints} ${s.unit}`,
      ),
      chart,
    );
    return { s, card, value, chart, status };
  });
  const drawTrends = async () => {
    await Promise.all(
      cards.map(async ({ s, chart }) => {
        const q = `gatewayId=${encodeURIComponent(s.gatewayId)}&sensorId=${encodeURIComponent(s.sensorId)}&from=${Math.round(range.from)}&to=${Math.round(range.to)}`;
        const result = await ctx.api.request('GET', `/workbench/trend?${q}`);
        if (!result.ok) {
          chart.textContent = t('chart.failed', { message: ctx.errorText(result) });
          return;
        }
        trendChart(chart, result.data, t);
      }),
    );
  };
  const alarmList = el('ul', { id: 'pf-history', class: 'pf-history' });
  root.replaceChildren(
    el('p', {}, el('a', { href: '#/', text: t('detail.back') })),
    el(
      'h2',
      { 'data-enterprise-id': id, tabindex: -1 },
      `${ctx.name({ name: data.enterprise.name, nameEn: ranked?.nameEn })} `,
      riskBadge(ranked?.risk.colour ?? data.enterprise.risk.colour, t),
    ),
    el('p', {
      class: 'pf-muted',
      text: [
        data.enterprise.jurisdiction.province,
        data.enterprise.jurisdiction.city,
        data.enterprise.jurisdiction.county,
        data.enterprise.jurisdiction.park,
      ]
        .filter(Boolean)
        .join(' / '),
    }),
    el(
      'div',
      { class: 'pf-columns' },
      el('div', {}, el('h3', { text: t('terms.title') }), termsBox),
      el('div', {}, el('h3', { text: t('history.title', { days: HISTORY_DAYS }) }), historyChart),
    ),
    el('h3', { text: t('detail.installations') }),
    ...(data.installations.length
      ? data.installations.map((inst) => installationView(ctx, inst))
      : [el('p', { text: '—' })]),
    el('h3', { text: t('detail.sensors') }),
    rangePicker({
      t,
      initial: '1h',
      onChange: (r) => {
        range = r;
        void drawTrends();
      },
    }),
    el('div', { class: 'pf-sensors' }, ...cards.map((c) => c.card)),
    el('h3', { text: t('detail.alarms') }),
    alarmList,
  );

  async function refresh() {
    const [fresh, rank] = await Promise.all([
      ctx.api.getJson(`/enterprises/${enc}`),
      ctx.api.getJson('/workbench/ranking'),
    ]);
    const r = rank.enterprises.find((e) => e.id === id);
    if (r) termsBox.replaceChildren(termsTable(ctx, r.risk, rank.halfLifeMs));
    const latest = new Map(fresh.sensors.map((s) => [`${s.gatewayId}\u0000${s.sensorId}`, s]));
    for (const c of cards) {
      const s = latest.get(`${c.s.gatewayId}\u0000${c.s.sensorId}`) ?? c.s;
      c.value.textContent = s.value === null ? t('detail.noData') : fmtValue(s.value, s.unit, t);
      c.status.textContent = `${s.quality === 'bad' || s.value === null ? t('sensor.offline') : t('sensor.online')} · ${fmtTime(s.ts)}`;
    }
    alarmList.replaceChildren(
      ...fresh.alarms.map(({ alarm, disposition }) =>
        el(
          'li',
          { 'data-alarm-id': alarm.id, 'data-alarm-level': alarm.level },
          el('a', {
            href: alarmHash(alarm),
            'data-alarm-id': alarm.id,
            text: `${fmtTime(alarm.raisedAt)} · ${t(`alarm.level.${alarm.level}`)}${alarm.drill ? ` · ${t('alarm.drill')}` : ''} · ${alarm.sensorName ?? alarm.sensorId} · ${fmtValue(alarm.value, alarm.unit, t)} · ${t(`alarm.state.${alarm.state}`)}${disposition ? ` · ${t(`status.${disposition.status}`)}` : ''}`,
          }),
        ),
      ),
    );
  }
  await refresh();
  if (history.ok) riskHistoryChart(historyChart, history.data.samples, t);
  await drawTrends();
  return refresh;
}
