/**
 * Every string the dashboard shows, one dictionary per language. Simplified Chinese is the
 * default; English on request (`?lang=en`, or the toggle, remembered in localStorage).
 * Both dictionaries must have the same keys and the same {placeholders} (tests/dashboard checks).
 * DOM-free: Node imports it in tests. Types: i18n.d.ts next to this file.
 */

export const DEFAULT_LANGUAGE = 'zh-CN';
export const LANGUAGES = Object.freeze(['zh-CN', 'en']);
/** localStorage key that remembers the toggle. */
export const LANGUAGE_STORAGE_KEY = 'hazardwatch.dashboard.lang';

export const dictionaries = Object.freeze({
  'zh-CN': Object.freeze({
    'app.title': 'HazardWatch 危险化学品安全监测预警',
    'app.product': 'HazardWatch',
    'app.subtitle': '危险化学品安全监测预警',
    'lang.toggle': 'English',
    'lang.toggleLabel': '切换为英文界面',
    'nav.platform': '监管平台',
    'conn.label': '数据流',
    'conn.connecting': '正在连接…',
    'conn.open': '实时连接',
    'conn.closed': '已断开，正在重连…',
    'header.gateways': '网关在线',
    'header.telemetryAge': '最新数据',
    'header.clock': '当前时间',
    'banner.disconnected': '与服务器的实时连接已断开，所示数值可能已过期。正在重连…',
    'banner.loadFailed': '数据加载失败：{message}',
    'alarms.active.title': '活动报警',
    'alarms.active.empty': '当前无活动报警',
    'alarms.recent.title': '最近报警',
    'alarms.recent.empty': '暂无已恢复的报警',
    'alarms.count': '{n} 条',
    'alarm.level.1': '一级',
    'alarm.level.2': '二级',
    'alarm.drill': '演练',
    'alarm.state.active': '报警中',
    'alarm.state.cleared': '已恢复',
    'alarm.value': '报警值',
    'alarm.setpoint': '设定值',
    'alarm.raisedAt': '报警时间',
    'alarm.clearedAt': '恢复时间',
    'alarm.enterprise': '企业',
    'sensors.title': '监测点',
    'sensors.empty': '暂无监测点数据',
    'gateway.label': '网关',
    'gateway.enterprise': '企业',
    'gateway.state.online': '在线',
    'gateway.state.offline': '离线',
    'gateway.state.unknown': '状态未知',
    'gateway.lastSeen': '最后通信',
    'gateway.sensorCount': '{n} 个监测点',
    'installation.label': '装置',
    'installation.none': '未指定装置',
    'status.good': '正常',
    'status.uncertain': '可疑',
    'status.bad': '故障',
    'status.stale': '数据过期',
    'status.nodata': '无数据',
    'status.staleReason': '已 {duration}未更新',
    'sensor.updated': '更新于',
    'sensor.inAlarm': '{level}报警',
    'value.on': '开',
    'value.off': '关',
    'duration.s': '{n} 秒',
    'duration.min': '{n} 分钟',
    'duration.h': '{n} 小时',
    'duration.d': '{n} 天',
    ago: '{duration}前',
    separator: '，',
  }),
  en: Object.freeze({
    'app.title': 'HazardWatch Hazardous Chemicals Safety Monitoring and Early Warning',
    'app.product': 'HazardWatch',
    'app.subtitle': 'Hazardous chemicals safety monitoring and early warning',
    'lang.toggle': '中文',
    'lang.toggleLabel': 'Switch to Chinese',
    'nav.platform': 'Supervision platform',
    'conn.label': 'Live stream',
    'conn.connecting': 'Connecting…',
    'conn.open': 'Live',
    'conn.closed': 'Disconnected, reconnecting…',
    'header.gateways': 'Gateways online',
    'header.telemetryAge': 'Newest data',
    'header.clock': 'Time',
    'banner.disconnected':
      'Live connection to the server lost; values shown may be out of date. Reconnecting…',
    'banner.loadFailed': 'Could not load data: {message}',
    'alarms.active.title': 'Active alarms',
    'alarms.active.empty': 'No active alarms',
    'alarms.recent.title': 'Recent alarms',
    'alarms.recent.empty': 'No cleared alarms yet',
    'alarms.count': '{n}',
    'alarm.level.1': 'Level 1',
    'alarm.level.2': 'Level 2',
    'alarm.drill': 'DRILL',
    'alarm.state.active': 'Active',
    'alarm.state.cleared': 'Cleared',
    'alarm.value': 'Value',
    'alarm.setpoint': 'Setpoint',
    'alarm.raisedAt': 'Raised',
    'alarm.clearedAt': 'Cleared',
    'alarm.enterprise': 'Enterprise',
    'sensors.title': 'Monitoring points',
    'sensors.empty': 'No sensor data yet',
    'gateway.label': 'Gateway',
    'gateway.enterprise': 'Enterprise',
    'gateway.state.online': 'Online',
    'gateway.state.offline': 'Offline',
    'gateway.state.unknown': 'State unknown',
    'gateway.lastSeen': 'Last seen',
    'gateway.sensorCount': '{n} sensors',
    'installation.label': 'Installation',
    'installation.none': 'No installation',
    'status.good': 'Good',
    'status.uncertain': 'Uncertain',
    'status.bad': 'Bad',
    'status.stale': 'Stale',
    'status.nodata': 'No data',
    'status.staleReason': 'no update for {duration}',
    'sensor.updated': 'Updated',
    'sensor.inAlarm': '{level} alarm',
    'value.on': 'On',
    'value.off': 'Off',
    'duration.s': '{n} s',
    'duration.min': '{n} min',
    'duration.h': '{n} h',
    'duration.d': '{n} d',
    ago: '{duration} ago',
    separator: ', ',
  }),
});

/**
 * Maps what a user or a URL may say ('en', 'EN-us', 'zh', 'zh-Hans', 'zh_CN', 'cn') to a
 * supported language, or null.
 * @param {string|null|undefined} code
 * @returns {'zh-CN'|'en'|null}
 */
export function normaliseLanguage(code) {
  if (typeof code !== 'string') return null;
  const lower = code.trim().toLowerCase().replace('_', '-');
  if (lower === 'en' || lower.startsWith('en-')) return 'en';
  if (lower === 'zh' || lower === 'cn' || lower.startsWith('zh-')) return 'zh-CN';
  return null;
}

/**
 * The language to show: the URL's `lang` first (a link someone sent), then the remembered
 * toggle, then Chinese.
 * @param {string|null|undefined} fromQuery
 * @param {string|null|undefined} fromStorage
 * @returns {'zh-CN'|'en'}
 */
export function chooseLanguage(fromQuery, fromStorage) {
  return normaliseLanguage(fromQuery) ?? normaliseLanguage(fromStorage) ?? DEFAULT_LANGUAGE;
}

/**
 * Looks a key up and fills its {placeholders}. An unknown key returns the key itself, so a
 * missing string is visible rather than blank.
 * @param {string} language
 * @param {string} key
 * @param {Record<string, string|number>} [params]
 * @returns {string}
 */
export function translate(language, key, params) {
  const dictionary = Object.hasOwn(dictionaries, language)
    ? dictionaries[language]
    : dictionaries[DEFAULT_LANGUAGE];
  const template = Object.hasOwn(dictionary, key) ? String(dictionary[key]) : key;
  if (!params) return template;
  return template.replace(/\{(\w+)\}/g, (whole, name) =>
    Object.hasOwn(params, name) ? String(params[name]) : whole,
  );
}
