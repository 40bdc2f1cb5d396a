/**
 * Alarm state that survives a gateway restart (ISA-18.2: an alarm acknowledged,
 * shelved or out of service stays so after a restart; an unacknowledged one is
 * still unacknowledged). The engine loads it once at construction and saves it
 * after every call that changed state.
 *
 * `FileAlarmStateStore` writes JSON atomically: write a temp file in the same
 * folder, fsync it, rename it over the old one, fsync the folder. A crash leaves
 * either the old or the new file, never a torn one. Every store must pass the
 * shared suite in tests/edge/state-store.test.ts.
 */
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { createLogger } from '../common/logger.js';

const log = createLogger('edge.state');

/** One alarm point's state (key `${ruleId}.${limitName}`). */
export interface PersistedPoint {
  readonly active: boolean;
  readonly alarmId: string;
  readonly raisedAt: number;
  readonly raisedValue: number;
  readonly lastIdTs: number;
  readonly open: boolean;
  readonly acked: boolean;
  readonly ackedBy: string;
  readonly latchedWaiting: boolean;
  readonly shelve: 'none' | 'timed' | 'one-shot';
  readonly shelvedUntil: number;
  readonly shelvedBy: string;
  readonly suppressed: boolean;
  readonly outOfService: boolean;
  readonly overrideBy: string;
  /** Latest signal value and whether it was usable (hot reload only). */
  readonly x?: number;
  readonly usable?: boolean;
  /** Vote / combination: which inputs held (1) when saved. */
  readonly flags?: readonly number[];
}

export interface PersistedAlarmState {
  readonly version: 1;
  readonly savedAt: number;
  /** Points not in state normal, by key. */
  readonly points: Readonly<Record<string, PersistedPoint>>;
}

/**
 * Where the engine keeps its alarm state. Lifecycle: no start/stop; load() is
 * called once (constructor), save() after each state change, synchronously, so
 * a transition the engine returned is on disk before the caller sees it.
 * Guarantees: save() is atomic (all or nothing); load() returns undefined when
 * nothing was saved yet, and throws on a file it cannot trust.
 */
export interface AlarmStateStore {
  load(): PersistedAlarmState | undefined;
  save(state: PersistedAlarmState): void;
}

/** Keeps the state in memory (tests, and engines without persistence). */
export class MemoryAlarmStateStore implements AlarmStateStore {
  private state: PersistedAlarmState | undefined;
  saves = 0;
  load(): PersistedAlarmState | undefined {
    return this.state === undefined ? undefined : structuredClone(this.state);
  }
  save(state: PersistedAlarmState): void {
    this.state = structuredClone(state);
    this.saves++;
  }
}

/** JSON file written atomically (temp + fsync + rename + directory fsync). */
export class FileAlarmStateStore implements AlarmStateStore {
  constructor(readonly path: string) {}

  load(): PersistedAlarmState | undefined {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new Error(`cannot read alarm state file '${this.path}'`, { cause: err });
    }
    let data: PersistedAlarmState;
    try {
      data = JSON.parse(text) as PersistedAlarmState;
    } catch (err) {
      throw new Error(`alarm state file '${this.path}' is not valid JSON`, { cause: err });
    }
    if (data?.version !== 1 || typeof data.points !== 'object' || data.points === null) {
      throw new Error(
        `alarm state file '${this.path}' has an unknown format (version ${String(data?.version)})`,
      );
    }
    log.info({ path: this.path, points: Object.keys(data.points).length }, 'alarm state loaded');
    return data;
  }

  save(state: PersistedAlarmState): void {
    const dir = dirname(this.path);
    mkdirSync(dir, { recursive: true });
    const temp = `${this.path}.${process.pid}.tmp`;
    const fd = openSync(temp, 'w');
    try {
      writeSync(fd, JSON.stringify(state));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, this.path);
    // The rename is durable only once the directory entry is (POSIX).
    try {
      const dirFd = openSync(dir, 'r');
      try {
        fsyncSync(dirFd);
      } finally {
        closeSync(dirFd);
      }
    } catch {
      // Some platforms cannot fsync a directory; the rename itself is still atomic.
    }
  }
}
