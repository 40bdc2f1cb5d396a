/**
 * The emergency notifier's default HTTP client (server/linkage/http-post.ts): the part of fetch
 * the notifier relies on, against a real local HTTP server.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { httpPost } from '../../server/linkage/http-post.js';

describe('httpPost', () => {
  let server: Server;
  let url: string;
  let seen: { method: string; headers: IncomingHttpHeaders; body: string }[];
  let answer: (res: import('node:http').ServerResponse) => void;

  beforeEach(async () => {
    seen = [];
    answer = (res) => res.writeHead(202, { 'content-type': 'application/json' }).end('{"ok":1}');
    server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => {
        body += c;
      });
      req.on('end', () => {
        seen.push({ method: req.method ?? '', headers: req.headers, body });
        answer(res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/hook`;
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('POSTs the body with its headers and resolves with the status and the answer', async () => {
    const body = JSON.stringify({ alarmId: 'GT-101-gas.L2.1', note: '甲烷' });
    const response = await httpPost(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hazardwatch-delivery': 'ntf-1' },
      body,
    });
    expect(response.status).toBe(202);
    expect(response.ok).toBe(true);
    expect(await response.text()).toBe('{"ok":1}');
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ method: 'POST', body });
    expect(seen[0]!.headers['x-hazardwatch-delivery']).toBe('ntf-1');
    expect(seen[0]!.headers['content-length']).toBe(String(Buffer.byteLength(body)));
  });

  it('never follows a redirect: a 3xx comes back as a failed answer', async () => {
    answer = (res) => res.writeHead(302, { location: 'http://elsewhere.test/' }).end();
    const response = await httpPost(url, { method: 'POST', body: '{}' });
    expect(response.status).toBe(302);
    expect(response.ok).toBe(false);
    expect(seen).toHaveLength(1);
  });

  it('rejects when aborted, naming the reason, and on a refused connection', async () => {
    answer = () => {}; // never answers
    const abort = new AbortController();
    const pending = httpPost(url, { method: 'POST', body: '{}', signal: abort.signal });
    abort.abort(new Error('no answer within 5000 ms'));
    await expect(pending).rejects.toThrow();

    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await expect(httpPost(url, { method: 'POST', body: '{}' })).rejects.toThrow(/ECONNREFUSED/);
    server = createServer(); // afterEach closes something
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
});
