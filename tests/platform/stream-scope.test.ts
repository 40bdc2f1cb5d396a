import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from '../server/fixtures.js';
import { type Harness, startHarness } from './harness.js';

describe('live stream scoping', () => {
  let h: Harness;
  let base: string;
  const aborts: AbortController[] = [];

  beforeEach(async () => {
    h = await startHarness();
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
  });

  afterEach(async () => {
    for (const a of aborts) a.abort();
    await h.stop();
  });

  /** Opens the stream as `user` and collects `event` names with their enterpriseId. */
  async function open(user: string) {
    const token = await h.login(user);
    const abort = new AbortController();
    aborts.push(abort);
    const response = await fetch(
      `${base}/api/v1/stream?access_token=${encodeURIComponent(token)}`,
      {
        signal: abort.signal,
      },
    );
    expect(response.status).toBe(200);
    const seen: string[] = [];
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    void (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          buffer += decoder.decode(value, { stream: true });
          for (let cut = buffer.indexOf('\n\n'); cut >= 0; cut = buffer.indexOf('\n\n')) {
            const frame = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            const event = /^event: (\w+)$/m.exec(frame)?.[1];
            const data = /^data: (.*)$/m.exec(frame)?.[1];
            if (event && data)
              seen.push(`${event}:${(JSON.parse(data) as { enterpriseId: string }).enterpriseId}`);
          }
        }
      } catch {
        // aborted
      }
    })();
    return seen;
  }

  it('streams each user only the enterprises in its scope', async () => {
    const operator = await open('op-a');
    const county = await open('reg-k2');
    const centre = await open('ecc-p2');
    for (const e of ['ent-a', 'ent-b', 'ent-c', 'ent-d']) await h.raise(e);
    await waitFor(
      () => operator.length >= 1 && county.length >= 1 && centre.length >= 1,
      'the alarms',
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(operator).toEqual(['alarm:ent-a']);
    expect(county).toEqual(['alarm:ent-b']);
    expect(centre).toEqual(['alarm:ent-d']);
  });

  it('refuses the stream with a made-up token', async () => {
    const response = await fetch(`${base}/api/v1/stream?access_token=made-up`);
    expect(response.status).toBe(401);
  });
});
