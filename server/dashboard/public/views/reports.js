/**
 * Reports: a day, week or month (or a custom range) of the caller's jurisdiction, shown as a
 * printable page (indicators, top enterprises, alarms per day with a chart, alarm and disposal
 * table), exported as CSV (with a byte-order mark) or XLSX; and the scheduled report files.
 *
 * Hooks: #pf-report-form; #pf-report[data-from][data-to]; button[data-export=csv|xlsx];
 * #pf-report-msg; #pf-report-files li.
 */
import { perDayChart } from '../shared/charts.js';
import { el, messageLine } from '../shared/components.js';

function today() {
  const d = new Date();
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 10);
}

function table(model, id) {
  return el(
    'table',
    { class: 'pf-small-table', id },
    el('thead', {}, el('tr', {}, ...model.header.map((h) => el('th', { scope: 'col', text: h })))),
    el('tbody', {}, ...model.rows.map((r) => el('tr', {}, ...r.map((c) => el('td', { text: c }))))),
  );
}

export async function renderReports(ctx, root) {
  const { t } = ctx;
  const msg = messageLine('pf-report-msg');
  const period = el(
    'select',
    { name: 'period' },
    ...['day', 'week', 'month'].map((p) => el('option', { value: p, text: t(`reports.${p}`) })),
  );
  const date = el('input', { type: 'date', name: 'date', value: today(), required: true });
  const form = el(
    'form',
    { id: 'pf-report-form', class: 'pf-filters' },
    el('label', {}, `${t('reports.period')} `, period),
    el('label', {}, `${t('reports.date')} `, date),
    el('button', { type: 'submit', text: t('reports.show') }),
    el('button', {
      type: 'button',
      'data-export': 'csv',
      text: t('reports.csv'),
      onclick: () => void exportAs('csv'),
    }),
    el('button', {
      type: 'button',
      'data-export': 'xlsx',
      text: t('reports.xlsx'),
      onclick: () => void exportAs('xlsx'),
    }),
    el('button', { type: 'button', text: t('reports.print'), onclick: () => window.print() }),
  );
  const report = el('article', { id: 'pf-report', class: 'pf-report' });
  const files = el('ul', { id: 'pf-report-files', class: 'pf-history' });
  const schedule = el('p', { class: 'pf-muted' });
  const query = (format) =>
    `/workbench/report?period=${period.value}&date=${date.value}&lang=${ctx.lang}&utcOffsetMin=${-new Date().getTimezoneOffset()}&format=${format}`;

  async function exportAs(format) {
    const result = await ctx.api.download(
      query(format),
      `report-${date.value}-${period.value}.${format}`,
    );
    if (result.ok) msg.show(t('reports.exported'), 'ok');
    else msg.show(t('reports.failed', { message: ctx.errorText(result) }), 'error');
  }

  async function show() {
    const result = await ctx.api.request('GET', query('json'));
    if (!result.ok)
      return msg.show(t('reports.failed', { message: ctx.errorText(result) }), 'error');
    msg.clear();
    const { model, indicators } = result.data;
    const chart = el('div', { class: 'pf-chart pf-chart--small' });
    report.dataset.from = String(indicators.from);
    report.dataset.to = String(indicators.to);
    report.replaceChildren(
      el('h2', { text: model.title }),
      el(
        'dl',
        { class: 'pf-facts' },
        ...model.meta.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })]),
      ),
      table(model.summary, 'pf-report-summary'),
      el('h3', { text: model.perDay.header[0] ? t('ind.alarmsPerDay') : '' }),
      chart,
      table(model.perDay, 'pf-report-per-day'),
      el('h3', { text: t('ranking.title') }),
      table(model.top, 'pf-report-top'),
      el('h3', { text: t('detail.alarms') }),
      el('div', { class: 'pf-scroll' }, table(model.alarms, 'pf-report-alarms')),
    );
    perDayChart(chart, indicators.alarmsPerDay, t);
  }
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void show();
  });

  async function refresh() {
    const list = await ctx.api.getJson('/workbench/reports');
    schedule.textContent =
      list.hour >= 0 ? t('reports.scheduleAt', { hour: list.hour }) : t('reports.scheduleOff');
    files.replaceChildren(
      ...(list.files.length
        ? list.files.map((f) =>
            el(
              'li',
              {},
              el('a', {
                href: '#/reports',
                text: `${f.day} · ${f.format.toUpperCase()} · ${f.username}`,
                onclick: (ev) => {
                  ev.preventDefault();
                  void ctx.api.download(`/workbench/reports/${encodeURIComponent(f.name)}`, f.name);
                },
              }),
            ),
          )
        : [el('li', { class: 'pf-muted', text: t('reports.none') })]),
    );
  }

  root.append(
    el(
      'section',
      { class: 'pf-panel' },
      el('h2', { text: t('reports.title') }),
      form,
      msg.node,
      report,
    ),
    el(
      'section',
      { class: 'pf-panel pf-no-print' },
      el('h2', { text: t('reports.scheduled') }),
      schedule,
      files,
    ),
  );
  await Promise.all([show(), refresh()]);
  return refresh;
}
