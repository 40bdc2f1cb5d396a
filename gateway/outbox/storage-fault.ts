/**
 * Self-healing of the outbox file (issue 13): a corrupt or unreadable SQLite
 * file must never stop the gateway (no acquisition, no local gas alarm while it
 * crash-loops under `restart: unless-stopped`). The file is moved aside, kept
 * for forensics, and the outbox starts afresh; the fault is reported so the
 * gateway can raise a "local storage fault" diagnostic alarm.
 */

import { randomBytes } from 'node:crypto';
import { existsSync, renameSync } from 'node:fs';

/** What the outbox reports when it moved a corrupt file aside. */
export interface OutboxStorageFault {
  /** The outbox file that could not be used. */
  path: string;
  /** Where it was moved (with its -wal and -shm beside it, if they existed). */
  movedTo: string;
  /** What failed, with the SQLite code. */
  error: string;
  /** When, epoch ms. */
  at: number;
  /**
   * Only when the file turned corrupt while running and this process held items (at open no
   * index is known, so neither count is): the held unacknowledged items that could NOT be
   * salvaged (their rows sat on unreadable pages, or did not read back as themselves). They
   * stay in the moved file and are not sent. Before the salvage existed this counted every held
   * item; it now counts only the losses, and is `{ alarms: 0, readings: 0 }` when none.
   */
  unsent?: { alarms: number; readings: number };
  /**
   * Set with `unsent`: the held items read back from the moved file and appended to the fresh
   * outbox (new epoch, new sequence numbers, alarms first), so they are sent again. The server
   * stores them once (readings by (gateway, sensor, ts), alarm transitions by alarm id;
   * docs/durability.md).
   */
  salvaged?: { alarms: number; readings: number };
  /**
   * Only in the report made at the fault, when held telemetry is still to be copied from the
   * moved file (it is copied over later event-loop turns, so the gateway keeps polling and
   * alarming meanwhile): its readings. `salvaged` and `unsent` then count the alarms and
   * nothing yet of the telemetry; the final counts come with `onSalvageEnd`.
   */
  pending?: { readings: number };
}

/**
 * The fault in one line for the "local storage fault" alarm and the log: the SQLite error, then
 * what was salvaged, what stays unsent in the moved file and what is still being copied (when
 * the fault came while running).
 */
export function describeStorageFault(fault: OutboxStorageFault): string {
  const parts = [fault.error];
  const { salvaged, unsent, pending } = fault;
  if (salvaged && salvaged.alarms + salvaged.readings > 0) {
    parts.push(
      `${salvaged.alarms} unacknowledged alarm transition(s) and ${salvaged.readings} reading(s) salvaged from the moved file and sent again`,
    );
  }
  if (unsent && unsent.alarms + unsent.readings > 0) {
    parts.push(
      `${unsent.alarms} unacknowledged alarm transition(s) and ${unsent.readings} reading(s) could not be read and stay in the moved file, not sent`,
    );
  }
  if (pending && pending.readings > 0) {
    parts.push(
      `${pending.readings} unacknowledged reading(s) still being salvaged from the moved file (the final count is logged when done)`,
    );
  }
  return parts.join('; ');
}

/**
 * SQLite result codes that mean the file's content cannot be trusted
 * (sqlite.org/rescode.html: SQLITE_CORRUPT 11 and its extended codes,
 * SQLITE_NOTADB 26, SQLITE_FORMAT 24). I/O errors are left out on purpose: a
 * full disk or a transient read error does not make the file worthless.
 */
export function isCorruption(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return false;
  return code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB' || code === 'SQLITE_FORMAT';
}

/** `outbox.db.corrupt-20261206T232000Z`: sorts by time, no characters a shell trips on. */
export function corruptName(path: string, at: number): string {
  const stamp = new Date(at)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const target = `${path}.corrupt-${stamp}`;
  return existsSync(target) ? `${target}-${randomBytes(3).toString('hex')}` : target;
}

/**
 * Moves the database file and its WAL and shared-memory files aside. The WAL
 * keeps its suffix after the new name, so opening the moved file for
 * forensics reads what the WAL held. Throws naming the file if the rename fails.
 */
export function moveAside(path: string, at: number): string {
  const target = corruptName(path, at);
  try {
    if (existsSync(path)) renameSync(path, target);
    for (const suffix of ['-wal', '-shm']) {
      if (existsSync(path + suffix)) renameSync(path + suffix, target + suffix);
    }
  } catch (err) {
    throw new Error(
      `cannot move the corrupt uplink outbox '${path}' aside to '${target}': ${(err as Error).message}`,
      { cause: err },
    );
  }
  return target;
}

/** A new outbox epoch: 128 random bits, base64url (22 characters, protocol EPOCH_PATTERN). */
export function newEpoch(): string {
  return randomBytes(16).toString('base64url');
}

/**
 * Why a stored payload cannot be sent, or null when it reads back as the item
 * `seq` (JSON object whose `seq` is this one). Such an item is quarantined.
 */
export function readBackProblem(payload: string, seq: number): string | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch (err) {
    return `not JSON: ${(err as Error).message}`;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return 'not a JSON object';
  }
  const inside = (parsed as { seq?: unknown }).seq;
  if (inside !== seq) return `payload seq ${String(inside)} is not the row's seq ${seq}`;
  return null;
}
