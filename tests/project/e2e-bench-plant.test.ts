/**
 * The e2e benchmark's plant (bench/e2e-plant.ts) runs the central server and the gateway each in
 * its own process, as deployed, and reads their alarm hops over IPC on the wall clock (issue 19):
 * one real alarm from the Modbus simulator through the gateway process, the server process and the
 * signed webhook
 * must carry every hop, in path order, inside the window the bench process saw.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { E2ePlant } from '../../bench/e2e-plant.js';
import type { ServerHop } from '../../bench/e2e-server.js';
import { HOPS, HopTracer, wallNow } from '../../bench/e2e-trace.js';

const RULES = `version: 1
rules:
  - id: GT-101-gas
    sensor: GT-101
    type: gas
    gas: methane
    measure: LEL
    level1: 20 # %LEL
    level2: 40 # %LEL, GB/T 50493-2019 §5.5.3 item 1 allows at most 50
    deadband: 2 # %LEL
    onDelayMs: 0
`;

describe('the e2e bench plant, server and gateway in their own processes', () => {
  let tmp: string;
  let plant: E2ePlant;
  const tracer = new HopTracer();
  const serverHops: ServerHop[] = [];
  let serverPid: number | undefined;
  let pagedId = '';
  const waiters: { match: (h: ServerHop) => boolean; resolve: () => void }[] = [];
  /** Resolves when the server process has reported a matching hop (at once if it already has). */
  const serverReported = (match: (h: ServerHop) => boolean) =>
    new Promise<void>((resolve) => {
      if (serverHops.some(match)) resolve();
      else waiters.push({ match, resolve });
    });

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'hw-e2e-plant-'));
    const rules = path.join(tmp, 'rules.yaml');
    await writeFile(rules, RULES);
    plant = new E2ePlant({
      dir: tmp,
      pollMs: 100,
      ruleFiles: [rules],
      onServerHop: (hop) => {
        serverHops.push(hop);
        tracer.serverHop(hop);
        for (const w of waiters.filter((w) => w.match(hop))) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
      },
      onServerGc: (pause) => tracer.gcPause(pause),
      onEdgeHop: (hop) => tracer.edgeHop(hop),
      onGatewayGc: (pause) => tracer.gcPause(pause),
    });
    await plant.start();
    serverPid = plant.server?.pid;
    tracer.attach({ receiver: plant.receiver });
  }, 90_000);

  afterAll(async () => {
    tracer.stop();
    await plant?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }, 30_000);

  it('pages the centre through gateway and server processes, every hop marked in path order', async () => {
    expect(serverPid).toBeGreaterThan(0);
    expect(serverPid).not.toBe(process.pid);
    const gatewayPid = plant.gateway?.pid;
    expect(gatewayPid).toBeGreaterThan(0);
    expect([process.pid, serverPid]).not.toContain(gatewayPid);

    const changed = wallNow();
    plant.gasDetector.setValue(0, 60);
    const page = await plant.receiver.waitFor(
      (n) => n.level === 2 && n.sensorId === 'GT-101',
      20_000,
    );
    const seenAt = wallNow();
    pagedId = page.alarmId;
    tracer.mark(page.alarmId, 'changed', changed);
    // The centre's answer reaches the notifier after the receiver saw the page.
    await serverReported((h) => h.alarmId === page.alarmId && h.hop === 'answered');

    const marks = tracer.get(page.alarmId)!;
    for (const hop of HOPS) expect(marks[hop], hop).toBeTypeOf('number');
    // Path order, across both processes: each mark at or after the one before it. The
    // cross-process hops compare wall clocks of two processes on one machine.
    const times = HOPS.slice(0, -1).map((h) => marks[h]!);
    for (let i = 1; i < times.length; i++) {
      expect(times[i]!, `${HOPS[i]} after ${HOPS[i - 1]}`).toBeGreaterThanOrEqual(times[i - 1]!);
    }
    expect(marks.centre_received!).toBeLessThanOrEqual(seenAt);
    // The server's marks came over IPC from the server process, for this alarm.
    const fromServer = serverHops.filter((h) => h.alarmId === page.alarmId).map((h) => h.hop);
    expect(fromServer).toEqual(
      expect.arrayContaining(['received', 'ledger-committed', 'sending', 'answered']),
    );

    const rows = tracer.breakdown([page.alarmId], { path: 'modbus' });
    expect(rows.map((r) => r.hop)).toEqual(HOPS.slice(1));
    expect(rows.every((r) => r.alarms === 1 && r.value >= 0)).toBe(true);
  }, 30_000);

  it('reports the clear committed by the server’s ledger (the bench waits on it between samples)', async () => {
    plant.gasDetector.setValue(0, 1);
    // The test's timeout fails it if the clear is never reported.
    await serverReported(
      (h) => h.alarmId === pagedId && h.hop === 'ledger-committed' && h.transition === 'cleared',
    );
    expect(pagedId).toMatch(/^GT-101-gas\.level2\./);
  }, 15_000);
});
