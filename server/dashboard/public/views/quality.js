/**
 * Data quality (issue 16; definitions in docs/indicators.md): per enterprise and in total, the
 * point online rate over time, completeness, device faults, points suppressed behind an offline
 * gateway, gateway outages (each counted once), flat lines, clock skew, setpoints and point
 * names; the outages themselves; and, for one enterprise (#/quality?enterpriseId=…), every
 * point. The online rate shown here is the time-based one, named so and defined on the page,
 * apart from the overview's "points online now".
 *
 * Hooks: #pf-quality tbody tr[data-enterprise-id][data-outages][data-faults][data-suppressed]
 * (the total row has data-enterprise-id=""); #pf-outages li[data-gateway-id][data-points];
 * #pf-quality-points tbody tr[data-sensor-id][data-status]; #pf-quality-def.
 */
import { NO_VALUE } from '../format.js';
import { el, fmtRate, fmtTime } from '../shared/components.js';

function params() {
  return new URLSearchParams(location.hash.split('?')[1] ?? '');
}

const COLUMNS = [
  'points',
  'onlineRate',
  'completeness',
  'deviceFaults',
  'pointsSuppressed',
  'gatewayOutages',
  'flatLined',
  'clockSkewed',
  'setpoints',
  'names',
];

function duration(ms) {
  if (ms === null || ms === undefined) return NO_VALUE;
  const s = Math.round(Math.abs(ms) / 1000);
  const sign = ms < 0 && s > 0 ? '-' : '';
  if (s < 120) return `${sign}${s} s`;
  if (s < 7200) return `${sign}${Math.round(s / 60)} min`;
  return `${sign}${(s / 3600).toFixed(1)} h`;
}

function summaryCells(s) {
  const cell = (text) => el('td', { class: 'pf-num', text });
  return [
    cell(String(s.points ?? 0)),
    cell(fmtRate(s.onlineRate)),
    cell(fmtRate(s.completeness)),
    cell(String(s.deviceFaults ?? 0)),
    cell(String(s.pointsSuppressed ?? 0)),
    cell(String(s.gatewayOutages ?? 0)),
    cell(String(s.flatLined ?? 0)),
    cell(String(s.clockSkewed ?? 0)),
    cell(`${s.setpointsNotSeen ?? 0} / ${s.setpointsLooser ?? 0}`),
    cell(String(s.nonStandardNames ?? 0)),
  ];
}

export async function renderQuality(ctx, root) {
  const { t } = ctx;
  const ranking = await ctx.api.getJson('/workbench/ranking');
  const names = new Map(ranking.enterprises.map((e) => [e.id, ctx.name(e)]));
  const nameOf = (id) => names.get(id) ?? id;
  const at = el('p', { class: 'pf-muted' });
  const tbody = el('tbody');
  const outages = el('ul', { id: 'pf-outages', class: 'pf-history' });
  const pointsBox = el('div');
  const head = (keys, prefix) =>
    el(
      'thead',
      {},
      el('tr', {}, ...keys.map((k) => el('th', { scope: 'col', text: t(`${prefix}${k}`) }))),
    );
  root.append(
    el(
      'section',
      { class: 'pf-panel', id: 'pf-quality-panel' },
      el('h2', { text: t('dq.title') }),
      at,
      el('p', { id: 'pf-quality-def', class: 'pf-indicator__def', text: t('dq.definition') }),
      el(
        'div',
        { class: 'pf-scroll' },
        el(
          'table',
          { id: 'pf-quality', class: 'pf-small-table' },
          head(['enterprise', ...COLUMNS], 'dq.col.'),
          tbody,
        ),
      ),
      el('h3', { text: t('dq.outages') }),
      outages,
      pointsBox,
    ),
  );

  async function refresh() {
    const enterpriseId = params().get('enterpriseId');
    const query = enterpriseId ? `?enterpriseId=${encodeURIComponent(enterpriseId)}` : '';
    const data = await ctx.api.getJson(`/supervision/data-quality${query}`);
    at.textContent = t('dq.at', { time: fmtTime(data.at) });
    const row = (id, summary, label) =>
      el(
        'tr',
        {
          'data-enterprise-id': id,
          'data-outages': String(summary.gatewayOutages ?? 0),
          'data-faults': String(summary.deviceFaults ?? 0),
          'data-suppressed': String(summary.pointsSuppressed ?? 0),
          'aria-current': id && id === enterpriseId ? 'true' : false,
        },
        el(
          'th',
          { scope: 'row' },
          id
            ? el('a', {
                href: `#/quality?enterpriseId=${encodeURIComponent(id)}`,
                title: t('dq.show'),
                text: label,
              })
            : label,
        ),
        ...summaryCells(summary),
      );
    tbody.replaceChildren(
      ...data.enterprises.map((e) => row(e.enterpriseId, e.summary, nameOf(e.enterpriseId))),
      row('', data.total, t('dq.total')),
    );
    outages.replaceChildren(
      ...(data.outages.length === 0
        ? [el('li', { class: 'pf-muted', text: t('dq.outages.none') })]
        : data.outages.map((o) =>
            el('li', {
              'data-gateway-id': o.gatewayId,
              'data-points': String(o.points),
              'data-ongoing': o.endedAt === null ? 'true' : 'false',
              text: t('dq.outage', {
                enterprise: nameOf(o.enterpriseId),
                gateway: o.gatewayId,
                from: fmtTime(o.startedAt),
                to:
                  o.endedAt === null
                    ? t('dq.outage.ongoing')
                    : t('dq.outage.ended', { time: fmtTime(o.endedAt) }),
                points: o.points,
              }),
            }),
          )),
    );
    if (!enterpriseId || !data.points) {
      pointsBox.replaceChildren();
      return;
    }
    const keys = [
      'point',
      'status',
      'onlineRate',
      'completeness',
      'flatFor',
      'skew',
      'setpoint',
      'name',
    ];
    pointsBox.replaceChildren(
      el('h3', { text: t('dq.points', { name: nameOf(enterpriseId) }) }),
      el(
        'div',
        { class: 'pf-scroll' },
        el(
          'table',
          { id: 'pf-quality-points', class: 'pf-small-table' },
          head(keys, 'dq.col.'),
          el(
            'tbody',
            {},
            ...data.points.map((p) =>
              el(
                'tr',
                {
                  'data-sensor-id': p.sensorId,
                  'data-gateway-id': p.gatewayId,
                  'data-status': p.status,
                },
                el('th', {
                  scope: 'row',
                  text: p.name && p.name !== p.sensorId ? `${p.sensorId} ${p.name}` : p.sensorId,
                }),
                el('td', { text: t(`dq.status.${p.status}`) }),
                el('td', { class: 'pf-num', text: fmtRate(p.onlineRate) }),
                el('td', { class: 'pf-num', text: fmtRate(p.completeness) }),
                el('td', { class: 'pf-num', text: duration(p.flatForMs) }),
                el('td', {
                  class: 'pf-num',
                  'data-skewed': p.clockSkewed ? 'true' : 'false',
                  text: duration(p.clockSkewMs),
                }),
                el('td', { text: t(`dq.setpoint.${p.setpoint}`) }),
                el('td', { text: t(p.standardName ? 'dq.name.ok' : 'dq.name.bad') }),
              ),
            ),
          ),
        ),
      ),
    );
  }
  await refresh();
  return refresh;
}
