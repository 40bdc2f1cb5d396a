import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import {
  chooseLanguage,
  DEFAULT_LANGUAGE,
  dictionaries,
  LANGUAGES,
  normaliseLanguage,
  translate,
} from '../../server/dashboard/public/i18n.js';

const publicDir = new URL('../../server/dashboard/public/', import.meta.url);
const read = (name: string) => readFile(new URL(name, publicDir), 'utf8');

const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

describe('dictionaries', () => {
  it('have the same keys in Chinese and English', () => {
    const zh = Object.keys(dictionaries['zh-CN']).sort();
    const en = Object.keys(dictionaries.en).sort();
    expect(en).toEqual(zh);
    expect(LANGUAGES).toEqual(['zh-CN', 'en']);
  });

  it('have the same placeholders for each key and no empty strings', () => {
    for (const [key, zh] of Object.entries(dictionaries['zh-CN'])) {
      const en = dictionaries.en[key]!;
      expect(placeholders(en), key).toEqual(placeholders(zh));
      expect(zh.trim(), key).not.toBe('');
      expect(en.trim(), key).not.toBe('');
    }
  });

  it('label alarm levels with words, not only colours', () => {
    expect(translate('zh-CN', 'alarm.level.1')).toBe('一级');
    expect(translate('zh-CN', 'alarm.level.2')).toBe('二级');
    expect(translate('en', 'alarm.level.1')).toBe('Level 1');
    expect(translate('en', 'alarm.level.2')).toBe('Level 2');
    expect(translate('zh-CN', 'alarm.drill')).toBe('演练');
    expect(translate('en', 'alarm.drill')).toBe('DRILL');
    expect(translate('zh-CN', 'conn.open')).toBe('实时连接');
    expect(translate('zh-CN', 'conn.closed')).toMatch(/^已断开/);
  });

  it('cover every key the page and the script use', async () => {
    const html = await read('index.html');
    const app = await read('app.js');
    const used = new Set<string>();
    for (const [, key] of html.matchAll(/data-i18n(?:-aria-label)?="([^"]+)"/g)) used.add(key!);
    for (const [, key] of app.matchAll(/\bt\('([^']+)'/g)) used.add(key!);
    // Keys the script builds from data.
    for (const state of ['connecting', 'open', 'closed']) used.add(`conn.${state}`);
    for (const status of ['good', 'uncertain', 'bad', 'stale', 'nodata'])
      used.add(`status.${status}`);
    for (const level of [1, 2]) used.add(`alarm.level.${level}`);
    for (const state of ['active', 'cleared']) used.add(`alarm.state.${state}`);
    for (const state of ['online', 'offline', 'unknown']) used.add(`gateway.state.${state}`);
    for (const unit of ['s', 'min', 'h', 'd']) used.add(`duration.${unit}`);
    expect(used.size).toBeGreaterThan(30);
    for (const key of used) {
      expect(Object.hasOwn(dictionaries['zh-CN'], key), key).toBe(true);
    }
  });

  it('match what index.html shows before the script runs', async () => {
    const html = await read('index.html');
    for (const [, key, text] of html.matchAll(/data-i18n="([^"]+)"[^>]*>\s*([^<]+?)\s*</g)) {
      expect(text, key).toBe(dictionaries['zh-CN'][key!]);
    }
  });
});

describe('language choice', () => {
  it('is Chinese unless English is asked for', () => {
    expect(DEFAULT_LANGUAGE).toBe('zh-CN');
    expect(chooseLanguage(null, null)).toBe('zh-CN');
    expect(chooseLanguage('en', null)).toBe('en');
    expect(chooseLanguage(null, 'en')).toBe('en');
    expect(chooseLanguage('zh', 'en')).toBe('zh-CN');
    expect(chooseLanguage('fr', 'en')).toBe('en');
    expect(chooseLanguage('fr', 'xx')).toBe('zh-CN');
  });

  it('understands the usual spellings of the two languages', () => {
    expect(normaliseLanguage('EN-us')).toBe('en');
    expect(normaliseLanguage('zh_CN')).toBe('zh-CN');
    expect(normaliseLanguage('zh-Hans')).toBe('zh-CN');
    expect(normaliseLanguage('cn')).toBe('zh-CN');
    expect(normaliseLanguage('de')).toBeNull();
    expect(normaliseLanguage(undefined)).toBeNull();
  });

  it('fills placeholders and shows a missing key as itself', () => {
    expect(
      translate('zh-CN', 'ago', { duration: translate('zh-CN', 'duration.s', { n: 5 }) }),
    ).toBe('5 秒前');
    expect(translate('en', 'ago', { duration: translate('en', 'duration.min', { n: 2 }) })).toBe(
      '2 min ago',
    );
    expect(translate('en', 'no.such.key')).toBe('no.such.key');
    expect(translate('xx', 'alarm.level.2')).toBe('二级');
    expect(translate('en', 'banner.loadFailed', {})).toBe('Could not load data: {message}');
  });
});

describe('page script', () => {
  it('never inserts data as HTML', async () => {
    for (const file of ['app.js', 'format.js', 'i18n.js']) {
      const source = await read(file);
      expect(source, file).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
    }
  });
});
