/**
 * Charts for every trend and summary, drawn with Apache ECharts (served from node_modules as
 * /assets/vendor/echarts.js). Tooltips use ECharts' rich-text mode: drawn on the canvas, so no
 * HTML is built from data and the strict content security policy (no inline styles) holds.
 * Every chart container gets data-* attributes that say what it shows (tests read them).
 */

import { formatLocalDateTime, formatNumber } from '../format.js';
import * as echarts from '../vendor/echarts.js';
import { trackChart } from './chart-registry.js';

const COLOURS = Object.freeze({
  text: '#eef3f8',
  muted: '#a3b1c0',
  line: '#2a3644',
  mean: '#4cc9f0',
  band: 'rgba(76, 201, 240, 0.18)',
  level1: '#ffa41b',
  level2: '#ff3b3b',
  red: '#ff3b3b',
  orange: '#ff8c1a',
  yellow: '#ffd60a',
  blue: '#3a86ff',
});
const DAY = 86_400_000;

function chartOn(node) {
  const chart = echarts.getInstanceByDom(node) ?? echarts.init(node, null, { renderer: 'canvas' });
  trackChart(chart);
  return chart;
}

const axisStyle = {
  axisLine: { lineStyle: { color: COLOURS.line } },
  axisLabel: { color: COLOURS.muted },
  splitLine: { lineStyle: { color: COLOURS.line } },
  nameTextStyle: { color: COLOURS.muted },
};

function timeLabel(span) {
  return (value) => {
    const text = formatLocalDateTime(value);
    if (span > 2 * DAY) return text.slice(5, 16); // MM-DD HH:mm
    if (span > 6 * 3_600_000) return text.slice(5, 16);
    return text.slice(11, 16); // HH:mm
  };
}

/**
 * One sensor's trend (response of /api/v1/workbench/trend): mean line, min–max band, setpoint
 * lines (level 1 and 2), deadband band when known, alarm start and end marked, zoom, tooltips.
 * @param {HTMLElement} node
 * @param {any} trend
 * @param {(key: string, params?: Record<string, any>) => string} t
 */
export function trendChart(node, trend, t) {
  const { sensor, buckets, intervalMs, from, to } = trend;
  const unit = sensor.unit ?? '';
  const byTs = new Map(buckets.map((b) => [b.ts, b]));
  const mean = [];
  const low = [];
  const band = [];
  // A gap is a pause well beyond the sensor's usual spacing (not the bucket width: a sensor
  // read once a minute in 3 s buckets is not broken between its readings).
  const spacings = buckets
    .slice(1)
    .map((b, i) => b.ts - buckets[i].ts)
    .sort((x, y) => x - y);
  const usual = spacings.length ? spacings[Math.floor(spacings.length / 2)] : intervalMs;
  const gapMs = Math.max(2 * intervalMs, 3 * usual);
  let prev = null;
  for (const b of buckets) {
    if (prev !== null && b.ts - prev > gapMs) {
      // A gap in the data stays a gap on the chart, not a straight line across it.
      mean.push([prev + intervalMs, null]);
      low.push([prev + intervalMs, null]);
      band.push([prev + intervalMs, null]);
    }
    mean.push([b.ts, b.mean]);
    low.push([b.ts, b.min]);
    band.push([b.ts, b.max - b.min]);
    prev = b.ts;
  }
  const setpoints = [
    [sensor.setpointLevel1, 'chart.setpoint1', COLOURS.level1],
    [sensor.setpointLevel2, 'chart.setpoint2', COLOURS.level2],
  ].filter(([v]) => typeof v === 'number');
  const values = [...buckets.flatMap((b) => [b.min, b.max]), ...setpoints.map(([v]) => v)];
  let yMin = sensor.rangeMin ?? null;
  let yMax = sensor.rangeMax ?? null;
  if (yMin === null || yMax === null) {
    // No measuring range known: the data and setpoints with a margin, never a 0.5-unit window
    // that makes noise look like a leak.
    const lo = values.length ? Math.min(...values) : 0;
    const hi = values.length ? Math.max(...values) : 1;
    const margin = Math.max((hi - lo) * 0.1, Math.abs(hi) * 0.05, 1);
    yMin ??= lo >= 0 && lo - margin < 0 ? 0 : lo - margin;
    yMax ??= hi + margin;
  }
  const markLines = setpoints.map(([v, key, colour]) => ({
    yAxis: v,
    lineStyle: { color: colour, type: 'dashed', width: 1.5 },
    label: {
      color: colour,
      formatter: `${t(key)} ${formatNumber(v)} ${unit}`,
      position: 'insideEndTop',
    },
  }));
  const markAreas = [];
  for (const a of trend.alarms) {
    const start = a.raisedAt ?? from;
    const end = a.clearedAt ?? to;
    const colour = a.level === 2 ? 'rgba(255, 59, 59, 0.16)' : 'rgba(255, 164, 27, 0.16)';
    markAreas.push([
      {
        xAxis: Math.max(start, from),
        itemStyle: { color: colour },
        name: t(`alarm.level.${a.level}`),
      },
      { xAxis: Math.min(end, to) },
    ]);
    if (a.raisedAt !== null && a.raisedAt >= from)
      markLines.push({
        xAxis: a.raisedAt,
        lineStyle: { color: COLOURS.level2, type: 'solid' },
        label: { color: COLOURS.text, formatter: t('chart.alarmStart'), position: 'end' },
      });
    if (a.clearedAt !== null && a.clearedAt <= to)
      markLines.push({
        xAxis: a.clearedAt,
        lineStyle: { color: COLOURS.mean, type: 'solid' },
        label: { color: COLOURS.text, formatter: t('chart.alarmEnd'), position: 'end' },
      });
  }
  if (typeof sensor.deadband === 'number') {
    for (const [v] of setpoints)
      markAreas.push([
        {
          yAxis: v - sensor.deadband,
          itemStyle: { color: 'rgba(163,177,192,0.12)' },
          name: t('chart.deadband'),
        },
        { yAxis: v },
      ]);
  }
  node.dataset.chart = 'trend';
  node.dataset.unit = unit;
  node.dataset.buckets = String(buckets.length);
  node.dataset.setpoints = setpoints.map(([v]) => v).join(',');
  node.dataset.alarms = String(trend.alarms.length);
  node.dataset.xAxis = 'time';
  const chart = chartOn(node);
  chart.setOption(
    {
      animation: false,
      grid: { left: 56, right: 28, top: 36, bottom: 64 },
      tooltip: {
        trigger: 'axis',
        renderMode: 'richText',
        formatter: (params) => {
          const ts = params[0]?.value?.[0];
          const b = byTs.get(ts);
          if (!b) return formatLocalDateTime(ts);
          return [
            formatLocalDateTime(ts),
            `${t('chart.mean')} ${formatNumber(b.mean)} ${unit}`,
            `${t('chart.min')} ${formatNumber(b.min)} · ${t('chart.max')} ${formatNumber(b.max)} ${unit}`,
            `${t('chart.samples')} ${b.count}`,
          ].join('\n');
        },
      },
      xAxis: {
        type: 'time',
        name: t('chart.time'),
        nameLocation: 'middle',
        nameGap: 26,
        min: from,
        max: to,
        ...axisStyle,
        axisLabel: { color: COLOURS.muted, formatter: timeLabel(to - from), hideOverlap: true },
      },
      yAxis: {
        type: 'value',
        name: unit || t('chart.value'),
        min: yMin,
        max: yMax,
        ...axisStyle,
      },
      dataZoom: [
        { type: 'inside', filterMode: 'none' },
        {
          type: 'slider',
          height: 16,
          bottom: 6,
          filterMode: 'none',
          textStyle: { color: COLOURS.muted },
          labelFormatter: (v) => formatLocalDateTime(v).slice(5, 16),
        },
      ],
      series: [
        {
          name: 'low',
          type: 'line',
          data: low,
          stack: 'band',
          symbol: 'none',
          lineStyle: { opacity: 0 },
          silent: true,
          connectNulls: false,
        },
        {
          name: 'band',
          type: 'line',
          data: band,
          stack: 'band',
          symbol: 'none',
          lineStyle: { opacity: 0 },
          areaStyle: { color: COLOURS.band },
          silent: true,
          connectNulls: false,
        },
        {
          name: t('chart.mean'),
          type: 'line',
          data: mean,
          symbol: 'circle',
          symbolSize: 3,
          showAllSymbol: 'auto',
          lineStyle: { color: COLOURS.mean, width: 1.5 },
          connectNulls: false,
          markLine: { symbol: 'none', silent: true, data: markLines },
          markArea: { silent: true, data: markAreas, label: { color: COLOURS.muted } },
        },
      ],
    },
    true,
  );
  return chart;
}

/**
 * The jurisdiction on a lon/lat plane (no tiles or boundaries can be downloaded here):
 * enterprises placed by location, coloured by risk, sized by score; a click opens one.
 */
export function mapChart(node, enterprises, t, name, onOpen) {
  const placed = enterprises.filter((e) => e.lat !== null && e.lon !== null);
  node.dataset.chart = 'map';
  node.dataset.placed = String(placed.length);
  const chart = chartOn(node);
  chart.setOption(
    {
      animation: false,
      grid: { left: 56, right: 24, top: 24, bottom: 44 },
      tooltip: {
        renderMode: 'richText',
        formatter: (p) =>
          `${p.data.label}\n${t(`colour.${p.data.colour}`)} · ${t('ranking.score')} ${p.data.value[2]}`,
      },
      xAxis: {
        type: 'value',
        name: t('map.lon'),
        nameLocation: 'middle',
        nameGap: 26,
        scale: true,
        ...axisStyle,
      },
      yAxis: { type: 'value', name: t('map.lat'), scale: true, ...axisStyle },
      series: [
        {
          type: 'scatter',
          cursor: 'pointer',
          data: placed.map((e) => ({
            id: e.id,
            label: name(e),
            colour: e.risk.colour,
            value: [e.lon, e.lat, e.risk.score],
            symbolSize: 14 + e.risk.score / 4,
            itemStyle: { color: COLOURS[e.risk.colour], borderColor: COLOURS.text, borderWidth: 1 },
          })),
          label: {
            show: true,
            position: 'right',
            color: COLOURS.text,
            formatter: (p) => p.data.label,
          },
        },
      ],
    },
    true,
  );
  chart.off('click');
  chart.on('click', (p) => onOpen(p.data.id));
  return chart;
}

/** Alarms per day, level 1 and level 2 stacked. */
export function perDayChart(node, days, t) {
  node.dataset.chart = 'per-day';
  const chart = chartOn(node);
  chart.setOption(
    {
      animation: false,
      grid: { left: 44, right: 16, top: 32, bottom: 36 },
      legend: { textStyle: { color: COLOURS.muted }, top: 0 },
      tooltip: { trigger: 'axis', renderMode: 'richText' },
      xAxis: {
        type: 'category',
        data: days.map((d) => d.day.slice(5)),
        name: t('chart.day'),
        ...axisStyle,
      },
      yAxis: { type: 'value', name: t('chart.count'), minInterval: 1, ...axisStyle },
      series: [
        {
          name: t('alarm.level.1'),
          type: 'bar',
          stack: 'n',
          data: days.map((d) => d.level1),
          itemStyle: { color: COLOURS.level1 },
        },
        {
          name: t('alarm.level.2'),
          type: 'bar',
          stack: 'n',
          data: days.map((d) => d.level2),
          itemStyle: { color: COLOURS.level2 },
        },
      ],
    },
    true,
  );
  return chart;
}

/** Enterprises per colour. */
export function coloursChart(node, colours, t) {
  node.dataset.chart = 'colours';
  const keys = ['red', 'orange', 'yellow', 'blue'];
  const chart = chartOn(node);
  chart.setOption(
    {
      animation: false,
      grid: { left: 80, right: 24, top: 8, bottom: 24 },
      tooltip: { renderMode: 'richText' },
      xAxis: { type: 'value', minInterval: 1, ...axisStyle },
      yAxis: {
        type: 'category',
        data: keys.map((k) => t(`colour.${k}`)),
        inverse: true,
        ...axisStyle,
      },
      series: [
        {
          type: 'bar',
          data: keys.map((k) => ({ value: colours[k], itemStyle: { color: COLOURS[k] } })),
          label: { show: true, position: 'right', color: COLOURS.text },
        },
      ],
    },
    true,
  );
  return chart;
}

/** Risk score over the last days, the line coloured by the four-colour thresholds. */
export function riskHistoryChart(node, samples, t) {
  node.dataset.chart = 'risk-history';
  node.dataset.samples = String(samples.length);
  const from = samples[0]?.ts ?? 0;
  const to = samples.at(-1)?.ts ?? 1;
  const chart = chartOn(node);
  chart.setOption(
    {
      animation: false,
      grid: { left: 44, right: 24, top: 28, bottom: 44 },
      tooltip: {
        trigger: 'axis',
        renderMode: 'richText',
        formatter: (params) => {
          const s = samples[params[0]?.dataIndex ?? 0];
          return s ? `${formatLocalDateTime(s.ts)}\n${t(`colour.${s.colour}`)} · ${s.score}` : '';
        },
      },
      visualMap: {
        show: false,
        dimension: 1,
        pieces: [
          { lt: 25, color: COLOURS.blue },
          { gte: 25, lt: 50, color: COLOURS.yellow },
          { gte: 50, lt: 75, color: COLOURS.orange },
          { gte: 75, color: COLOURS.red },
        ],
      },
      xAxis: {
        type: 'time',
        name: t('chart.time'),
        nameLocation: 'middle',
        nameGap: 26,
        min: from,
        max: to,
        ...axisStyle,
        axisLabel: { color: COLOURS.muted, formatter: timeLabel(to - from), hideOverlap: true },
      },
      yAxis: { type: 'value', name: t('ranking.score'), min: 0, max: 100, ...axisStyle },
      series: [
        {
          type: 'line',
          step: 'end',
          symbol: 'none',
          data: samples.map((s) => [s.ts, s.score]),
          areaStyle: { opacity: 0.15 },
        },
      ],
    },
    true,
  );
  return chart;
}
