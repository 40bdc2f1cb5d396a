/**
 * Issue 19: the telemetry backlog held the event loop for one long commit. The SQLite store
 * committed everything queued in one synchronous run (groups of up to 50,000 rows, about a
 * quarter of a second at ~190k rows/s), so an alarm arriving behind a telemetry backlog waited
 * for all of it. Now a turn commits groups for about `commitBudgetMs` and then hands the loop
 * back; nothing is dropped or reordered.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { SqliteTelemetryStore } from '../../server/store/sqlite-store.js';
import { batch, T0 } from './fixtures.js';

const BATCHES = 40;
const ROWS = 1_000;

describe('the telemetry store under a backlog', () => {
  let store: SqliteTelemetryStore;

  beforeEach(async () => {
    store = new SqliteTelemetryStore({ path: ':memory:', clock: new ManualClock(T0) });
    await store.start();
  });
  afterEach(async () => {
    await store.stop();
  });

  it('a telemetry backlog held the event loop for one long commit: other work runs between its groups', async () => {
    const resolved: number[] = [];
    let resolvedWhenLoopWasFree = -1;
    const writes = Array.from({ length: BATCHES }, (_, b) =>
      store
        .writeBatch(
          batch(
            Array.from({ length: ROWS }, (_, r) => ({ sensorId: `S${r}`, value: b, ts: T0 + b })),
            { seq: b + 1 },
          ),
        )
        .then(() => {
          resolved.push(b);
          // Once the first group is in: when does anything else (an alarm) get the loop?
          if (b === 0) setImmediate(() => (resolvedWhenLoopWasFree = resolved.length));
        }),
    );
    await Promise.all(writes);

    expect(resolvedWhenLoopWasFree).toBeGreaterThan(0);
    expect(resolvedWhenLoopWasFree).toBeLessThan(BATCHES);
    // In order and complete.
    expect(resolved).toEqual(Array.from({ length: BATCHES }, (_, b) => b));
    const latest = store.latest();
    expect(latest).toHaveLength(ROWS);
    expect(latest.every((r) => r.value === BATCHES - 1)).toBe(true);
  });

  it('stop() commits the whole backlog before it closes', async () => {
    const writes = Array.from({ length: 10 }, (_, b) =>
      store.writeBatch(batch([{ sensorId: 'S1', value: b, ts: T0 + b }], { seq: b + 1 })),
    );
    await store.stop();
    await expect(Promise.all(writes)).resolves.toHaveLength(10);
  });
});
