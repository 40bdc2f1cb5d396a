/**
 * Which SQLite file the embedded telemetry store uses, and whether its writes
 * may run in a thread of their own (issue 19).
 *
 * Telemetry gets a file of its own beside the ledger's (`store.path`
 * `data/hazardwatch.db` → `data/hazardwatch-telemetry.db`, or
 * `store.telemetryPath`), written by a worker thread: 50,000 inserted rows a
 * second then never hold the event loop that alarms arrive on, and the ledger's
 * commits never wait for telemetry's write lock (SQLite lets one connection of
 * a file write at a time).
 *
 * A file made before that (telemetry tables inside `store.path`) keeps its
 * telemetry where it is, written on the main thread as before: moving history
 * silently would hide it from the platform. The server says so at start.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { StoreConfig } from './config.js';
import { isMemoryPath } from './sqlite.js';

export interface TelemetryFile {
  path: string;
  writer: 'inline' | 'thread';
  /** Why the writes stay on the main thread, when they do for a reason worth telling. */
  note?: string;
}

/** `data/hazardwatch.db` → `data/hazardwatch-telemetry.db`. */
export function defaultTelemetryPath(storePath: string): string {
  const ext = path.extname(storePath);
  const base = ext ? storePath.slice(0, -ext.length) : storePath;
  return `${base}-telemetry${ext || '.db'}`;
}

/** Whether the SQLite file at `file` already holds telemetry tables (a file of the shared layout). */
function holdsTelemetry(file: string): boolean {
  if (!existsSync(file)) return false;
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return (
      db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'readings'").get() !==
      undefined
    );
  } finally {
    db.close();
  }
}

export function telemetryFileOf(store: Pick<StoreConfig, 'path' | 'telemetryPath'>): TelemetryFile {
  if (store.telemetryPath !== undefined) {
    const shared =
      isMemoryPath(store.telemetryPath) ||
      path.resolve(store.telemetryPath) === path.resolve(store.path);
    return { path: store.telemetryPath, writer: shared ? 'inline' : 'thread' };
  }
  if (isMemoryPath(store.path)) return { path: store.path, writer: 'inline' };
  if (holdsTelemetry(path.resolve(store.path))) {
    return {
      path: store.path,
      writer: 'inline',
      note: `'${store.path}' holds telemetry beside the alarm ledger (a file from before telemetry had its own), so telemetry stays there and is written on the alarm thread; set store.telemetryPath to '${store.path}' to keep this layout without this note`,
    };
  }
  return { path: defaultTelemetryPath(store.path), writer: 'thread' };
}
