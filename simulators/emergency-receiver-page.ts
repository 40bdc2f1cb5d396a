/**
 * The emergency receiver's dispatch page: Simplified Chinese with English subtitles. It polls
 * GET /api/v1/notifications every second and renders with textContent only (never innerHTML for
 * data), so a notification cannot inject markup.
 */
export const RECEIVER_PAGE = `<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>应急指挥中心 · 报警接收 | Emergency centre · alarm receiver</title>
<style>
  body { font-family: system-ui, "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; margin: 1.5rem; color: #1b1f24; }
  h1 { margin: 0; font-size: 1.5rem; }
  .en { display: block; color: #5b6470; font-size: 0.78em; font-weight: normal; }
  header p { margin: 0.3rem 0 1rem; color: #5b6470; }
  table { border-collapse: collapse; width: 100%; font-size: 0.92rem; }
  th, td { border-bottom: 1px solid #d6dae0; padding: 0.45rem 0.5rem; text-align: left; vertical-align: top; }
  th { background: #f2f4f7; }
  tr.level-2 td { background: #fde8e8; }
  tr.level-1 td { background: #fff4e0; }
  .badge { display: inline-block; padding: 0 0.4rem; border-radius: 0.3rem; font-weight: bold; }
  .l2 { background: #c62828; color: #fff; }
  .l1 { background: #ef8f00; color: #fff; }
  .drill { background: #1e63b5; color: #fff; }
  #empty { color: #5b6470; padding: 1rem 0; }
  #status { font-size: 0.85rem; color: #5b6470; }
</style>
</head>
<body>
<header>
  <h1>应急指挥中心 · 报警接收<span class="en">Emergency centre · alarm receiver (HazardWatch simulator)</span></h1>
  <p>最新的在最上面，每秒刷新。<span class="en">Newest first, refreshed every second.</span>
  <span id="status"></span></p>
</header>
<table>
  <thead><tr>
    <th>企业<span class="en">Enterprise</span></th>
    <th>装置<span class="en">Installation</span></th>
    <th>测点<span class="en">Sensor</span></th>
    <th>气体<span class="en">Gas</span></th>
    <th>级别<span class="en">Level</span></th>
    <th>测量值<span class="en">Value</span></th>
    <th>设定值<span class="en">Setpoint</span></th>
    <th>报警时间<span class="en">Raised</span></th>
    <th>接收时间<span class="en">Received</span></th>
    <th>演练<span class="en">Drill</span></th>
    <th>内容<span class="en">Message</span></th>
  </tr></thead>
  <tbody id="rows"></tbody>
</table>
<div id="empty">暂无报警。<span class="en">No notifications yet.</span></div>
<script>
  const rows = document.getElementById('rows');
  const empty = document.getElementById('empty');
  const status = document.getElementById('status');
  const time = (iso) => {
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? iso : d.toLocaleString('zh-CN', { hour12: false });
  };
  const cell = (tr, text, badgeClass) => {
    const td = document.createElement('td');
    if (badgeClass) {
      const span = document.createElement('span');
      span.className = 'badge ' + badgeClass;
      span.textContent = text;
      td.appendChild(span);
    } else {
      td.textContent = text;
    }
    tr.appendChild(td);
  };
  const withName = (name, id) => (name ? name + ' (' + id + ')' : id);
  async function refresh() {
    try {
      const response = await fetch('/api/v1/notifications', { cache: 'no-store' });
      const list = await response.json();
      rows.replaceChildren();
      for (const n of list) {
        const tr = document.createElement('tr');
        tr.className = 'level-' + n.level;
        cell(tr, withName(n.enterpriseName, n.enterpriseId));
        cell(tr, n.installationId || '—');
        cell(tr, withName(n.sensorName, n.sensorId) + (n.location ? ' · ' + n.location : ''));
        cell(tr, n.gas || '—');
        cell(tr, n.level === 2 ? '二级 Level 2' : '一级 Level 1', n.level === 2 ? 'l2' : 'l1');
        cell(tr, n.value === null ? '—' : n.value + ' ' + n.unit);
        cell(tr, n.setpoint + ' ' + n.unit);
        cell(tr, time(n.raisedAt));
        cell(tr, time(n.receivedAt));
        if (n.drill) cell(tr, '演练 Drill', 'drill'); else cell(tr, '否 No');
        cell(tr, n.message);
        rows.appendChild(tr);
      }
      empty.hidden = list.length > 0;
      status.textContent = '共 ' + list.length + ' 条 · ' + list.length + ' received';
    } catch (err) {
      status.textContent = '连接中断 · connection lost';
    }
  }
  refresh();
  setInterval(refresh, 1000);
</script>
</body>
</html>
`;
