/**
 * The hazard ledger (隐患台账, issue 16): the list with filters (status, kind, severity,
 * enterprise; in the URL, #/hazards?...), and one hazard (#/hazard/<id>): its standard item,
 * evidence, every step of its chain, the listed-supervision badge, and the forms the caller's
 * role may use: an enterprise names the responsible person, plans and records its
 * rectification; a regulator verifies (passed closes, failed sends it back). A general hazard
 * may also be verified by the enterprise itself (server/api/supervision-routes.ts decides;
 * a refusal is shown as a sentence).
 *
 * Hooks: #pf-hazard-form; #pf-hazards tbody tr[data-hazard-id][data-status][data-severity]
 * [data-kind][data-listing]; .pf-listed[data-listing]; #pf-hazard[data-hazard-id][data-status]
 * [data-listing]; #pf-hazard-evidence li; #pf-hazard-steps li[data-action];
 * form[data-form=hazard-assign|hazard-plan|hazard-rectify|hazard-verify] with .pf-msg inside;
 * #pf-hazard-msg.
 */
import { confirmAction, el, fmtTime, messageLine } from '../shared/components.js';

function params() {
  return new URLSearchParams(location.hash.split('?')[1] ?? '');
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

/** A key's text in the page's language, or `fallback` when the dictionary has none. */
function known(t, key, fallback) {
  const text = t(key);
  return text === key ? fallback : text;
}

/** The hazard's title: the rule's own words in the page's language, else as recorded. */
export function hazardTitle(t, h) {
  return h.ruleId ? known(t, `hz.rule.${h.ruleId}`, h.title) : h.title;
}

function itemText(t, h) {
  const { item } = h;
  const number = item.number ? ` ${t('hz.item.number', { n: item.number })}` : '';
  const text = h.ruleId ? known(t, `hz.item.${h.ruleId}`, item.text) : item.text;
  return `${item.standard}${number}：${text}${item.checked ? '' : ` ${t('hz.unchecked')}`}`;
}

export function listingBadge(t, level) {
  return el('span', {
    class: 'pf-listed',
    'data-listing': String(level),
    text: t(`hz.listing.${level}`),
  });
}

const isOverdue = (h, now) => h.status !== 'closed' && Date.parse(h.deadline) < now;

async function enterpriseNames(ctx) {
  const ranking = await ctx.api.getJson('/workbench/ranking');
  return {
    list: ranking.enterprises,
    names: new Map(ranking.enterprises.map((e) => [e.id, ctx.name(e)])),
  };
}

export async function renderHazards(ctx, root) {
  const { t } = ctx;
  const q = params();
  const { list, names } = await enterpriseNames(ctx);
  const any = t('desk.any');
  const form = el(
    'form',
    { id: 'pf-hazard-form', class: 'pf-filters', 'aria-label': t('hz.filters') },
    select(
      'status',
      t('hz.filter.status'),
      [
        ['', any],
        ...['unclosed', 'open', 'rectifying', 'rectified', 'closed'].map((s) => [
          s,
          t(`hz.status.${s}`),
        ]),
      ],
      q.get('status') ?? '',
    ),
    select(
      'kind',
      t('hz.filter.kind'),
      [
        ['', any],
        ...['accident', 'alarm-management', 'data-quality'].map((k) => [k, t(`hz.kind.${k}`)]),
      ],
      q.get('kind') ?? '',
    ),
    select(
      'severity',
      t('hz.filter.severity'),
      [
        ['', any],
        ['major', t('hz.severity.major')],
        ['general', t('hz.severity.general')],
      ],
      q.get('severity') ?? '',
    ),
    list.length > 1
      ? select(
          'enterpriseId',
          t('hz.filter.enterprise'),
          [['', any], ...list.map((e) => [e.id, ctx.name(e)])],
          q.get('enterpriseId') ?? '',
        )
      : null,
    el('button', { type: 'submit', text: t('hz.apply') }),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const next = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v !== '') next.set(k, String(v));
    ctx.navigate(`#/hazards?${next}`);
  });
  const count = el('p', { class: 'pf-muted', role: 'status' });
  const tbody = el('tbody');
  const columns = [
    'opened',
    'enterprise',
    'title',
    'item',
    'kind',
    'severity',
    'status',
    'deadline',
    'listing',
  ];
  root.append(
    el(
      'section',
      { class: 'pf-panel', id: 'pf-hazards-panel' },
      el('h2', { text: t(`hz.title.${ctx.user.role}`) }),
      form,
      count,
      el(
        'div',
        { class: 'pf-scroll' },
        el(
          'table',
          { id: 'pf-hazards', class: 'pf-small-table' },
          el(
            'thead',
            {},
            el('tr', {}, ...columns.map((c) => el('th', { scope: 'col', text: t(`hz.col.${c}`) }))),
          ),
          tbody,
        ),
      ),
    ),
  );

  async function refresh() {
    const query = new URLSearchParams();
    for (const key of ['status', 'kind', 'severity', 'enterpriseId']) {
      const v = params().get(key);
      if (v) query.set(key, v);
    }
    const { hazards } = await ctx.api.getJson(`/supervision/hazards?${query}`);
    const now = Date.now();
    count.textContent = t('hz.count', { n: hazards.length });
    tbody.replaceChildren(
      ...(hazards.length === 0
        ? [el('tr', {}, el('td', { colspan: columns.length, text: t('hz.none') }))]
        : hazards.map((h) =>
            el(
              'tr',
              {
                'data-hazard-id': h.hazardId,
                'data-status': h.status,
                'data-severity': h.severity,
                'data-kind': h.kind,
                'data-listing': String(h.listingLevel ?? 0),
                class: h.severity === 'major' ? 'pf-major' : null,
              },
              el(
                'td',
                {},
                el('a', {
                  href: `#/hazard/${encodeURIComponent(h.hazardId)}`,
                  text: fmtTime(h.openedAt),
                }),
              ),
              el('td', { text: names.get(h.enterpriseId) ?? h.enterpriseId }),
              el('td', { text: hazardTitle(t, h) }),
              el('td', {
                text: h.item.number ? `${t('hz.item.number', { n: h.item.number })}` : '—',
              }),
              el('td', { text: t(`hz.kind.${h.kind}`) }),
              el('td', { text: t(`hz.severity.${h.severity}`) }),
              el('td', { text: t(`hz.status.${h.status}`) }),
              el(
                'td',
                {},
                fmtTime(h.deadline),
                isOverdue(h, now)
                  ? el('span', { class: 'pf-overdue', text: ` ${t('hz.overdue')}` })
                  : null,
              ),
              el('td', {}, h.listingLevel > 0 ? listingBadge(t, h.listingLevel) : '—'),
            ),
          )),
    );
  }
  await refresh();
  return refresh;
}

/**
 * Evidence as "key: value" lines, exactly as recorded by the screening rule or the person (the
 * keys are the rule's field names: data, not page text, so they are not translated).
 */
function detailLines(detail) {
  const lines = [];
  for (const [k, v] of Object.entries(detail ?? {})) {
    if (v === null || v === undefined || k === 'item' || k === 'title' || k === 'kind') continue;
    if (k === 'severity' || k === 'source' || k === 'ruleId' || k === 'subject') continue;
    lines.push(`${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
  }
  return lines;
}

export async function renderHazard(ctx, root, hazardId) {
  const { t } = ctx;
  const path = `/supervision/hazards/${encodeURIComponent(hazardId)}`;
  const first = await ctx.api.request('GET', path);
  if (!first.ok) {
    root.replaceChildren(
      el('section', { class: 'pf-panel' }, el('p', { role: 'alert', text: ctx.errorText(first) })),
    );
    return async () => {};
  }
  let data = first.data;
  const { names } = await enterpriseNames(ctx);
  const section = el('section', { class: 'pf-panel', id: 'pf-hazard', 'data-hazard-id': hazardId });
  const heading = el('h2');
  const badge = el('p');
  const facts = el('dl', { class: 'pf-facts' });
  const evidence = el('ul', { id: 'pf-hazard-evidence', class: 'pf-history' });
  const steps = el('ol', { id: 'pf-hazard-steps', class: 'pf-history' });
  const forms = el('div', { class: 'pf-forms' });
  const pageMsg = messageLine('pf-hazard-msg');

  /** One labelled form for one step: fields, confirmation, the outcome said in the form and at the top. */
  const stepForm = (name, fields, prepare, confirmText, doneText) => {
    const msg = messageLine();
    const form = el(
      'form',
      { 'data-form': `hazard-${name}`, class: 'pf-form', novalidate: true },
      el('h3', { text: t(`hz.form.${name}.title`) }),
      ...fields,
      el('button', { type: 'submit', text: t(`hz.form.${name}.submit`) }),
      msg.node,
    );
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      msg.clear();
      const body = prepare(form, msg);
      if (body === null) return;
      if (!(await confirmAction(confirmText(body), t))) return;
      const button = form.querySelector('button[type=submit]');
      button.disabled = true;
      try {
        const result = await ctx.api.post(`${path}/${name}`, body);
        if (!result.ok) {
          msg.show(ctx.errorText(result), 'error');
          pageMsg.show(ctx.errorText(result), 'error');
          return;
        }
        msg.show(doneText(body), 'ok');
        pageMsg.show(doneText(body), 'ok');
        await refresh();
      } finally {
        button.disabled = false;
      }
    });
    return form;
  };
  const field = (name, labelKey, { tag, ...attrs } = {}) =>
    el(
      'label',
      {},
      t(labelKey),
      ' ',
      tag === 'input'
        ? el('input', { name, ...attrs })
        : el('textarea', { name, rows: 3, maxlength: 2000, ...attrs }),
    );
  const required = (form, msg, name, labelKey) => {
    const v = form.elements.namedItem(name).value.trim();
    if (!v) msg.show(t('form.required', { field: t(labelKey) }), 'error');
    return v || null;
  };

  /** What the forms shown depend on; a live refresh that leaves it unchanged keeps them. */
  let formsFor = '';

  function drawForms(h) {
    // A refresh (any live event) must not rebuild the forms under someone typing into them:
    // the text and a pending confirmation would be lost. They change only with the hazard's
    // status or severity (who may do what next).
    const key = `${h.status}|${h.severity}`;
    if (key === formsFor) return;
    formsFor = key;
    const role = ctx.user.role;
    const enterpriseSteps = role === 'enterprise' || role === 'admin';
    const mayVerify =
      role === 'regulator' ||
      role === 'admin' ||
      (role === 'enterprise' && h.severity === 'general');
    const parts = [];
    if (h.status === 'closed')
      parts.push(el('p', { class: 'pf-muted', text: t('hz.form.closed') }));
    else if (!enterpriseSteps && !mayVerify)
      parts.push(el('p', { class: 'pf-muted', text: t('hz.form.readonly') }));
    else {
      if (enterpriseSteps && h.status !== 'rectified') {
        parts.push(
          stepForm(
            'assign',
            [field('responsible', 'hz.form.assign.label', { tag: 'input', maxlength: 200 })],
            (form, msg) => {
              const v = required(form, msg, 'responsible', 'hz.form.assign.label');
              return v ? { responsible: v } : null;
            },
            (b) => t('hz.form.assign.confirm', { name: b.responsible }),
            (b) => t('hz.form.assign.done', { name: b.responsible }),
          ),
          stepForm(
            'plan',
            [
              field('plan', 'hz.form.plan.label'),
              field('deadline', 'hz.form.plan.deadline', { tag: 'input', type: 'datetime-local' }),
            ],
            (form, msg) => {
              const plan = required(form, msg, 'plan', 'hz.form.plan.label');
              if (!plan) return null;
              const deadline = Date.parse(form.elements.namedItem('deadline').value);
              if (!Number.isFinite(deadline)) {
                msg.show(t('form.required', { field: t('hz.form.plan.deadline') }), 'error');
                return null;
              }
              return { plan, deadline: new Date(deadline).toISOString() };
            },
            () => t('hz.form.plan.confirm'),
            () => t('hz.form.plan.done'),
          ),
          stepForm(
            'rectify',
            [field('evidence', 'hz.form.rectify.label')],
            (form, msg) => {
              const v = required(form, msg, 'evidence', 'hz.form.rectify.label');
              return v ? { evidence: v } : null;
            },
            () => t('hz.form.rectify.confirm'),
            () => t('hz.form.rectify.done'),
          ),
        );
      }
      if (h.status === 'rectified' && mayVerify) {
        parts.push(
          stepForm(
            'verify',
            [
              select('outcome', t('hz.form.verify.outcome'), [
                ['passed', t('hz.outcome.passed')],
                ['failed', t('hz.outcome.failed')],
              ]),
              field('note', 'hz.form.verify.label'),
            ],
            (form, msg) => {
              const note = required(form, msg, 'note', 'hz.form.verify.label');
              return note ? { outcome: form.elements.namedItem('outcome').value, note } : null;
            },
            (b) => t('hz.form.verify.confirm', { outcome: t(`hz.outcome.${b.outcome}`) }),
            (b) => t('hz.form.verify.done', { outcome: t(`hz.outcome.${b.outcome}`) }),
          ),
        );
      } else if (h.status === 'rectified') {
        parts.push(el('p', { class: 'pf-muted', text: t('hz.form.awaitVerify') }));
      } else if (!enterpriseSteps) {
        parts.push(el('p', { class: 'pf-muted', text: t('hz.form.awaitRectify') }));
      }
    }
    forms.replaceChildren(...parts);
  }

  function draw() {
    const h = data.hazard;
    section.dataset.status = h.status;
    section.dataset.listing = String(h.listingLevel ?? 0);
    heading.textContent = `${hazardTitle(t, h)} · ${t(`hz.severity.${h.severity}`)} · ${t(`hz.status.${h.status}`)}`;
    badge.replaceChildren(
      h.listingLevel > 0 ? listingBadge(t, h.listingLevel) : '',
      isOverdue(h, Date.now())
        ? el('span', { class: 'pf-overdue', text: ` ${t('hz.overdue')}` })
        : '',
    );
    const condition =
      h.source !== 'screening'
        ? t('hz.condition.manual')
        : h.conditionActive
          ? t('hz.condition.active')
          : t('hz.condition.cleared', { time: fmtTime(h.conditionClearedAt) });
    const rows = [
      ['enterprise', names.get(h.enterpriseId) ?? h.enterpriseId],
      ['installation', h.installationId ?? '—'],
      ['item', itemText(t, h)],
      ['kind', t(`hz.kind.${h.kind}`)],
      ['severity', t(`hz.severity.${h.severity}`)],
      [
        'source',
        `${t(`hz.source.${h.source}`)} · ${h.foundBy === 'system' ? t('hz.actor.system') : h.foundBy} · ${fmtTime(h.openedAt)}`,
      ],
      ['subject', h.subject ?? '—'],
      ['condition', condition],
      ['responsible', h.responsible ?? '—'],
      ['plan', h.plan ?? '—'],
      ['deadline', fmtTime(h.deadline)],
      [
        'rectification',
        h.rectificationEvidence
          ? `${h.rectificationEvidence} · ${h.rectifiedBy} · ${fmtTime(h.rectifiedAt)}`
          : '—',
      ],
      [
        'verification',
        h.verification ? `${h.verification} · ${h.verifiedBy} · ${fmtTime(h.verifiedAt)}` : '—',
      ],
      ['listing', t(`hz.listing.${h.listingLevel ?? 0}`)],
    ];
    facts.replaceChildren(
      ...rows.flatMap(([k, v]) => [
        el('dt', { text: t(`hz.facts.${k}`) }),
        el('dd', { 'data-fact': k, text: v }),
      ]),
    );
    const evidenceSteps = data.events.filter((e) =>
      ['opened', 'evidence', 'condition-cleared', 'condition-returned'].includes(e.action),
    );
    evidence.replaceChildren(
      ...evidenceSteps.map((e) => {
        const ev = e.action === 'opened' ? e.detail?.evidence : e.detail;
        return el(
          'li',
          { 'data-action': e.action },
          `${fmtTime(e.at)} · ${t(`hz.step.${e.action}`)}`,
          ...detailLines(ev).map((line) => el('code', { class: 'pf-evidence', text: line })),
        );
      }),
    );
    steps.replaceChildren(
      ...data.events.map((e) => {
        const d = e.detail ?? {};
        const parts = [
          fmtTime(e.at),
          t(`hz.step.${e.action}`),
          e.actor === 'system' ? t('hz.actor.system') : e.actor,
        ];
        if (typeof d.responsible === 'string') parts.push(d.responsible);
        if (typeof d.plan === 'string') parts.push(d.plan);
        if (e.action === 'rectified' && typeof d.evidence === 'string') parts.push(d.evidence);
        if (e.action === 'verified') parts.push(t(`hz.outcome.${d.outcome}`), String(d.note ?? ''));
        if (e.action === 'listed') parts.push(t(`hz.listing.${d.level}`));
        return el('li', { 'data-action': e.action, 'data-seq': e.seq, text: parts.join(' · ') });
      }),
    );
    drawForms(h);
  }

  async function refresh() {
    const result = await ctx.api.request('GET', path);
    if (!result.ok) return pageMsg.show(ctx.errorText(result), 'error');
    data = result.data;
    draw();
  }

  section.append(
    el('p', {}, el('a', { href: '#/hazards', text: t('hz.back') })),
    heading,
    badge,
    pageMsg.node,
    facts,
    el('h3', { text: t('hz.evidence') }),
    evidence,
    el('h3', { text: t('hz.steps') }),
    steps,
    forms,
  );
  root.append(section);
  draw();
  return refresh;
}
