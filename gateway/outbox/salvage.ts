/**
 * Salvage from a corrupt outbox file (issue 13 follow-up): when the file turns
 * corrupt while the gateway runs, the items this process still held
 * unacknowledged are read back from the moved-aside copy, so that an alarm
 * transition reaches the server if any copy of it can still be read.
 *
 * Neither the outbox's index nor the uplink keeps payloads in memory (only
 * seq, lane and sizes), so the moved file is the only source. It is read
 * best-effort: opened read-only (the copy stays as found, for forensics), one
 * point lookup by primary key per item, so an unreadable b-tree page loses
 * only the rows stored on it (or reached through it), not the rest; each
 * payload must read back as its item (`readBackProblem`) or it is skipped.
 */
import Database from 'better-sqlite3';
import { readBackProblem } from './storage-fault.js';
import type { OutboxEntry } from './types.js';

/** One held item read back from the moved file: its payload, or why it cannot be sent. */
export type HeldRead =
  | { entry: OutboxEntry; payload: string }
  | { entry: OutboxEntry; problem: string };

/**
 * Reads the payloads of `held` from the moved file `file`, in the order of
 * `held`, one item at a time (the caller commits them in bounded chunks, so a
 * large telemetry backlog is never all in memory). Lifecycle: the file is
 * opened read-only on the first `next()` and closed when the generator ends or
 * is returned from early. Never throws: every failure is a `problem`.
 */
export function* readHeld(file: string, held: readonly OutboxEntry[]): Generator<HeldRead> {
  let db: Database.Database;
  let get: Database.Statement<[number], unknown>;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (err) {
    const problem = `the moved file cannot be opened: ${describe(err)}`;
    for (const entry of held) yield { entry, problem };
    return;
  }
  try {
    try {
      get = db.prepare<[number], unknown>('SELECT payload FROM items WHERE seq = ?').pluck();
    } catch (err) {
      // The schema itself (page 1) is unreadable: no row can be found.
      const problem = `the moved file's schema cannot be read: ${describe(err)}`;
      for (const entry of held) yield { entry, problem };
      return;
    }
    for (const entry of held) {
      let payload: unknown;
      try {
        payload = get.get(entry.seq);
      } catch (err) {
        yield { entry, problem: `cannot be read: ${describe(err)}` };
        continue;
      }
      if (payload === undefined) {
        yield { entry, problem: 'not found in the moved file' };
        continue;
      }
      if (typeof payload !== 'string') {
        yield {
          entry,
          problem: `stored as ${payload === null ? 'null' : typeof payload}, not text`,
        };
        continue;
      }
      const problem = readBackProblem(payload, entry.seq);
      yield problem === null ? { entry, payload } : { entry, problem };
    }
  } finally {
    db.close();
  }
}

/**
 * The payload of a salvaged item under its new number: `seq` (and `epoch`, when
 * the payload carries one) replaced in place, every other field as stored.
 * Keys keep their order, so the envelope head the server reads first
 * (protocol/envelope.ts: v, gatewayId, enterpriseId, seq, epoch) stays intact.
 * `payload` must have passed `readBackProblem` (a JSON object).
 */
export function restamp(payload: string, seq: number, epoch: string): string {
  const item = JSON.parse(payload) as Record<string, unknown>;
  item.seq = seq;
  if (Object.hasOwn(item, 'epoch')) item.epoch = epoch;
  return JSON.stringify(item);
}

function describe(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  return typeof code === 'string' ? `${code}: ${message}` : message;
}
