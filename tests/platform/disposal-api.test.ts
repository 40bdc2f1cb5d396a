import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EscalationNotice } from '../../server/platform/platform.js';
import { type Harness, startHarness } from './harness.js';

describe('alarm disposal through the API', () => {
  let h: Harness;
  let token: string;

  beforeEach(async () => {
    h = await startHarness();
    token = await h.login('op-a');
  });

  afterEach(async () => {
    await h.stop();
  });

  const post = async (url: string, payload: object = {}, as = token) => {
    const response = await h.app.inject({
      method: 'POST',
      url,
      headers: { authorization: `Bearer ${as}` },
      payload,
    });
    return { status: response.statusCode, body: response.json() as Record<string, unknown> };
  };

  it('closes the loop: acknowledge, assign, measures, close with a note, all in the chained ledger', async () => {
    const id = await h.raise('ent-a');
    expect((await post(`/api/v1/alarms/${id}/acknowledge`, { note: 'on it' })).status).toBe(200);
    expect(
      (await post(`/api/v1/alarms/${id}/assign`, { assignee: 'shift lead Wang' })).status,
    ).toBe(200);
    expect(
      (await post(`/api/v1/alarms/${id}/measures`, { measure: '关闭阀门 XV-12，开启排风' })).status,
    ).toBe(200);
    const closed = await post(`/api/v1/alarms/${id}/close`, { note: 'gasket replaced, re-tested' });
    expect(closed.status).toBe(200);
    expect(closed.body.disposition).toMatchObject({
      status: 'closed',
      acknowledgedBy: 'op-a',
      assignee: 'shift lead Wang',
      measures: 1,
      closedBy: 'op-a',
    });
    const history = await h.app.inject({
      method: 'GET',
      url: `/api/v1/alarms/${id}/disposal`,
      headers: { authorization: `Bearer ${token}` },
    });
    const events = (
      history.json() as { events: { action: string; hash: string; prevHash: string }[] }
    ).events;
    expect(events.map((e) => e.action)).toEqual([
      'raised',
      'acknowledged',
      'assigned',
      'measure',
      'closed',
    ]);
    expect((await h.platform.disposal.verify()).ok).toBe(true);
  });

  it('answers 409 for a step the state does not allow and 400 for a close without a note', async () => {
    const id = await h.raise('ent-a');
    expect((await post(`/api/v1/alarms/${id}/close`, { note: 'x' })).status).toBe(409);
    expect((await post(`/api/v1/alarms/${id}/close`, {})).status).toBe(400);
    await post(`/api/v1/alarms/${id}/acknowledge`);
    expect((await post(`/api/v1/alarms/${id}/acknowledge`)).status).toBe(409);
  });

  it('addresses an alarm by its identity, an id with a slash and spaces URL-encoded', async () => {
    const id = await h.raise('ent-a', { alarmId: 'GT-101/gas L2 #1' });
    expect(id.path).toBe('ent-a/gw-ent-a/GT-101%2Fgas%20L2%20%231');
    expect((await post(`/api/v1/alarms/${id}/acknowledge`)).body.disposition).toMatchObject({
      alarmId: 'GT-101/gas L2 #1',
      enterpriseId: 'ent-a',
      gatewayId: 'gw-ent-a',
      status: 'acknowledged',
    });
    // The same alarm id under another gateway is another alarm: unknown here, so 403.
    const other = await post(
      `/api/v1/alarms/ent-a/gw-other/${encodeURIComponent(id.alarmId)}/acknowledge`,
    );
    expect(other.status).toBe(403);
  });

  it('streams the disposal change to dashboards', async () => {
    const seen: string[] = [];
    h.events.on('disposal', (d) => seen.push(`${d.alarmId}:${d.status}`));
    const id = await h.raise('ent-a');
    await post(`/api/v1/alarms/${id}/acknowledge`);
    expect(seen).toEqual([`${id.alarmId}:acknowledged`]);
  });

  it('escalates an alarm left alone to county, city and province, each level once', async () => {
    const notices: EscalationNotice[] = [];
    h.events.on('escalation', (n) => notices.push(n));
    const id = await h.raise('ent-b');
    h.clock.advance(59_000);
    await h.platform.tick();
    expect(notices).toHaveLength(0);
    h.clock.advance(1_000); // 60 s: county
    await h.platform.tick();
    await h.platform.tick();
    h.clock.advance(300_000); // past city and province
    await h.platform.tick();
    await h.platform.tick();
    expect(notices.map((n) => n.to)).toEqual(['county', 'city', 'province']);
    expect((await h.platform.disposal.disposition(id))?.escalationLevel).toBe(3);
    expect(h.platform.counters.escalations).toBe(3);
  });

  it('does not escalate an acknowledged alarm until its disposal is overdue', async () => {
    const id = await h.raise('ent-a');
    await post(`/api/v1/alarms/${id}/acknowledge`);
    h.clock.advance(300_000);
    expect(await h.platform.tick()).toEqual([]);
    h.clock.advance(300_000); // 600 s: disposal deadline for the county
    expect((await h.platform.tick()).map((e) => e.detail.to)).toEqual(['county']);
  });
});
