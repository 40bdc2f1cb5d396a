/**
 * The emergency receiver's dispatch console: Simplified Chinese by default, English on request
 * (`?lang=en` or the toggle, remembered in localStorage). One card per notification (no wide
 * table, so a phone never scrolls sideways): enterprise, installation, point, gas, level, value
 * rounded for reading with its unit, setpoint, times (local, YYYY-MM-DD HH:mm:ss), the state the
 * follow-ups reported (in alarm, returned to normal, closed) and a button to confirm receipt.
 * It polls GET /api/v1/notifications every second and renders with textContent only (never
 * innerHTML for data), so a notification cannot inject markup.
 */
export const RECEIVER_PAGE = `<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>应急指挥中心 · 报警接收</title>
<style>
  * { box-sizing: border-box; }
  body { font-family: system-ui, "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; margin: 0; color: #1b1f24; background: #f5f6f8; }
  header { display: flex; flex-wrap: wrap; gap: 0.5rem 1rem; align-items: center; justify-content: space-between; padding: 0.75rem 1rem; background: #fff; border-bottom: 1px solid #d6dae0; }
  h1 { margin: 0; font-size: 1.3rem; }
  #status { color: #5b6470; font-size: 0.9rem; }
  button { font: inherit; padding: 0.3rem 0.8rem; border-radius: 0.4rem; border: 1px solid #9aa3ad; background: #fff; cursor: pointer; }
  main { padding: 0.75rem; display: grid; gap: 0.75rem; max-width: 72rem; margin: 0 auto; }
  .card { background: #fff; border-radius: 0.5rem; border-left: 0.5rem solid #ef8f00; padding: 0.75rem; overflow-wrap: anywhere; }
  .card[data-level="2"] { border-left-color: #c62828; }
  .card[data-status="cleared"], .card[data-status="closed"] { opacity: 0.8; border-left-color: #2e7d32; }
  .head { display: flex; flex-wrap: wrap; gap: 0.4rem; align-items: center; font-weight: bold; font-size: 1.05rem; }
  .badge { display: inline-block; padding: 0 0.45rem; border-radius: 0.3rem; font-weight: bold; color: #fff; font-size: 0.9rem; }
  .l2 { background: #c62828; } .l1 { background: #ef8f00; } .drill { background: #1e63b5; }
  .s-active { background: #c62828; } .s-cleared { background: #2e7d32; } .s-closed { background: #455a64; }
  dl { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 0.2rem 0.75rem; margin: 0.5rem 0; }
  dt { color: #5b6470; } dd { margin: 0; }
  .value { font-size: 1.4rem; font-weight: bold; }
  #empty { color: #5b6470; padding: 1rem; }
  @media (max-width: 30rem) { dl { grid-template-columns: 1fr; } dt { margin-top: 0.3rem; } }
</style>
</head>
<body>
<header>
  <h1 id="title">应急指挥中心 · 报警接收</h1>
  <span id="status" role="status"></span>
  <button id="lang" type="button">English</button>
</header>
<main id="list" aria-live="polite"></main>
<div id="empty">暂无报警。</div>
<script>
  const WORDS = {
    'zh-CN': {
      title: '应急指挥中心 · 报警接收', toggle: 'English', empty: '暂无报警。', count: '共 {n} 条，每秒刷新',
      lost: '与接收服务的连接中断', enterprise: '企业', installation: '装置', point: '测点', location: '位置',
      gas: '气体', value: '测量值', setpoint: '设定值', raised: '报警时间', received: '接收时间',
      cleared: '恢复时间', closed: '关闭时间', closedBy: '关闭人', message: '内容', level1: '一级', level2: '二级',
      drill: '演练', active: '报警中', sCleared: '已恢复正常', sClosed: '处置已关闭', confirm: '确认接警',
      confirmed: '已确认接警 {time}', none: '—'
    },
    en: {
      title: 'Emergency centre · alarm receiver', toggle: '中文', empty: 'No notifications yet.', count: '{n} received, refreshed every second',
      lost: 'Connection to the receiver lost', enterprise: 'Enterprise', installation: 'Installation', point: 'Point', location: 'Location',
      gas: 'Gas', value: 'Value', setpoint: 'Setpoint', raised: 'Raised', received: 'Received',
      cleared: 'Returned to normal', closed: 'Closed', closedBy: 'Closed by', message: 'Message', level1: 'Level 1', level2: 'Level 2',
      drill: 'Drill', active: 'In alarm', sCleared: 'Returned to normal', sClosed: 'Disposal closed', confirm: 'Confirm receipt',
      confirmed: 'Receipt confirmed {time}', none: '—'
    }
  };
  // The notification carries no resolution: decimals per unit as detectors usually display them
  // (our choice; no standard clause checked), else by magnitude.
  const DECIMALS = { '%LEL': 1, 'LEL·m': 2, '%VOL': 1, '%vol': 1, 'ppm': 1, 'mg/m3': 1, 'mg/m³': 1, '°C': 1, 'MPa': 3, 'kPa': 1, 'm': 2, '%': 1 };
  const params = new URLSearchParams(location.search);
  let lang = params.get('lang') === 'en' ? 'en' : params.get('lang') ? 'zh-CN' : (safe(() => localStorage.getItem('hazardwatch.receiver.lang')) || 'zh-CN');
  function safe(f) { try { return f(); } catch { return null; } }
  const t = (k, p) => String(WORDS[lang][k] ?? k).replace(/\\{(\\w+)\\}/g, (_, n) => (p && n in p ? p[n] : ''));
  const pad = (n) => String(n).padStart(2, '0');
  const time = (iso) => {
    if (!iso) return t('none');
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return iso;
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' + pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  };
  const round = (v, unit) => {
    if (v === null || v === undefined || typeof v !== 'number') return t('none');
    const a = Math.abs(v);
    const d = unit in DECIMALS ? DECIMALS[unit] : a >= 100 ? 0 : a >= 1 ? 1 : 2;
    return v.toFixed(d) + (unit ? ' ' + unit : '');
  };
  const el = (tag, cls, text) => { const n = document.createElement(tag); if (cls) n.className = cls; if (text !== undefined) n.textContent = text; return n; };
  const named = (name, id) => (name ? name + ' (' + id + ')' : id);
  const list = document.getElementById('list');
  const empty = document.getElementById('empty');
  const status = document.getElementById('status');
  let last = [];
  function statics() {
    document.documentElement.lang = lang;
    document.title = t('title');
    document.getElementById('title').textContent = t('title');
    document.getElementById('lang').textContent = t('toggle');
    empty.textContent = t('empty');
  }
  function card(n) {
    const c = el('article', 'card');
    c.dataset.level = String(n.level);
    c.dataset.status = n.status || 'active';
    c.dataset.notificationId = n.notificationId;
    const head = el('div', 'head');
    head.append(el('span', 'badge ' + (n.level === 2 ? 'l2' : 'l1'), n.level === 2 ? t('level2') : t('level1')));
    const s = n.status || 'active';
    head.append(el('span', 'badge s-' + s, s === 'active' ? t('active') : s === 'cleared' ? t('sCleared') : t('sClosed')));
    if (n.drill) head.append(el('span', 'badge drill', t('drill')));
    head.append(el('span', '', named(n.enterpriseName, n.enterpriseId)));
    c.append(head);
    const dl = el('dl');
    const row = (k, v, cls) => { dl.append(el('dt', '', t(k))); dl.append(el('dd', cls || '', v)); };
    row('value', round(n.value, n.unit), 'value');
    row('setpoint', round(n.setpoint, n.unit));
    row('point', named(n.sensorName, n.sensorId));
    row('location', n.location || t('none'));
    row('installation', n.installationId || t('none'));
    row('gas', n.gas || t('none'));
    row('raised', time(n.raisedAt));
    row('received', time(n.receivedAt));
    if (n.clearedAt) row('cleared', time(n.clearedAt));
    if (n.closedAt) row('closed', time(n.closedAt));
    if (n.closedBy) row('closedBy', n.closedBy);
    row('message', n.message || t('none'));
    c.append(dl);
    if (n.confirmedAt) c.append(el('p', 'confirmed', t('confirmed', { time: time(n.confirmedAt) })));
    else {
      const b = el('button', '', t('confirm'));
      b.type = 'button';
      b.dataset.confirm = n.notificationId;
      b.addEventListener('click', async () => {
        b.disabled = true;
        await fetch('/api/v1/notifications/' + encodeURIComponent(n.notificationId) + '/confirm', { method: 'POST' }).catch(() => {});
        refresh();
      });
      c.append(b);
    }
    return c;
  }
  function render() {
    list.replaceChildren(...last.map(card));
    empty.hidden = last.length > 0;
    status.textContent = t('count', { n: last.length });
    document.documentElement.dataset.ready = 'true';
  }
  async function refresh() {
    try {
      const response = await fetch('/api/v1/notifications', { cache: 'no-store' });
      last = await response.json();
      render();
    } catch (err) {
      status.textContent = t('lost');
    }
  }
  document.getElementById('lang').addEventListener('click', () => {
    lang = lang === 'en' ? 'zh-CN' : 'en';
    safe(() => localStorage.setItem('hazardwatch.receiver.lang', lang));
    statics();
    render();
  });
  statics();
  refresh();
  setInterval(refresh, 1000);
</script>
</body>
</html>
`;
