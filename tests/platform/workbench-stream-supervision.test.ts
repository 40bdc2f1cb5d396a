/**
 * The live stream forwards the supervision events the workbench pages refresh on: `hazard`
 * (a record changed) and `gradeChanged` (an installation's live GB 18218-2018 grade moved),
 * scoped like alarms: each user only sees its enterprises' events.
 */
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Hazard } from '../../server/supervision/hazard-chain.js';
import type { GradeChangeRecord } from '../../server/supervision/store.js';
import { waitFor } from '../server/fixtures.js';
import { type Harness, startHarness } from './harness.js';

function hazard(enterpriseId: string, hazardId: string, at: number): Hazard {
  return {
    hazardId,
    enterpriseId,
    installationId: null,
    kind: 'accident',
    severity: 'major',
    title: 'Gas detector not working',
    item: { standard: 'trial text', number: '12', text: 'no gas detection', checked: false },
    source: 'screening',
    foundBy: 'system',
    ruleId: 'gas-detector-not-working',
    subject: 'gw/GT-101',
    evidenceCount: 1,
    conditionActive: true,
    conditionClearedAt: null,
    responsible: null,
    plan: null,
    deadline: at + 86_400_000,
    rectifiedAt: null,
    rectifiedBy: null,
    rectificationEvidence: null,
    verifiedAt: null,
    verifiedBy: null,
    verification: null,
    status: 'open',
    closedAt: null,
    listingLevel: 0,
    listedAt: null,
    openedAt: at,
  };
}

function grade(enterpriseId: string, at: number): GradeChangeRecord {
  return {
    installationId: `unit-${enterpriseId}`,
    enterpriseId,
    at,
    sumRatio: 1.2,
    r: 12,
    isMajorHazard: true,
    grade: 3,
    previousGrade: null,
    inventory: [{ chemical: 'chlorine', quantityT: 6 }],
  };
}

describe('live stream: hazard and grade events', () => {
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

  /** Collects `event` frames as [name, data]. */
  async function open(user: string) {
    const token = await h.login(user);
    const abort = new AbortController();
    aborts.push(abort);
    const response = await fetch(`${base}/api/v1/stream?access_token=${token}`, {
      signal: abort.signal,
    });
    expect(response.status).toBe(200);
    const seen: [string, Record<string, unknown>][] = [];
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
            if (event && data) seen.push([event, JSON.parse(data)]);
          }
        }
      } catch {
        // aborted
      }
    })();
    return seen;
  }

  it('streams hazard changes and grade changes of the caller’s enterprises only', async () => {
    const operator = await open('op-a');
    const county = await open('reg-k2');
    const at = h.clock.now();
    for (const e of ['ent-a', 'ent-b', 'ent-c']) {
      h.events.emit('hazard', { hazard: hazard(e, `hz-${e}`, at), action: 'opened' });
      h.events.emit('gradeChanged', grade(e, at));
    }
    await waitFor(() => operator.length >= 2 && county.length >= 2, 'the events');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(operator.map(([name]) => name)).toEqual(['hazard', 'gradeChanged']);
    const hz = county[0]?.[1];
    const gc = county[1]?.[1];
    expect(county.map(([name]) => name)).toEqual(['hazard', 'gradeChanged']);
    expect(hz).toMatchObject({
      action: 'opened',
      hazard: {
        hazardId: 'hz-ent-b',
        enterpriseId: 'ent-b',
        deadline: new Date(at + 86_400_000).toISOString(),
      },
    });
    expect(gc).toEqual({
      installationId: 'unit-ent-b',
      enterpriseId: 'ent-b',
      at: new Date(at).toISOString(),
      grade: 3,
      previousGrade: null,
      isMajorHazard: true,
      r: 12,
      sumRatio: 1.2,
    });
  });
});
