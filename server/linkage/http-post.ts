/**
 * The emergency notifier's default HTTP client: node:http(s) with keep-alive
 * agents behind the small part of the fetch API the notifier uses (POST with
 * headers, a body, an abort signal; `status`, `ok`, the body as bytes).
 *
 * Why not global fetch: undici's fetch passes each request through several
 * promise and stream stages before the first byte is written; measured here
 * (issue 19) a POST to a local receiver took 1.04 ms with fetch and 0.55 ms
 * with http.request (p50, keep-alive both). The page is the one request that
 * should not pay for that. Redirects are never followed (the notifier asks
 * for `redirect: 'manual'` and treats a 3xx as a failure), which is also what
 * http.request does.
 *
 * Lifecycle: none; the agents keep idle connections open for the next page
 * (Node unrefs idle keep-alive sockets: they never hold the process open).
 */
import http from 'node:http';
import https from 'node:https';

const agents = {
  http: new http.Agent({ keepAlive: true }),
  https: new https.Agent({ keepAlive: true }),
};

/** POSTs `init.body` to `url` and resolves with the whole answer; rejects on network errors or abort. */
export const httpPost = ((input: string | URL | Request, init: RequestInit = {}) => {
  const url = new URL(String(input));
  const secure = url.protocol === 'https:';
  if (!secure && url.protocol !== 'http:') {
    return Promise.reject(new Error(`unsupported protocol '${url.protocol}' in ${url.href}`));
  }
  const body = typeof init.body === 'string' ? init.body : '';
  const headers: Record<string, string> = {
    ...(init.headers as Record<string, string> | undefined),
    'content-length': String(Buffer.byteLength(body)),
  };
  return new Promise<Response>((resolve, reject) => {
    const request = (secure ? https : http).request(
      url,
      {
        method: init.method ?? 'POST',
        headers,
        agent: secure ? agents.https : agents.http,
        ...(init.signal ? { signal: init.signal } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          // The Response constructor refuses 1xx (and 0): such an answer is a failure anyway.
          if (status < 200 || status > 599) {
            reject(new Error(`unexpected HTTP status ${status}`));
            return;
          }
          const empty = status === 204 || status === 205 || status === 304;
          resolve(new Response(empty ? null : Buffer.concat(chunks), { status }));
        });
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}) as typeof fetch;
