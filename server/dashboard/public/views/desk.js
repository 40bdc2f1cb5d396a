/**
 * The alarm desk: filter (level, alarm state, disposal state, enterprise, received time), sort
 * (escalated and level 2 first, or newest), paging, bulk acknowledgement with one note; a row
 * opens the alarm. Filters live in the URL (#/alarms?...) so a link shows the same list.
 *
 * Hooks: #pf-desk-form; #pf-desk tbody tr[data-alarm-id][data-alarm-level][data-status]
 * [data-escalation]; input[data-select]; #pf-bulk-ack; #pf-desk-msg.
 */
import { confirmAction, el, fmtTime, fmtValue, messageLine, pager } from '../shared/components.js';
import { alarmHash } from './enterprise.js';

function params() {
  const q = location.hash.split('?')[1] ?? '';
  return new URLSearchParams(q);
}

function select(name, label, options, value) {
  return el(
    'label',
    {},
    `${label} `,
    el(
      'select',
      { name },
      ...options.map(([v, text]) => el('option', { value: v, selected: v === value, text })),
    ),
  );
}

export async function renderDesk(ctx, root) {
  const { t } = ctx;
  const q = params();
  const ranking = await ctx.api.getJson('/workbench/ranking');
  const names = new Map(ranking.enterprises.map((e) => [e.id, ctx.name(e)]));
  const any = t('desk.any');
  const toLocalInput = (v) =>
    v
      ? new Date(Number(v) - new Date(Number(v)).getTimezoneOffset() * 60_000)
          .toISOString()
          .slice(0, 16)
      : '';
  const form = el(
    'form',
    { id: 'pf-desk-form', class: 'pf-filters', 'aria-label': t('desk.filters') },
    select(
      'level',
      t('desk.filter.level'),
      [
        ['', any],
        ['2', t('alarm.level.2')],
        ['1', t('alarm.level.1')],
      ],
      q.get('level') ?? '',
    ),
    select(
      'state',
      t('desk.filter.state'),
      [
        ['', any],
        ['active', t('alarm.state.active')],
        ['cleared', t('alarm.state.cleared')],
      ],
      q.get('state') ?? '',
    ),
    select(
      'status',
      t('desk.filter.status'),
      [
        ['', any],
        ['unclosed', t('desk.unclosed')],
        ['open', t('status.open')],
        ['acknowledged', t('status.acknowledged')],
        ['closed', t('status.closed')],
      ],
      q.get('status') ?? '',
    ),
    select(
      'enterpriseId',
      t('desk.filter.enterprise'),
      [['', any], ...ranking.enterprises.map((e) => [e.id, ctx.name(e)])],
      q.get('enterpriseId') ?? '',
    ),
    el(
      'label',
      {},
      `${t('desk.filter.from')} `,
      el('input', { type: 'datetime-local', name: 'from', value: toLocalInput(q.get('from')) }),
    ),
    el(
      'label',
      {},
      `${t('desk.filter.to')} `,
      el('input', { type: 'datetime-local', name: 'to', value: toLocalInput(q.get('to')) }),
    ),
    select(
      'sort',
      t('desk.filter.sort'),
      [
        ['priority', t('desk.sort.priority')],
        ['newest', t('desk.sort.newest')],
      ],
      q.get('sort') ?? 'priority',
    ),
    el('button', { type: 'submit', text: t('desk.apply') }),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const next = new URLSearchParams();
    for (const [k, v] of new FormData(form)) {
      if (v === '') continue;
      next.set(k, k === 'from' || k === 'to' ? String(Date.parse(String(v))) : String(v));
    }
    ctx.navigate(`#/alarms?${next}`);
  });
  const msg = messageLine('pf-desk-msg');
  const note = el('input', {
    id: 'pf-bulk-note',
    maxlength: 2000,
    'aria-label': t('desk.bulkNote'),
    placeholder: t('desk.bulkNote'),
  });
  const bulk = el('button', { type: 'button', id: 'pf-bulk-ack', disabled: true });
  const tbody = el('tbody');
  const pagerBox = el('div');
  const selectAll = el('input', { type: 'checkbox', 'aria-label': t('desk.selectAll') });
  const selected = new Set();
  const updateBulk = () => {
    bulk.textContent = t('desk.bulkAck', { n: selected.size });
    bulk.disabled = selected.size === 0;
  };
  const table = el(
    'table',
    { id: 'pf-desk' },
    el(
      'thead',
      {},
      el(
        'tr',
        {},
        el('th', { scope: 'col' }, ctx.canDispose() ? selectAll : ''),
        ...[
          'received',
          'enterprise',
          'point',
          'level',
          'value',
          'state',
          'status',
          'escalation',
        ].map((k) => el('th', { scope: 'col', text: t(`desk.col.${k}`) })),
      ),
    ),
    tbody,
  );
  const bulkBox = ctx.canDispose()
    ? el('div', { class: 'pf-actions' }, note, bulk)
    : el('p', { class: 'pf-muted', text: t('form.readonly') });
  root.append(
    el(
      'section',
      { class: 'pf-panel', id: 'pf-desk-panel' },
      el('h2', { text: t(`desk.title.${ctx.user.role}`) }),
      form,
      bulkBox,
      msg.node,
      el('div', { class: 'pf-scroll' }, table),
      pagerBox,
    ),
  );
  const keyOf = (a) => JSON.stringify([a.enterpriseId, a.gatewayId, a.id]);

  bulk.addEventListener('click', async () => {
    if (selected.size === 0) return;
    if (!(await confirmAction(t('desk.bulkConfirm', { n: selected.size }), t))) return;
    const alarms = [...selected].map((k) => {
      const [enterpriseId, gatewayId, alarmId] = JSON.parse(k);
      return { enterpriseId, gatewayId, alarmId };
    });
    const body = note.value.trim() ? { alarms, note: note.value.trim() } : { alarms };
    const result = await ctx.api.post('/workbench/alarms/acknowledge', body);
    if (!result.ok) return msg.show(ctx.errorText(result), 'error');
    const failed = result.data.results.filter((r) => !r.ok).length;
    msg.show(t('desk.bulkDone', { ok: result.data.acknowledged, failed }), failed ? 'error' : 'ok');
    selected.clear();
    note.value = '';
    await refresh();
  });
  selectAll.addEventListener('change', () => {
    for (const box of tbody.querySelectorAll('input[data-select]')) {
      box.checked = selectAll.checked;
      if (box.checked) selected.add(box.dataset.select);
      else selected.delete(box.dataset.select);
    }
    updateBulk();
  });

  async function refresh() {
    const query = params();
    query.set('pageSize', query.get('pageSize') ?? '20');
    const data = await ctx.api.getJson(`/workbench/alarms?${query}`);
    const page = data.page;
    tbody.replaceChildren(
      ...(data.items.length === 0
        ? [el('tr', {}, el('td', { colspan: 9, text: t('desk.none') }))]
        : data.items.map(({ alarm, disposition }) => {
            const key = keyOf(alarm);
            const status = disposition?.status ?? 'open';
            const box = el('input', {
              type: 'checkbox',
              'data-select': key,
              disabled: status !== 'open',
              checked: selected.has(key),
              'aria-label': t('desk.select', { name: alarm.sensorName ?? alarm.sensorId }),
              onchange: (ev) => {
                if (ev.currentTarget.checked) selected.add(key);
                else selected.delete(key);
                updateBulk();
              },
            });
            return el(
              'tr',
              {
                'data-alarm-id': alarm.id,
                'data-alarm-level': alarm.level,
                'data-status': status,
                'data-state': alarm.state,
                'data-escalation': disposition?.escalationLevel ?? 0,
                'data-drill': alarm.drill ? 'true' : 'false',
              },
              el('td', {}, ctx.canDispose() ? box : ''),
              el(
                'td',
                {},
                el('a', {
                  href: alarmHash(alarm),
                  text: fmtTime(disposition?.openedAt ?? alarm.raisedAt),
                }),
              ),
              el('td', { text: names.get(alarm.enterpriseId) ?? alarm.enterpriseId }),
              el('td', { text: alarm.sensorName ?? alarm.sensorId }),
              el('td', {
                text: `${t(`alarm.level.${alarm.level}`)}${alarm.drill ? ` · ${t('alarm.drill')}` : ''}`,
              }),
              el('td', { text: fmtValue(alarm.value, alarm.unit, t) }),
              el('td', { text: t(`alarm.state.${alarm.state}`) }),
              el('td', { text: t(`status.${status}`) }),
              el('td', {
                class: 'pf-escalation',
                text: t(`escalation.${disposition?.escalationLevel ?? 0}`),
              }),
            );
          })),
    );
    for (const key of [...selected])
      if (!tbody.querySelector(`input[data-select="${CSS.escape(key)}"]`)) selected.delete(key);
    updateBulk();
    pagerBox.replaceChildren(
      pager({
        t,
        page,
        pageSize: data.pageSize,
        total: data.total,
        onPage: (p) => {
          const next = params();
          next.set('page', String(p));
          ctx.navigate(`#/alarms?${next}`);
        },
      }),
    );
  }
  updateBulk();
  await refresh();
  return refresh;
}
