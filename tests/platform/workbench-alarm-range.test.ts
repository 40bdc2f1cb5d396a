/**
 * The alarm ledger's time-range query (listBetween: keyset pages, scoped by enterprise) and the
 * workbench desk built on it: the desk reads the alarms of its time filter, not the newest
 * 20,000, and without a filter still shows an unclosed alarm older than its 30 days.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AlarmPageCursor, AlarmRecord } from '../../server/alarms/ledger.js';
import { type Harness, startHarness } from './harness.js';

const MIN = 60_000;
const DAY = 24 * 60 * MIN;
let h: Harness;
let regC1: string;

beforeEach(async () => {
  h = await startHarness();
  regC1 = await h.login('reg-c1');
});
afterEach(async () => {
  await h.stop();
});

const get = (token: string, url: string) =>
  h.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
const ids = (alarms: AlarmRecord[]) => alarms.map((a) => a.alarmId);

describe('alarm ledger listBetween', () => {
  it('pages the alarms raised between from and to, oldest first, in the given enterprises only', async () => {
    const t0 = h.clock.now();
    for (let i = 0; i < 7; i++) {
      await h.raise(i % 2 ? 'ent-a' : 'ent-b', { alarmId: `r-${i}`, ts: t0 + i * MIN });
    }
    await h.raise('ent-c', { alarmId: 'elsewhere', ts: t0 + 3 * MIN });
    const seen: string[] = [];
    let after: AlarmPageCursor | null = null;
    let pages = 0;
    do {
      const page = await h.ledger.listBetween({
        from: t0 + MIN,
        to: t0 + 5 * MIN,
        enterpriseIds: ['ent-a', 'ent-b'],
        limit: 2,
        after,
      });
      seen.push(...ids(page.alarms));
      after = page.next;
      pages++;
    } while (after);
    expect(seen).toEqual(['r-1', 'r-2', 'r-3', 'r-4', 'r-5']);
    expect(pages).toBe(3);
    expect(
      (await h.ledger.listBetween({ from: t0, to: t0 + DAY, enterpriseIds: [] })).alarms,
    ).toEqual([]);
    await expect(h.ledger.listBetween({ from: t0, to: t0, limit: 0 })).rejects.toThrow(
      'listBetween limit must be an integer from 1 to 10000 (got 0)',
    );
  });

  it('keeps alarms of the same millisecond apart by identity across pages', async () => {
    const t0 = h.clock.now();
    for (const id of ['s-3', 's-1', 's-2']) await h.raise('ent-a', { alarmId: id, ts: t0 });
    const first = await h.ledger.listBetween({ from: t0, to: t0, limit: 2 });
    const second = await h.ledger.listBetween({ from: t0, to: t0, limit: 2, after: first.next });
    expect([...ids(first.alarms), ...ids(second.alarms)]).toEqual(['s-1', 's-2', 's-3']);
    expect(second.next).toBeNull();
  });
});

describe('workbench desk over the time-range query', () => {
  it('filters on the alarm time through the ledger, however many newer alarms there are', async () => {
    const t0 = h.clock.now();
    await h.raise('ent-a', { alarmId: 'in-window', ts: t0 - 2 * DAY });
    await h.raise('ent-a', { alarmId: 'before', ts: t0 - 5 * DAY });
    const res = await get(regC1, `/api/v1/workbench/alarms?from=${t0 - 3 * DAY}&to=${t0 - DAY}`);
    expect(res.statusCode).toBe(200);
    expect(res.json().items.map((i: { alarm: { id: string } }) => i.alarm.id)).toEqual([
      'in-window',
    ]);
  });

  it('without a filter shows the last 30 days and every alarm not yet closed, however old', async () => {
    const t0 = h.clock.now();
    await h.raise('ent-a', { alarmId: 'old-open', ts: t0 - 40 * DAY });
    await h.raise('ent-b', { alarmId: 'recent', ts: t0 - DAY });
    await h.raise('ent-a', { alarmId: 'old-closed', ts: t0 - 45 * DAY });
    const key = { enterpriseId: 'ent-a', gatewayId: 'gw-ent-a', alarmId: 'old-closed' };
    await h.platform.disposal.acknowledge(key, 'tester');
    await h.platform.disposal.close(key, 'tester', 'closed long ago');
    const body = (await get(regC1, '/api/v1/workbench/alarms?sort=newest')).json();
    const shown = body.items.map((i: { alarm: { id: string } }) => i.alarm.id);
    expect(shown).toContain('old-open');
    expect(shown).toContain('recent');
    expect(shown).not.toContain('old-closed');
  });
});
