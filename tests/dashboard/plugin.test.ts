import { readdir, readFile } from 'node:fs/promises';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dashboardPlugin } from '../../server/dashboard/plugin.js';

const publicDir = new URL('../../server/dashboard/public/', import.meta.url);

let app: FastifyInstance;

beforeAll(async () => {
  app = Fastify();
  await app.register(dashboardPlugin);
  await app.ready();
});

afterAll(async () => {
  await app.close();
});

describe('dashboard page', () => {
  it('serves index.html at / in Simplified Chinese with its module script and style sheet', async () => {
    const res = await app.inject({ method: 'GET', url: '/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['cache-control']).toBe('no-cache');
    expect(res.body).toMatch(/<html lang="zh-CN">/);
    expect(res.body).toContain('<script type="module" src="/assets/app.js"></script>');
    expect(res.body).toContain('<link rel="stylesheet" href="/assets/app.css" />');
    expect(res.body).toContain('HazardWatch 危险化学品安全监测预警');
  });

  it('serves the page with the ids browser tests rely on', async () => {
    const res = await app.inject({ method: 'GET', url: '/?lang=en' });
    expect(res.statusCode).toBe(200);
    for (const id of ['connection-state', 'active-alarms', 'recent-alarms', 'sensor-grid']) {
      expect(res.body).toContain(`id="${id}"`);
    }
    expect(res.body).toMatch(/id="active-alarms"[^>]*aria-live="assertive"/s);
  });

  it('sends a content security policy that allows only its own scripts, styles and API', async () => {
    const res = await app.inject({ method: 'GET', url: '/' });
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("object-src 'none'");
    expect(res.headers['x-content-type-options']).toBe('nosniff');
  });

  it('answers a revalidation with 304 when the page did not change', async () => {
    const first = await app.inject({ method: 'GET', url: '/' });
    const etag = String(first.headers.etag);
    expect(etag).toMatch(/^".+"$/);
    const second = await app.inject({
      method: 'GET',
      url: '/',
      headers: { 'if-none-match': etag },
    });
    expect(second.statusCode).toBe(304);
    expect(second.body).toBe('');
  });
});

describe('dashboard assets', () => {
  it.each([
    ['/assets/app.css', 'text/css; charset=utf-8'],
    ['/assets/app.js', 'text/javascript; charset=utf-8'],
    ['/assets/format.js', 'text/javascript; charset=utf-8'],
    ['/assets/i18n.js', 'text/javascript; charset=utf-8'],
    ['/assets/icon.svg', 'image/svg+xml'],
  ])('serves %s as %s, uncached without revalidation', async (url, contentType) => {
    const res = await app.inject({ method: 'GET', url });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe(contentType);
    expect(res.headers['cache-control']).toBe('no-cache');
    const name = url.slice('/assets/'.length);
    expect(res.rawPayload.equals(await readFile(new URL(name, publicDir)))).toBe(true);
  });

  it('serves every asset that index.html refers to', async () => {
    const page = (await app.inject({ method: 'GET', url: '/' })).body;
    const refs = [...page.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThanOrEqual(3);
    for (const ref of refs) {
      expect((await app.inject({ method: 'GET', url: ref })).statusCode, ref).toBe(200);
    }
  });

  it('serves every module that the scripts import', async () => {
    const files = (await readdir(publicDir)).filter((name) => name.endsWith('.js'));
    for (const file of files) {
      const source = await readFile(new URL(file, publicDir), 'utf8');
      for (const [, target] of source.matchAll(/from '\.\/([^']+)'/g)) {
        const res = await app.inject({ method: 'GET', url: `/assets/${target}` });
        expect(res.statusCode, `${file} imports ${target}`).toBe(200);
      }
    }
  });
});

describe('anything else', () => {
  it.each([
    '/index.html',
    '/assets/',
    '/assets/index.html',
    '/assets/format.d.ts',
    '/assets/APP.JS',
    '/assets/app.js/',
    '/assets/nope.js',
    '/assets/../plugin.ts',
    '/assets/..%2Fplugin.ts',
    '/assets/..%2fplugin.ts',
    '/assets/%2e%2e%2fplugin.ts',
    '/assets/%2E%2E/plugin.ts',
    '/assets/..%5Cplugin.ts',
    '/assets/%2e%2e%2f%2e%2e%2fpackage.json',
    '/assets/..%252Fplugin.ts',
    '/assets/app.js%00.svg',
    '/public/app.js',
    '/plugin.ts',
  ])('answers %s with 404', async (url) => {
    const res = await app.inject({ method: 'GET', url });
    expect(res.statusCode).toBe(404);
    expect(res.body).not.toContain('dashboardPlugin');
  });

  it('answers other methods on the page with 404', async () => {
    const res = await app.inject({ method: 'POST', url: '/', payload: {} });
    expect(res.statusCode).toBe(404);
  });
});
