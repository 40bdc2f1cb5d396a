/**
 * One Server-Sent Events client for both pages (/api/v1/stream). The browser reconnects by
 * itself while the source is CONNECTING; when it gives up (CLOSED: an HTTP error, a wrong
 * content type) this retries with back-off from `minDelayMs` to `maxDelayMs`. Event data that
 * is not JSON is ignored (the next snapshot repairs whatever it meant).
 */

/**
 * @param {{
 *   url: () => string,
 *   events: Record<string, (data: any) => void>,
 *   onState?: (state: 'connecting'|'open'|'closed') => void,
 *   onOpen?: () => void,
 *   minDelayMs?: number,
 *   maxDelayMs?: number,
 * }} options
 * @returns {{ close(): void }}
 */
export function openStream(options) {
  const minDelay = options.minDelayMs ?? 1_000;
  const maxDelay = options.maxDelayMs ?? 30_000;
  let delay = minDelay;
  let source = null;
  let timer = null;
  let closed = false;

  const connect = () => {
    timer = null;
    if (closed) return;
    options.onState?.('connecting');
    const current = new EventSource(options.url());
    source = current;
    current.addEventListener('open', () => {
      delay = minDelay;
      options.onState?.('open');
      options.onOpen?.();
    });
    current.addEventListener('error', () => {
      options.onState?.('closed');
      if (current.readyState === EventSource.CLOSED && !closed) {
        current.close();
        timer = setTimeout(connect, delay);
        delay = Math.min(delay * 2, maxDelay);
      }
    });
    for (const [name, handler] of Object.entries(options.events)) {
      current.addEventListener(name, (message) => {
        let data;
        try {
          data = JSON.parse(message.data);
        } catch {
          return;
        }
        handler(data);
      });
    }
  };
  connect();
  return {
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      source?.close();
    },
  };
}
