/**
 * Small DOM parts shared by the workbench views: element builder (text only, never HTML),
 * risk badge, message line, confirmation dialog, time-range picker, pager. Every visible word
 * comes from the caller's `t` (translate) function.
 */
import { formatLocalDateTime, formatNumber, formatValue, NO_VALUE } from '../format.js';

/**
 * @param {string} tag
 * @param {Record<string, any>} [attrs] `text` sets textContent; `on<event>` adds a listener
 * @param {...(Node|string|null|undefined|false)} children
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') node.textContent = String(v);
    else if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return node;
}

/** One date format everywhere: local time, YYYY-MM-DD HH:mm:ss. */
export function fmtTime(time) {
  return formatLocalDateTime(time);
}

/** A value with its unit, rounded for reading (format.js), booleans as words. */
export function fmtValue(value, unit, t) {
  if (value === null || value === undefined) return NO_VALUE;
  const text = formatValue(value, { on: t('bool.true'), off: t('bool.false') });
  return unit && typeof value === 'number' ? `${text} ${unit}` : text;
}

export function fmtNumber(value) {
  return formatNumber(value);
}

/** A rate as a percentage with one decimal, or — when nothing was due. */
export function fmtRate(rate) {
  return rate === null || rate === undefined ? NO_VALUE : `${(rate * 100).toFixed(1)} %`;
}

/** A gas by its table name in the page's language; an unknown one as configured. */
export function gasName(gas, t) {
  if (!gas) return NO_VALUE;
  const key = `gas.${String(gas).toLowerCase()}`;
  const text = t(key);
  return text === key ? gas : text;
}

export function riskBadge(colour, t) {
  return el('span', { class: 'pf-risk', 'data-colour': colour, text: t(`colour.${colour}`) });
}

/** A line that says what happened (role=alert for errors, status otherwise). */
export function messageLine(id) {
  const node = el('p', { class: 'pf-msg', role: 'status', id });
  return {
    node,
    /** @param {string} text @param {'ok'|'error'|'info'} [kind] */
    show(text, kind = 'info') {
      node.setAttribute('role', kind === 'error' ? 'alert' : 'status');
      node.dataset.kind = kind;
      node.textContent = text;
    },
    clear() {
      node.textContent = '';
      delete node.dataset.kind;
    },
  };
}

/**
 * Asks for confirmation in a modal dialog (#pf-confirm); resolves true on confirm.
 * @param {string} question
 * @param {(key: string) => string} t
 * @returns {Promise<boolean>}
 */
export function confirmAction(question, t) {
  document.getElementById('pf-confirm')?.remove();
  return new Promise((resolve) => {
    const done = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    const dialog = el(
      'dialog',
      { id: 'pf-confirm', class: 'pf-dialog', 'aria-labelledby': 'pf-confirm-text' },
      el('p', { id: 'pf-confirm-text', text: question }),
      el(
        'div',
        { class: 'pf-actions' },
        el('button', {
          type: 'button',
          'data-confirm': 'yes',
          text: t('confirm.yes'),
          onclick: () => done(true),
        }),
        el('button', {
          type: 'button',
          'data-confirm': 'no',
          text: t('confirm.no'),
          onclick: () => done(false),
        }),
      ),
    );
    dialog.addEventListener('cancel', () => done(false));
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** Ranges offered for every trend; `custom` opens two date-time fields. */
export const RANGES = Object.freeze({
  '1h': 3_600_000,
  '24h': 86_400_000,
  '7d': 604_800_000,
  '30d': 2_592_000_000,
});

function toInputValue(ms) {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

/**
 * Time-range picker: 1 h, 24 h, 7 d, 30 d, custom. Calls onChange({ from, to, key }).
 * @param {{ t: (k: string) => string, initial?: string, onChange: (r: { from: number, to: number, key: string }) => void, now?: () => number }} o
 */
export function rangePicker(o) {
  const now = o.now ?? (() => Date.now());
  let active = o.initial ?? '1h';
  const from = el('input', { type: 'datetime-local', 'aria-label': o.t('range.from') });
  const to = el('input', { type: 'datetime-local', 'aria-label': o.t('range.to') });
  const custom = el(
    'span',
    { class: 'pf-range-custom', hidden: true },
    el('label', {}, o.t('range.from'), ' ', from),
    el('label', {}, o.t('range.to'), ' ', to),
    el('button', {
      type: 'button',
      text: o.t('range.apply'),
      onclick: () => {
        const f = Date.parse(from.value);
        const tt = Date.parse(to.value);
        if (Number.isFinite(f) && Number.isFinite(tt) && f < tt)
          o.onChange({ from: f, to: tt, key: 'custom' });
      },
    }),
  );
  const buttons = ['1h', '24h', '7d', '30d', 'custom'].map((key) =>
    el('button', {
      type: 'button',
      'data-range': key,
      'aria-pressed': String(key === active),
      text: o.t(`range.${key}`),
      onclick: () => {
        active = key;
        for (const b of buttons) b.setAttribute('aria-pressed', String(b.dataset.range === key));
        custom.hidden = key !== 'custom';
        if (key === 'custom') {
          const end = now();
          to.value = toInputValue(end);
          from.value = toInputValue(end - RANGES['24h']);
          return;
        }
        const end = now();
        o.onChange({ from: end - RANGES[key], to: end, key });
      },
    }),
  );
  return el(
    'div',
    { class: 'pf-range', role: 'group', 'aria-label': o.t('range.label') },
    ...buttons,
    custom,
  );
}

/** Previous / next page with "page n of m". */
export function pager({ t, page, pageSize, total, onPage }) {
  const pages = Math.max(1, Math.ceil(total / pageSize));
  return el(
    'div',
    { class: 'pf-pager' },
    el('button', {
      type: 'button',
      'data-page': 'prev',
      disabled: page <= 1,
      text: t('pager.prev'),
      onclick: () => onPage(page - 1),
    }),
    el('span', { text: t('pager.of', { page, pages, total }) }),
    el('button', {
      type: 'button',
      'data-page': 'next',
      disabled: page >= pages,
      text: t('pager.next'),
      onclick: () => onPage(page + 1),
    }),
  );
}

/** An indicator card: label, value, and its definition underneath. */
export function indicatorCard(id, label, value, definition) {
  return el(
    'div',
    { class: 'pf-indicator', 'data-indicator': id },
    el('div', { class: 'pf-indicator__label', text: label }),
    el('div', { class: 'pf-indicator__value', text: value }),
    el('p', { class: 'pf-indicator__def', text: definition }),
  );
}
