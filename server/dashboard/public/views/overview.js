/**
 * Overview of the jurisdiction: headline counts, indicators with their definitions, alarms per
 * day, four-colour distribution, the map, and the ranking by stable risk score.
 *
 * Hooks: #pf-overview; #pf-indicators [data-indicator]; #pf-map[data-chart=map];
 * #pf-ranking tbody tr[data-enterprise-id][data-colour][data-score] (tabindex 0: Enter or Space
 * opens the enterprise, as a click does).
 */
import { el, fmtRate, indicatorCard, riskBadge } from '../shared/components.js';

const DAYS = 7; // the alarms-per-day chart

function region(j) {
  return [j.province, j.city, j.county, j.park].filter(Boolean).join(' / ') || '—';
}

export async function renderOverview(ctx, root) {
  const { t } = ctx;
  const role = ctx.user.role;
  const section = el('section', { id: 'pf-overview', class: 'pf-panel', 'aria-live': 'polite' });
  const counts = el('div', { class: 'pf-overview-items' });
  const indicators = el('div', { id: 'pf-indicators', class: 'pf-indicators' });
  const perDay = el('div', { class: 'pf-chart pf-chart--small', id: 'pf-per-day' });
  const colours = el('div', { class: 'pf-chart pf-chart--small', id: 'pf-colours' });
  const map = el('div', {
    class: 'pf-chart pf-chart--map',
    id: 'pf-map',
    role: 'img',
    'aria-label': t('map.title'),
  });
  const unplaced = el('p', { class: 'pf-muted' });
  const tbody = el('tbody');
  const table = el(
    'table',
    { id: 'pf-ranking' },
    el('caption', { text: t('ranking.caption') }),
    el(
      'thead',
      {},
      el(
        'tr',
        {},
        ...[
          'rank',
          'enterprise',
          'region',
          'colour',
          'score',
          'grade',
          'alarms',
          'unack',
          'offline',
          'overdue',
        ].map((k) => el('th', { scope: 'col', text: t(`ranking.${k}`) })),
      ),
    ),
    tbody,
  );
  section.append(
    el('h2', { text: t(`overview.title.${role}`) }),
    counts,
    el('h3', { text: t('indicators.title') }),
    indicators,
    el(
      'div',
      { class: 'pf-columns' },
      el('div', {}, el('h3', { text: t('ind.perDayTitle') }), perDay),
      el('div', {}, el('h3', { text: t('ind.colourDistribution') }), colours),
    ),
  );
  const mapPanel = el(
    'section',
    { class: 'pf-panel' },
    el('h2', { text: t('map.title') }),
    el('p', { class: 'pf-muted', text: t('map.hint') }),
    map,
    unplaced,
  );
  const rankingPanel = el(
    'section',
    { class: 'pf-panel pf-ranking-panel' },
    el('h2', { text: t('ranking.title') }),
    el('div', { class: 'pf-scroll' }, table),
  );
  root.append(section, el('div', { class: 'pf-columns' }, rankingPanel, mapPanel));

  const open = (id) => ctx.navigate(`#/enterprise/${encodeURIComponent(id)}`);

  async function refresh() {
    // One request for the whole view: the ranking, the last 24 h's totals and the last 7 days
    // per day come from one read of the jurisdiction on the server. The chart library (1 MB,
    // platform.html preloads it) is evaluated while the server answers, not before.
    const offset = -new Date().getTimezoneOffset();
    const [overview, { coloursChart, mapChart, perDayChart }] = await Promise.all([
      ctx.api.getJson(`/workbench/overview?lang=${ctx.lang}&utcOffsetMin=${offset}&days=${DAYS}`),
      import('../shared/charts.js'),
    ]);
    const list = overview.enterprises;
    const sum = (f) => list.reduce((s, e) => s + f(e), 0);
    counts.replaceChildren(
      el('span', { text: t('overview.enterprises', { n: list.length }) }),
      ...['red', 'orange', 'yellow', 'blue'].map((c) =>
        el('span', {}, riskBadge(c, t), ` ${list.filter((e) => e.risk.colour === c).length}`),
      ),
      el('span', {
        'data-count': 'level2',
        text: t('overview.level2', { n: sum((e) => e.counts.inAlarmLevel2) }),
      }),
      el('span', {
        'data-count': 'level1',
        text: t('overview.level1', { n: sum((e) => e.counts.inAlarmLevel1) }),
      }),
      el('span', {
        'data-count': 'unack',
        text: t('overview.unack', { n: sum((e) => e.counts.unacknowledged) }),
      }),
      el('span', {
        'data-count': 'overdue',
        text: t('overview.overdue', { n: sum((e) => e.counts.overdue) }),
      }),
      el('span', {
        'data-count': 'offline',
        text: t('overview.offline', { n: sum((e) => e.counts.offlinePoints) }),
      }),
    );
    const i = overview.indicators;
    const d = overview.definitions;
    const totalDay = i.alarmsPerDay.reduce((s, x) => s + x.level1 + x.level2, 0);
    indicators.replaceChildren(
      indicatorCard(
        'onlineRate',
        t('ind.onlineRate'),
        `${fmtRate(i.online.rate)} (${i.online.numerator}/${i.online.denominator})`,
        d.onlineRate,
      ),
      indicatorCard(
        'alarmsPerDay',
        t('ind.alarmsPerDay'),
        t('ind.count', { n: totalDay }),
        d.alarmsPerDay,
      ),
      indicatorCard(
        'acknowledgedInTime',
        t('ind.acknowledgedInTime'),
        fmtRate(i.acknowledgedInTime.rate),
        d.acknowledgedInTime,
      ),
      indicatorCard(
        'disposalRate',
        t('ind.disposalRate'),
        fmtRate(i.disposal.rate),
        d.disposalRate,
      ),
      indicatorCard(
        'meanDisposalTime',
        t('ind.meanDisposalTime'),
        i.meanDisposalMs === null
          ? '—'
          : t('ind.minutes', { n: (i.meanDisposalMs / 60_000).toFixed(1) }),
        d.meanDisposalTime,
      ),
      indicatorCard(
        'overdueDisposals',
        t('ind.overdueDisposals'),
        t('ind.count', { n: i.overdue }),
        d.overdueDisposals,
      ),
      indicatorCard(
        'colourDistribution',
        t('ind.colourDistribution'),
        ['red', 'orange', 'yellow', 'blue']
          .map((c) => `${t(`colour.${c}`)} ${i.colours[c]}`)
          .join(' · '),
        d.colourDistribution,
      ),
    );
    perDayChart(perDay, overview.days.alarmsPerDay, t);
    coloursChart(colours, i.colours, t);
    mapChart(map, list, t, ctx.name, open);
    const missing = list.filter((e) => e.lat === null || e.lon === null).map((e) => ctx.name(e));
    unplaced.textContent = missing.length ? t('map.unplaced', { names: missing.join('、') }) : '';
    const focused =
      document.activeElement?.closest?.('tr[data-enterprise-id]')?.dataset.enterpriseId;
    tbody.replaceChildren(
      ...list.map((e, n) => {
        const row = el(
          'tr',
          {
            tabindex: 0,
            'data-enterprise-id': e.id,
            'data-colour': e.risk.colour,
            'data-score': e.risk.score,
            'aria-label': `${ctx.name(e)} · ${t(`colour.${e.risk.colour}`)} · ${e.risk.score}`,
            onclick: () => open(e.id),
            onkeydown: (ev) => {
              if (ev.key === 'Enter' || ev.key === ' ') {
                ev.preventDefault();
                open(e.id);
              } else if (ev.key === 'ArrowDown') {
                ev.preventDefault();
                ev.currentTarget.nextElementSibling?.focus();
              } else if (ev.key === 'ArrowUp') {
                ev.preventDefault();
                ev.currentTarget.previousElementSibling?.focus();
              }
            },
          },
          el('td', { text: n + 1 }),
          el('td', { text: ctx.name(e) }),
          el('td', { text: region(e.jurisdiction) }),
          el('td', {}, riskBadge(e.risk.colour, t)),
          el('td', { text: e.risk.score }),
          el('td', { text: e.risk.grade ? t('grade.n', { n: e.risk.grade }) : t('grade.none') }),
          el('td', { text: `${e.counts.inAlarmLevel2} / ${e.counts.inAlarmLevel1}` }),
          el('td', { text: e.counts.unacknowledged }),
          el('td', { text: e.counts.offlinePoints }),
          el('td', { text: e.counts.overdue }),
        );
        return row;
      }),
    );
    if (focused) tbody.querySelector(`tr[data-enterprise-id="${CSS.escape(focused)}"]`)?.focus();
  }
  await refresh();
  return refresh;
}
