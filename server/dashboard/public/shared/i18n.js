/**
 * Language choice and lookup shared by both pages (the live dashboard's dictionaries are in
 * ../i18n.js, the workbench's in ../platform-i18n.js). Chinese is the default; English on
 * request (`?lang=en`, or the toggle, remembered in localStorage under one key for both pages).
 * DOM-free: Node imports it in tests. Types: i18n.d.ts next to this file.
 */

export const DEFAULT_LANGUAGE = 'zh-CN';
export const LANGUAGES = Object.freeze(['zh-CN', 'en']);
/** localStorage key that remembers the toggle (both pages). */
export const LANGUAGE_STORAGE_KEY = 'hazardwatch.dashboard.lang';

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
 * A lookup over one set of dictionaries: fills {placeholders}; an unknown key returns the key
 * itself, so a missing string is visible rather than blank.
 * @param {Readonly<Record<string, Readonly<Record<string, string>>>>} dictionaries
 * @returns {(language: string, key: string, params?: Record<string, string|number>) => string}
 */
export function createTranslate(dictionaries) {
  return (language, key, params) => {
    const dictionary = Object.hasOwn(dictionaries, language)
      ? dictionaries[language]
      : dictionaries[DEFAULT_LANGUAGE];
    const template = Object.hasOwn(dictionary, key) ? String(dictionary[key]) : key;
    if (!params) return template;
    return template.replace(/\{(\w+)\}/g, (whole, name) =>
      Object.hasOwn(params, name) ? String(params[name]) : whole,
    );
  };
}
