/**
 * One alarm: what, where and when; its trend around the alarm time; its disposal steps and the
 * measures recorded; its emergency notifications; and separate labelled forms for acknowledge,
 * assign, measures and close, each asking for confirmation and showing what happened (a 409
 * becomes a sentence, never an uncaught error). Closing an alarm still in alarm needs the
 * override box and a reason (recorded in the ledger by the server).
 *
 * Hooks: #pf-alarm[data-alarm-id][data-status][data-state]; #pf-alarm-trend[data-chart=trend];
 * #pf-steps li[data-action]; #pf-measures li; #pf-notifications li;
 * form[data-form=acknowledge|assign|measure|close] with .pf-msg inside each.
 */

import { formatNumber } from '../format.js';
import { trendChart } from '../shared/charts.js';
import {
  confirmAction,
  el,
  fmtTime,
  fmtValue,
  gasName,
  messageLine,
  rangePicker,
} from '../shared/components.js';

const AROUND_MS = 30 * 60_000; // the trend shows 30 min before the alarm and after its end

function stepText(ctx, step) {
  const { t } = ctx;
  const d = step.detail ?? {};
  const parts = [
    fmtTime(step.at),
    t(`step.${step.action}`),
    step.actor === 'system' ? t('actor.system') : step.actor,
  ];
  if (typeof d.note === 'string') parts.push(t('step.note', { text: d.note }));
  if (typeof d.assignee === 'string') parts.push(t('step.assignee', { text: d.assignee }));
  if (typeof d.measure === 'string') parts.push(d.measure);
  if (step.action === 'escalated')
    parts.push(
      t('step.escalatedTo', { to: t(`esc.${d.to}`), reason: t(`esc.reason.${d.reason}`) }),
    );
  return parts.join(' · ');
}

export async function renderAlarm(ctx, root, key) {
  const { t } = ctx;
  const path = [key.enterpriseId, key.gatewayId, key.alarmId].map(encodeURIComponent).join('/');
  const first = await ctx.api.request('GET', `/workbench/alarms/${path}`);
  if (!first.ok) {
    root.replaceChildren(
      el('section', { class: 'pf-panel' }, el('p', { role: 'alert', text: ctx.errorText(first) })),
    );
    return async () => {};
  }
  let data = first.data;
  const ranking = await ctx.api.getJson('/workbench/ranking');
  const ent = ranking.enterprises.find((e) => e.id === key.enterpriseId);
  const section = el('section', {
    class: 'pf-panel',
    id: 'pf-alarm',
    'data-alarm-id': key.alarmId,
  });
  const facts = el('dl', { class: 'pf-facts' });
  const steps = el('ol', { id: 'pf-steps', class: 'pf-history' });
  const measures = el('ul', { id: 'pf-measures', class: 'pf-history' });
  const notifications = el('ul', { id: 'pf-notifications', class: 'pf-history' });
  const trendBox = el('div', { class: 'pf-chart', id: 'pf-alarm-trend' });
  const forms = el('div', { class: 'pf-forms' });
  const heading = el('h2');
  /** Every form's outcome is also said here, above the fold of the forms, so it is never hidden. */
  const pageMsg = messageLine('pf-alarm-msg');

  const around = () => {
    const a = data.alarm;
    const start = Date.parse(a.raisedAt ?? a.clearedAt ?? '') || data.receivedAt;
    const end = a.clearedAt ? Date.parse(a.clearedAt) : Date.now();
    return { from: start - AROUND_MS, to: Math.min(Date.now(), end + AROUND_MS) };
  };
  let range = around();
  const drawTrend = async () => {
    const q = `gatewayId=${encodeURIComponent(key.gatewayId)}&sensorId=${encodeURIComponent(data.alarm.sensorId)}&from=${Math.round(range.from)}&to=${Math.round(range.to)}`;
    const result = await ctx.api.request('GET', `/workbench/trend?${q}`);
    if (!result.ok) trendBox.textContent = t('chart.failed', { message: ctx.errorText(result) });
    else trendChart(trendBox, result.data, t);
  };

  /** One labelled form for one step; `body` returns the request body or null (a message was shown). */
  const stepForm = (name, fields, submitKey, confirmText, send) => {
    const msg = messageLine();
    const form = el(
      'form',
      { 'data-form': name, class: 'pf-form', novalidate: true },
      el('h3', { text: t(`form.${name}.title`) }),
      ...fields,
      el('button', { type: 'submit', text: t(submitKey) }),
      msg.node,
    );
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      msg.clear();
      const prepared = send.prepare(msg);
      if (prepared === null) return;
      if (!(await confirmAction(confirmText(prepared), t))) return;
      const button = form.querySelector('button[type=submit]');
      button.disabled = true;
      try {
        const result = await ctx.api.post(send.url, prepared);
        if (!result.ok) {
          const text = send.error?.(result) ?? ctx.errorText(result);
          msg.show(text, 'error');
          pageMsg.show(text, 'error');
          return;
        }
        msg.show(send.done(prepared), 'ok');
        pageMsg.show(send.done(prepared), 'ok');
        for (const input of form.querySelectorAll('input[type=text], textarea')) input.value = '';
        await refresh();
      } finally {
        button.disabled = false;
      }
    });
    return form;
  };
  const field = (name, labelKey, required) => {
    const input = el('textarea', { name, rows: 2, maxlength: 2000, required });
    return {
      input,
      label: el('label', { class: 'pf-field' }, el('span', { text: t(labelKey) }), input),
    };
  };

  const ackNote = field('note', 'form.acknowledge.note', false);
  const ackForm = stepForm(
    'acknowledge',
    [ackNote.label],
    'form.acknowledge.submit',
    () => t('form.acknowledge.confirm'),
    {
      url: `/alarms/${path}/acknowledge`,
      prepare: () => (ackNote.input.value.trim() ? { note: ackNote.input.value.trim() } : {}),
      done: () => t('form.acknowledge.done'),
    },
  );
  const assignee = field('assignee', 'form.assign.label', true);
  const assignForm = stepForm(
    'assign',
    [assignee.label],
    'form.assign.submit',
    (b) => t('form.assign.confirm', { name: b.assignee }),
    {
      url: `/alarms/${path}/assign`,
      prepare: (msg) => {
        const v = assignee.input.value.trim();
        if (!v) {
          msg.show(t('form.required', { field: t('form.assign.label') }), 'error');
          assignee.input.focus();
          return null;
        }
        return { assignee: v };
      },
      done: (b) => t('form.assign.done', { name: b.assignee }),
    },
  );
  const measure = field('measure', 'form.measure.label', true);
  const measureForm = stepForm(
    'measure',
    [measure.label],
    'form.measure.submit',
    () => t('form.measure.confirm'),
    {
      url: `/alarms/${path}/measures`,
      prepare: (msg) => {
        const v = measure.input.value.trim();
        if (!v) {
          msg.show(t('form.required', { field: t('form.measure.label') }), 'error');
          measure.input.focus();
          return null;
        }
        return { measure: v };
      },
      done: () => t('form.measure.done'),
    },
  );
  const closeNote = field('note', 'form.close.label', true);
  const overrideBox = el('input', { type: 'checkbox', name: 'override' });
  const overrideReason = field('override', 'form.close.overrideReason', false);
  const overrideRow = el(
    'div',
    { class: 'pf-override' },
    el('p', { class: 'pf-warning', text: t('form.close.stillActive') }),
    el('label', {}, overrideBox, ` ${t('form.close.override')}`),
    overrideReason.label,
  );
  const closeForm = stepForm(
    'close',
    [closeNote.label, overrideRow],
    'form.close.submit',
    () => t('form.close.confirm'),
    {
      url: `/workbench/alarms/${path}/close`,
      prepare: (msg) => {
        const note = closeNote.input.value.trim();
        if (data.disposition.status !== 'acknowledged') {
          msg.show(t('form.close.needAck'), 'error');
          return null;
        }
        if (!note) {
          msg.show(t('form.required', { field: t('form.close.label') }), 'error');
          closeNote.input.focus();
          return null;
        }
        if (data.alarm.state === 'active') {
          const reason = overrideReason.input.value.trim();
          if (!overrideBox.checked || !reason) {
            msg.show(t('form.close.stillActive'), 'error');
            return null;
          }
          return { note, override: reason };
        }
        return { note };
      },
      error: (result) =>
        result.status === 409 && data.alarm.state === 'active' ? t('form.close.stillActive') : null,
      done: () => t('form.close.done'),
    },
  );

  root.replaceChildren(
    el(
      'div',
      {},
      el(
        'p',
        {},
        el('a', { href: '#/alarms', text: t('alarmView.back') }),
        ' · ',
        el('a', {
          href: `#/enterprise/${encodeURIComponent(key.enterpriseId)}`,
          text: t('alarmView.openEnterprise'),
        }),
      ),
      section,
    ),
  );
  section.append(
    heading,
    pageMsg.node,
    facts,
    el('h3', { text: t('alarmView.trend') }),
    rangePicker({
      t,
      initial: '',
      onChange: (r) => {
        range = r;
        void drawTrend();
      },
    }),
    trendBox,
    el(
      'div',
      { class: 'pf-columns' },
      el(
        'div',
        {},
        el('h3', { text: t('alarmView.steps') }),
        steps,
        el('h3', { text: t('alarmView.measures') }),
        measures,
        el('h3', { text: t('alarmView.notifications') }),
        notifications,
      ),
      forms,
    ),
  );

  function render() {
    const a = data.alarm;
    const d = data.disposition;
    section.dataset.status = d.status;
    section.dataset.state = a.state;
    section.dataset.escalation = String(d.escalationLevel);
    heading.textContent = `${t('alarmView.title')} · ${t(`alarm.level.${a.level}`)} · ${t(`alarm.state.${a.state}`)} · ${t(`status.${d.status}`)} · ${t(`escalation.${d.escalationLevel}`)}`;
    const row = (k, v) => [el('dt', { text: t(k) }), el('dd', { text: v })];
    facts.replaceChildren(
      ...row('alarmView.enterprise', ent ? ctx.name(ent) : a.enterpriseId),
      ...row('alarmView.point', `${a.sensorName ?? a.sensorId} (${a.sensorId})`),
      ...row('alarmView.location', a.location ?? '—'),
      ...row('alarmView.gas', gasName(a.gas, t)),
      ...row('alarmView.value', fmtValue(a.value, a.unit, t)),
      ...row('alarmView.setpoint', `${formatNumber(a.setpoint)} ${a.unit}`),
      ...row('alarmView.raised', fmtTime(a.raisedAt)),
      ...row('alarmView.cleared', fmtTime(a.clearedAt)),
      ...row('alarmView.received', fmtTime(data.receivedAt)),
      ...row('alarmView.drill', t(`bool.${a.drill}`)),
    );
    steps.replaceChildren(
      ...data.steps.map((s) => el('li', { 'data-action': s.action, text: stepText(ctx, s) })),
    );
    const recorded = data.steps.filter((s) => s.action === 'measure');
    measures.replaceChildren(
      ...(recorded.length
        ? recorded.map((s) =>
            el('li', { text: `${fmtTime(s.at)} · ${s.actor} · ${s.detail.measure}` }),
          )
        : [el('li', { class: 'pf-muted', text: t('alarmView.noMeasures') })]),
    );
    notifications.replaceChildren(
      ...(data.notifications.length
        ? data.notifications.map((n) =>
            el('li', {
              'data-channel': n.channel,
              text: `${t(`notify.${n.channel}`)} · ${n.centre} · ${t(`notify.${n.state}`)} · ${t('notify.attempts', { n: n.attempts })} · ${fmtTime(n.deliveredAt ?? n.createdAt)}`,
            }),
          )
        : [el('li', { class: 'pf-muted', text: t('alarmView.noNotifications') })]),
    );
    overrideRow.hidden = a.state !== 'active';
    if (!ctx.canDispose())
      forms.replaceChildren(el('p', { class: 'pf-muted', text: t('form.readonly') }));
    else if (d.status === 'closed') forms.replaceChildren(el('p', { text: t('form.closed') }));
    else {
      // Keep the forms (and anything typed) in place; show only the ones that apply.
      if (forms.childElementCount === 0 || !forms.contains(assignForm))
        forms.replaceChildren(ackForm, assignForm, measureForm, closeForm);
      ackForm.hidden = d.status !== 'open';
    }
  }

  async function refresh() {
    const result = await ctx.api.request('GET', `/workbench/alarms/${path}`);
    if (!result.ok) return;
    data = result.data;
    render();
  }
  render();
  await drawTrend();
  return refresh;
}
