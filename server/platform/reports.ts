/**
 * Supervision reports per jurisdiction and period: indicators, top enterprises by risk, alarms
 * per day, and the alarm and disposal table; written as CSV (UTF-8 with a byte-order mark, so
 * Excel in a Chinese locale reads it without mojibake) or as an XLSX workbook (exceljs), with
 * Chinese or English headers and local times (YYYY-MM-DD HH:mm:ss at the caller's UTC offset).
 *
 * Pure model building (`buildReport`) apart from the two writers, so tests check the model and
 * read the files back.
 */
import ExcelJS from 'exceljs';
import type { Indicators, Rate } from './indicators.js';
import { indicatorDefinitions } from './indicators.js';
import type { EnterpriseInputs, WorkbenchSettingsResolved } from './risk-inputs.js';
import type { StableRisk } from './risk-score.js';

export type ReportLang = 'zh-CN' | 'en';
export type ReportPeriod = 'day' | 'week' | 'month' | 'custom';

const BOM = '\uFEFF';
const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** One date format everywhere: local time at the given offset, YYYY-MM-DD HH:mm:ss. */
export function formatLocal(ms: number | null, utcOffsetMin: number): string {
  if (ms === null) return '';
  const d = new Date(ms + utcOffsetMin * 60_000);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

/** [from, to] of a period ending on the local day `date` (YYYY-MM-DD) at the UTC offset. */
export function periodWindow(
  period: Exclude<ReportPeriod, 'custom'>,
  date: string,
  utcOffsetMin: number,
): { from: number; to: number } {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!m) throw new Error(`report date: must be YYYY-MM-DD (got '${date}')`);
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const dayStart = (yy: number, mm: number, dd: number) =>
    Date.UTC(yy, mm - 1, dd) - utcOffsetMin * 60_000;
  const endOfDay = dayStart(y, mo, d) + 24 * 60 * 60_000 - 1;
  if (period === 'day') return { from: dayStart(y, mo, d), to: endOfDay };
  if (period === 'week') return { from: dayStart(y, mo, d) - 6 * 24 * 60 * 60_000, to: endOfDay };
  return { from: dayStart(y, mo, 1), to: dayStart(y, mo + 1, 1) - 1 };
}

const WORDS = {
  'zh-CN': {
    title: '重大危险源监管报告',
    scope: '管辖范围',
    period: '统计期间',
    generated: '生成时间',
    indicator: '指标',
    value: '数值',
    definition: '定义',
    // The workbench figure is measured at this moment; docs/indicators.md keeps the bare
    // "online rate" apart: the time-based one is the data-quality page's 点位在线率（时间）.
    onlineRate: '当前在线率（此刻）',
    acknowledgedInTime: '及时确认率',
    disposalRate: '处置率',
    meanDisposalTime: '平均处置时长（分钟）',
    overdueDisposals: '超时未处置',
    alarmsLevel1: '一级报警数',
    alarmsLevel2: '二级报警数',
    colours: '四色分布（红/橙/黄/蓝）',
    top: '风险排名前列企业',
    rank: '排名',
    enterprise: '企业',
    colour: '风险等级',
    score: '风险分值',
    terms: '分值构成',
    day: '日期',
    level1: '一级',
    level2: '二级',
    alarms: '报警与处置台账',
    received: '接收时间',
    sensor: '监测点',
    location: '位置',
    level: '级别',
    value2: '报警值',
    setpoint: '设定值',
    state: '报警状态',
    cleared: '恢复时间',
    status: '处置状态',
    acknowledgedAt: '确认时间',
    acknowledgedBy: '确认人',
    assignee: '处置责任人',
    measures: '处置措施数',
    closedAt: '关闭时间',
    closedBy: '关闭人',
    escalation: '升级层级',
    drill: '演练',
    yes: '是',
    no: '否',
    perDay: '每日报警',
    summary: '统计',
    red: '红',
    orange: '橙',
    yellow: '黄',
    blue: '蓝',
    colourName: { red: '重大风险', orange: '较大风险', yellow: '一般风险', blue: '低风险' },
    levelName: { 1: '一级', 2: '二级' },
    stateName: { active: '报警中', cleared: '已恢复' },
    statusName: { open: '待确认', acknowledged: '已确认', closed: '已关闭' },
    escalationName: ['企业', '县级', '市级', '省级'],
    termName: {
      grade: '重大危险源级别',
      level2InAlarm: '二级报警中',
      level1InAlarm: '一级报警中',
      unacknowledged: '未确认',
      escalated: '已升级',
      overdue: '超时未处置',
      offlinePoints: '离线点位',
    } as Record<string, string>,
    none: '—',
  },
  en: {
    title: 'Major hazard supervision report',
    scope: 'Jurisdiction',
    period: 'Period',
    generated: 'Generated',
    indicator: 'Indicator',
    value: 'Value',
    definition: 'Definition',
    onlineRate: 'Points online now',
    acknowledgedInTime: 'Acknowledged in time',
    disposalRate: 'Disposal rate',
    meanDisposalTime: 'Mean disposal time (min)',
    overdueDisposals: 'Overdue disposals',
    alarmsLevel1: 'Level-1 alarms',
    alarmsLevel2: 'Level-2 alarms',
    colours: 'Four colours (red/orange/yellow/blue)',
    top: 'Top enterprises by risk',
    rank: 'Rank',
    enterprise: 'Enterprise',
    colour: 'Risk colour',
    score: 'Risk score',
    terms: 'Score terms',
    day: 'Day',
    level1: 'Level 1',
    level2: 'Level 2',
    alarms: 'Alarms and disposal',
    received: 'Received',
    sensor: 'Point',
    location: 'Location',
    level: 'Level',
    value2: 'Alarm value',
    setpoint: 'Setpoint',
    state: 'Alarm state',
    cleared: 'Returned to normal',
    status: 'Disposal status',
    acknowledgedAt: 'Acknowledged',
    acknowledgedBy: 'Acknowledged by',
    assignee: 'Assignee',
    measures: 'Measures',
    closedAt: 'Closed',
    closedBy: 'Closed by',
    escalation: 'Escalated to',
    drill: 'Drill',
    yes: 'yes',
    no: 'no',
    perDay: 'Alarms per day',
    summary: 'Summary',
    red: 'red',
    orange: 'orange',
    yellow: 'yellow',
    blue: 'blue',
    colourName: {
      red: 'Major risk',
      orange: 'Large risk',
      yellow: 'General risk',
      blue: 'Low risk',
    },
    levelName: { 1: 'Level 1', 2: 'Level 2' },
    stateName: { active: 'In alarm', cleared: 'Returned to normal' },
    statusName: { open: 'Unacknowledged', acknowledged: 'Acknowledged', closed: 'Closed' },
    escalationName: ['Enterprise', 'County', 'City', 'Province'],
    termName: {
      grade: 'Major hazard grade',
      level2InAlarm: 'Level 2 in alarm',
      level1InAlarm: 'Level 1 in alarm',
      unacknowledged: 'Unacknowledged',
      escalated: 'Escalated',
      overdue: 'Overdue',
      offlinePoints: 'Offline points',
    } as Record<string, string>,
    none: '—',
  },
} as const;

export interface RankedForReport {
  id: string;
  name: string;
  nameEn: string | null;
  risk: StableRisk;
}

export interface ReportModel {
  lang: ReportLang;
  title: string;
  meta: [string, string][];
  summary: { header: string[]; rows: (string | number)[][] };
  top: { header: string[]; rows: (string | number)[][] };
  perDay: { header: string[]; rows: (string | number)[][] };
  alarms: { header: string[]; rows: (string | number)[][] };
}

/**
 * A name configured as "中文 (English)" in the report's language; `nameEn` wins in English.
 * Anything else as configured (the page does the same: platform-i18n.js localName).
 */
export function localName(name: string, nameEn: string | null, lang: ReportLang): string {
  if (lang === 'en' && nameEn) return nameEn;
  const m = /^(.*[\u3400-\u9fff].*?)\s*[(（]([^()（）]*[A-Za-z][^()（）]*)[)）]\s*$/u.exec(name);
  if (!m) return name;
  return (lang === 'en' ? (m[2] as string) : (m[1] as string)).trim();
}

const percent = (r: Rate) => (r.rate === null ? '—' : `${(r.rate * 100).toFixed(1)} %`);

export function buildReport(input: {
  lang: ReportLang;
  scope: string;
  from: number;
  to: number;
  now: number;
  utcOffsetMin: number;
  inputs: readonly EnterpriseInputs[];
  ranking: readonly RankedForReport[];
  indicators: Indicators;
  settings: WorkbenchSettingsResolved;
  topN?: number;
}): ReportModel {
  const w = WORDS[input.lang];
  const at = (ms: number | null) => formatLocal(ms, input.utcOffsetMin);
  const defs = indicatorDefinitions(input.settings, input.lang);
  const ind = input.indicators;
  const names = new Map(input.inputs.map((e) => [e.id, localName(e.name, e.nameEn, input.lang)]));
  const sum = ind.alarmsPerDay.reduce(
    (s, d) => ({ level1: s.level1 + d.level1, level2: s.level2 + d.level2 }),
    { level1: 0, level2: 0 },
  );
  const summaryRows: (string | number)[][] = [
    [w.onlineRate, percent(ind.online), defs.onlineRate],
    [w.alarmsLevel1, sum.level1, defs.alarmsPerDay],
    [w.alarmsLevel2, sum.level2, defs.alarmsPerDay],
    [w.acknowledgedInTime, percent(ind.acknowledgedInTime), defs.acknowledgedInTime],
    [w.disposalRate, percent(ind.disposal), defs.disposalRate],
    [
      w.meanDisposalTime,
      ind.meanDisposalMs === null ? '—' : Math.round(ind.meanDisposalMs / 6_000) / 10,
      defs.meanDisposalTime,
    ],
    [w.overdueDisposals, ind.overdue, defs.overdueDisposals],
    [
      w.colours,
      `${ind.colours.red}/${ind.colours.orange}/${ind.colours.yellow}/${ind.colours.blue}`,
      defs.colourDistribution,
    ],
  ];
  const top = input.ranking.slice(0, input.topN ?? 10).map((e, i) => [
    i + 1,
    localName(e.name, e.nameEn, input.lang),
    w.colourName[e.risk.colour],
    e.risk.score,
    e.risk.terms
      .filter((t) => t.points > 0)
      .map((t) => `${w.termName[t.factor] ?? t.factor} ${t.points}`)
      .join('; '),
  ]);
  const alarms: (string | number)[][] = [];
  for (const e of input.inputs) {
    for (const a of e.alarms) {
      if (a.risk.openedAt < input.from || a.risk.openedAt > input.to) continue;
      alarms.push([
        at(a.risk.openedAt),
        names.get(e.id) ?? e.id,
        a.alarm.sensorName ?? a.alarm.sensorId,
        a.alarm.location ?? '',
        w.levelName[a.alarm.level],
        a.alarm.value === null ? '' : Math.round(a.alarm.value * 100) / 100,
        a.alarm.unit,
        a.alarm.setpoint,
        w.stateName[a.alarm.state],
        at(a.alarm.clearedAt),
        w.statusName[a.status],
        at(a.risk.acknowledgedAt),
        a.acknowledgedBy ?? '',
        a.assignee ?? '',
        a.measures,
        at(a.risk.closedAt),
        a.closedBy ?? '',
        w.escalationName[a.escalationLevel] ?? String(a.escalationLevel),
        a.alarm.drill ? w.yes : w.no,
      ]);
    }
  }
  alarms.sort((x, y) => String(x[0]).localeCompare(String(y[0])));
  return {
    lang: input.lang,
    title: w.title,
    meta: [
      [w.scope, input.scope],
      [w.period, `${at(input.from)} – ${at(input.to)}`],
      [w.generated, at(input.now)],
    ],
    summary: { header: [w.indicator, w.value, w.definition], rows: summaryRows },
    top: { header: [w.rank, w.enterprise, w.colour, w.score, w.terms], rows: top },
    perDay: {
      header: [w.day, w.level1, w.level2],
      rows: ind.alarmsPerDay.map((d) => [d.day, d.level1, d.level2]),
    },
    alarms: {
      header: [
        w.received,
        w.enterprise,
        w.sensor,
        w.location,
        w.level,
        w.value2,
        'unit',
        w.setpoint,
        w.state,
        w.cleared,
        w.status,
        w.acknowledgedAt,
        w.acknowledgedBy,
        w.assignee,
        w.measures,
        w.closedAt,
        w.closedBy,
        w.escalation,
        w.drill,
      ].map((h) => (h === 'unit' ? (input.lang === 'en' ? 'Unit' : '单位') : h)),
      rows: alarms,
    },
  };
}

const csvCell = (v: string | number) => {
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};
const csvLines = (rows: (string | number)[][]) => rows.map((r) => r.map(csvCell).join(','));

/** CSV with a byte-order mark: the statistics first, then the alarm table, blank lines between. */
export function reportCsv(model: ReportModel): string {
  const w = WORDS[model.lang];
  const lines = [
    csvCell(model.title),
    ...csvLines(model.meta),
    '',
    csvCell(w.summary),
    ...csvLines([model.summary.header, ...model.summary.rows]),
    '',
    csvCell(w.top),
    ...csvLines([model.top.header, ...model.top.rows]),
    '',
    csvCell(w.perDay),
    ...csvLines([model.perDay.header, ...model.perDay.rows]),
    '',
    csvCell(w.alarms),
    ...csvLines([model.alarms.header, ...model.alarms.rows]),
  ];
  return `${BOM}${lines.join('\r\n')}\r\n`;
}

/** The same report as an XLSX workbook: one sheet per table, bold frozen headers. */
export async function reportXlsx(model: ReportModel): Promise<Buffer> {
  const w = WORDS[model.lang];
  const book = new ExcelJS.Workbook();
  book.creator = 'HazardWatch';
  const sheet = (
    name: string,
    header: string[],
    rows: (string | number)[][],
    pre: string[][] = [],
  ) => {
    const s = book.addWorksheet(name, { views: [{ state: 'frozen', ySplit: pre.length + 1 }] });
    for (const row of pre) s.addRow(row);
    const head = s.addRow(header);
    head.font = { bold: true };
    for (const row of rows) s.addRow(row);
    s.columns.forEach((c, i) => {
      const widest = Math.max(...[header, ...rows].map((r) => String(r[i] ?? '').length), 6);
      c.width = Math.min(60, widest + 4);
    });
  };
  sheet(w.summary, model.summary.header, model.summary.rows, [[model.title], ...model.meta]);
  sheet(w.top, model.top.header, model.top.rows);
  sheet(w.perDay, model.perDay.header, model.perDay.rows);
  sheet(w.alarms, model.alarms.header, model.alarms.rows);
  return Buffer.from(await book.xlsx.writeBuffer());
}
