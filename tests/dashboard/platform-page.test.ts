import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  localName,
  pickLanguage,
  platformDictionaries,
  translate,
} from '../../server/dashboard/public/platform-i18n.js';
import { type Harness, startHarness } from '../platform/harness.js';

const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

describe('platform page strings', () => {
  it('has the same keys and placeholders in Chinese and English', () => {
    const zh = platformDictionaries['zh-CN'];
    const en = platformDictionaries.en;
    expect(Object.keys(en).sort()).toEqual(Object.keys(zh).sort());
    for (const key of Object.keys(zh))
      expect(placeholders(en[key] ?? '')).toEqual(placeholders(zh[key] ?? ''));
  });

  it('speaks Chinese unless English is asked for in the URL or remembered', () => {
    expect(pickLanguage('', null)).toBe('zh-CN');
    expect(pickLanguage('?lang=en', null)).toBe('en');
    expect(pickLanguage('?lang=zh', 'en')).toBe('zh-CN');
    expect(pickLanguage('', 'en')).toBe('en');
    expect(translate('zh-CN', 'colour.red')).toBe('重大风险');
    expect(translate('en', 'overview.level2', { n: 3 })).toBe('Level-2 alarms 3');
  });

  it('has no Chinese in the English dictionary, and Chinese words for every zh-CN string', () => {
    const cjk = /[\u3400-\u9fff]/u;
    for (const [key, text] of Object.entries(platformDictionaries.en)) {
      if (key === 'langToggle') continue; // the toggle names the other language in that language
      expect(cjk.test(text), key).toBe(false);
    }
    const zhOnlyLatin = Object.entries(platformDictionaries['zh-CN']).filter(
      ([key, text]) => !cjk.test(text) && !['inst.ratio', 'langToggle'].includes(key),
    );
    expect(zhOnlyLatin).toEqual([]);
  });

  it('shows a name configured in both languages in the page’s language', () => {
    expect(localName('示范化工有限公司 (Demo Chemical Co.)', null, 'zh-CN')).toBe(
      '示范化工有限公司',
    );
    expect(localName('示范化工有限公司 (Demo Chemical Co.)', null, 'en')).toBe('Demo Chemical Co.');
    expect(localName('A 化工', 'A Chemicals', 'en')).toBe('A Chemicals');
    expect(localName('Reactor hall', null, 'zh-CN')).toBe('Reactor hall');
  });
});

describe('platform page route', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.stop();
  });

  it('serves /platform with the strict content security policy and its assets', async () => {
    const page = await h.app.inject({ method: 'GET', url: '/platform' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.body).toContain('/assets/platform.js');
    for (const asset of [
      'platform.js',
      'platform-i18n.js',
      'platform.css',
      'shared/api.js',
      'shared/charts.js',
      'shared/chart-registry.js',
      'views/overview.js',
      'vendor/echarts.js',
    ]) {
      expect((await h.app.inject({ method: 'GET', url: `/assets/${asset}` })).statusCode).toBe(200);
    }
  });

  it('preloads only modules it serves', async () => {
    const page = await h.app.inject({ method: 'GET', url: '/platform' });
    const hrefs = [...page.body.matchAll(/<link rel="modulepreload" href="([^"]+)"/g)].map(
      (m) => m[1] as string,
    );
    expect(hrefs).toContain('/assets/views/overview.js');
    expect(hrefs).toContain('/assets/vendor/echarts.js');
    for (const href of hrefs) {
      const asset = await h.app.inject({ method: 'GET', url: href });
      expect(asset.statusCode, href).toBe(200);
      expect(asset.headers['content-type'], href).toContain('text/javascript');
    }
  });
});
