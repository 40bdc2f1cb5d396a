/**
 * One fetch wrapper for both pages. `request` never throws for an HTTP error: it resolves to
 * `{ ok, status, data, message }`, so a 409 (a double acknowledgement) becomes a message on the
 * page instead of an uncaught rejection; a network failure is status 0 with its message.
 * `getJson` is for callers that treat any failure as one (it throws an Error with the message).
 */

/**
 * @typedef {{ ok: boolean, status: number, data: any, message: string }} ApiResult
 * @param {{
 *   base?: string,
 *   token?: () => string | null,
 *   onUnauthorized?: () => void,
 *   onResponse?: (response: Response, sentAt: number, receivedAt: number) => void,
 * }} [options]
 */
export function createApi(options = {}) {
  const base = options.base ?? '/api/v1';

  /** @returns {Record<string, string>} */
  function headers(json) {
    const h = { accept: 'application/json' };
    const token = options.token?.();
    if (token) h.authorization = `Bearer ${token}`;
    if (json) h['content-type'] = 'application/json';
    return h;
  }

  /**
   * @param {string} method
   * @param {string} path under the base (starting with /)
   * @param {unknown} [body]
   * @returns {Promise<ApiResult>}
   */
  async function request(method, path, body) {
    const sentAt = Date.now();
    let response;
    try {
      response = await fetch(`${base}${path}`, {
        method,
        headers: headers(body !== undefined),
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
      });
    } catch (err) {
      return {
        ok: false,
        status: 0,
        data: null,
        message: err instanceof Error ? err.message : String(err),
      };
    }
    options.onResponse?.(response, sentAt, Date.now());
    let data = null;
    if (response.headers.get('content-type')?.includes('json')) {
      data = await response.json().catch(() => null);
    }
    if (response.status === 401 && options.token?.()) options.onUnauthorized?.();
    const message = response.ok ? '' : (data?.message ?? `HTTP ${response.status}`);
    return { ok: response.ok, status: response.status, data, message };
  }

  /** @param {string} path */
  async function getJson(path) {
    const result = await request('GET', path);
    if (!result.ok) throw new Error(`GET ${base}${path}: ${result.message}`);
    return result.data;
  }

  /**
   * Fetches a file with the token and hands it to the browser as a download.
   * @param {string} path
   * @param {string} filename
   * @returns {Promise<ApiResult>}
   */
  async function download(path, filename) {
    let response;
    try {
      response = await fetch(`${base}${path}`, { headers: headers(false), cache: 'no-store' });
    } catch (err) {
      return {
        ok: false,
        status: 0,
        data: null,
        message: err instanceof Error ? err.message : String(err),
      };
    }
    if (!response.ok) {
      const data = await response.json().catch(() => null);
      return {
        ok: false,
        status: response.status,
        data,
        message: data?.message ?? `HTTP ${response.status}`,
      };
    }
    const url = URL.createObjectURL(await response.blob());
    const link = document.createElement('a');
    link.href = url;
    link.download = filename;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    return { ok: true, status: response.status, data: null, message: '' };
  }

  return {
    request,
    getJson,
    download,
    get: (path) => request('GET', path),
    post: (path, body) => request('POST', path, body ?? {}),
  };
}
