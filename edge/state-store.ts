/**
 * Alarm state that survives a gateway restart (ISA-18.2: an alarm acknowledged,
 * shelved or out of service stays so after a restart; an unacknowledged one is
 * still unacknowledged). The engine loads it once at construction and saves it
 * after every call that changed state.
 *
 * `FileAlarmStateStore` writes JSON atomically: write a temp file in the same
 * folder, fsync it, rename it over the old one, fsync the folder. A crash leaves
 * either the old or the new file, never a torn one. On load the file is checked
 * against ALARM_STATE_SCHEMA: invalid points are dropped (one log line each); a
 * file that cannot be read or parsed, or whose envelope is invalid, is moved aside
 * (`<path>.corrupt-<timestamp>`, kept for forensics) and the engine starts fresh.
 * `loadProblem` (and the onLoadProblem hook) tell the gateway, which raises a
 * "local storage fault" diagnostic alarm (issue 13 item 4). Every store must pass
 * the shared suite in tests/edge/state-store.test.ts.
 */
import { readFileSync, renameSync } from 'node:fs';
import { Ajv, type ErrorObject } from 'ajv';
import { writeFileAtomic } from '../common/atomic-file.js';
import { createLogger } from '../common/logger.js';

const log = createLogger('edge.state');

/** One alarm point's state (key `${ruleId}.${limitName}`). */
export interface PersistedPoint {
  readonly active: boolean;
  readonly alarmId: string;
  readonly raisedAt: number;
  readonly raisedValue: number;
  /** Files written before issue 12 (ids derived from times); ignored. */
  readonly lastIdTs?: number;
  readonly open: boolean;
  readonly acked: boolean;
  readonly ackedBy: string;
  readonly latchedWaiting: boolean;
  readonly shelve: 'none' | 'timed' | 'one-shot';
  /** Wall time a timed shelve ends, epoch ms. */
  readonly shelvedUntil: number;
  /** Wall time the shelve started (the 24 h cap survives a restart). */
  readonly shelvedAt?: number;
  readonly shelvedBy: string;
  readonly suppressed: boolean;
  readonly outOfService: boolean;
  readonly overrideBy: string;
  /** Files written before issue 12 (hot-reload signal values); ignored. */
  readonly x?: number;
  readonly usable?: boolean;
  /** Vote / combination: which inputs held (1) when saved. */
  readonly flags?: readonly number[];
  /** Occurrences superseded by a re-announcement, still to be closed. */
  readonly superseded?: readonly string[];
}

export interface PersistedAlarmState {
  readonly version: 1;
  readonly savedAt: number;
  /** Next occurrence number (alarm ids stay unique across restarts). */
  readonly nextOccurrence?: number;
  /** Points not in state normal, by key. */
  readonly points: Readonly<Record<string, PersistedPoint>>;
}

const epochMs = { type: 'number' } as const;
const text = { type: 'string', maxLength: 200 } as const;

/** One point of the saved state (PersistedPoint). */
export const PERSISTED_POINT_SCHEMA = {
  type: 'object',
  required: [
    'active',
    'alarmId',
    'raisedAt',
    'raisedValue',
    'open',
    'acked',
    'ackedBy',
    'latchedWaiting',
    'shelve',
    'shelvedUntil',
    'shelvedBy',
    'suppressed',
    'outOfService',
    'overrideBy',
  ],
  properties: {
    active: { type: 'boolean' },
    alarmId: text,
    raisedAt: epochMs,
    raisedValue: { type: 'number' },
    lastIdTs: { type: 'number' },
    open: { type: 'boolean' },
    acked: { type: 'boolean' },
    ackedBy: text,
    latchedWaiting: { type: 'boolean' },
    shelve: { enum: ['none', 'timed', 'one-shot'] },
    shelvedUntil: epochMs,
    shelvedAt: epochMs,
    shelvedBy: text,
    suppressed: { type: 'boolean' },
    outOfService: { type: 'boolean' },
    overrideBy: text,
    x: { type: ['number', 'null'] },
    usable: { type: 'boolean' },
    flags: { type: 'array', items: { enum: [0, 1] }, maxItems: 64 },
    superseded: { type: 'array', items: text, maxItems: 100 },
  },
  additionalProperties: false,
} as const;

/** The envelope of the saved state; points are checked one by one (PERSISTED_POINT_SCHEMA). */
export const ALARM_STATE_SCHEMA = {
  type: 'object',
  required: ['version', 'savedAt', 'points'],
  properties: {
    version: { const: 1 },
    savedAt: epochMs,
    nextOccurrence: { type: 'integer', minimum: 1 },
    points: { type: 'object' },
  },
  additionalProperties: false,
} as const;

const ajv = new Ajv({ allErrors: true });
const validateEnvelope = ajv.compile(ALARM_STATE_SCHEMA);
const validatePoint = ajv.compile(PERSISTED_POINT_SCHEMA);

function formatErrors(errors: ErrorObject[] | null | undefined, prefix: string): string {
  return (errors ?? [])
    .map((e) => `${prefix}${e.instancePath.replace(/^\//, '.').replace(/\//g, '.')}: ${e.message}`)
    .join('; ');
}

/** What went wrong loading the saved state; the engine started fresh (or without some points). */
export interface StateLoadProblem {
  readonly kind: 'unreadable' | 'corrupt' | 'invalid-points';
  readonly path: string;
  /** Where the file was moved for forensics ('unreadable' / 'corrupt'), if the move worked. */
  readonly movedTo?: string;
  /** Keys of the points dropped ('invalid-points'). */
  readonly dropped?: readonly string[];
  readonly message: string;
}

/**
 * Where the engine keeps its alarm state. Lifecycle: no start/stop; load() is
 * called once (constructor), save() after each state change, synchronously, so
 * a transition the engine returned is on disk before the caller sees it.
 * Guarantees: save() is atomic (all or nothing); load() returns undefined when
 * nothing (usable) was saved, never throws for a bad file, and sets loadProblem
 * when it had to drop or move anything.
 */
export interface AlarmStateStore {
  load(): PersistedAlarmState | undefined;
  save(state: PersistedAlarmState): void;
  /** Set by load() when the saved state was unreadable, corrupt or partly invalid. */
  readonly loadProblem?: StateLoadProblem | undefined;
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

export interface FileAlarmStateStoreOptions {
  /** Called once when load() found a problem (the gateway raises a storage-fault alarm). */
  readonly onLoadProblem?: (problem: StateLoadProblem) => void;
  /** Time for the `.corrupt-<timestamp>` suffix; tests pass a fixed one. */
  readonly now?: () => number;
}

/** JSON file written atomically (common/atomic-file.ts: temp + fsync + rename + folder fsync). */
export class FileAlarmStateStore implements AlarmStateStore {
  loadProblem: StateLoadProblem | undefined;

  constructor(
    readonly path: string,
    private readonly options: FileAlarmStateStoreOptions = {},
  ) {}

  load(): PersistedAlarmState | undefined {
    this.loadProblem = undefined;
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      return this.refuse('unreadable', `cannot read alarm state file '${this.path}'`, err);
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (err) {
      return this.refuse('corrupt', `alarm state file '${this.path}' is not valid JSON`, err);
    }
    if (!validateEnvelope(data)) {
      const why = formatErrors(validateEnvelope.errors, 'state');
      return this.refuse('corrupt', `alarm state file '${this.path}' is invalid: ${why}`);
    }
    const saved = data as { points: Record<string, unknown> } & PersistedAlarmState;
    const points: Record<string, PersistedPoint> = {};
    const dropped: string[] = [];
    for (const [key, point] of Object.entries(saved.points)) {
      if (validatePoint(point)) points[key] = point as PersistedPoint;
      else {
        dropped.push(key);
        log.error(
          { path: this.path, key, errors: formatErrors(validatePoint.errors, `points.${key}`) },
          'invalid alarm point in the state file dropped',
        );
      }
    }
    if (dropped.length > 0) {
      this.report({
        kind: 'invalid-points',
        path: this.path,
        dropped,
        message: `${dropped.length} invalid alarm point(s) dropped from '${this.path}': ${dropped.join(', ')}`,
      });
    }
    log.info({ path: this.path, points: Object.keys(points).length }, 'alarm state loaded');
    return { ...saved, points };
  }

  /** Moves a file that cannot be trusted aside, records why, and starts fresh. */
  private refuse(kind: 'unreadable' | 'corrupt', message: string, cause?: unknown): undefined {
    const stamp = new Date(this.options.now?.() ?? Date.now()).toISOString().replace(/[:.]/g, '-');
    const aside = `${this.path}.corrupt-${stamp}`;
    let movedTo: string | undefined;
    try {
      renameSync(this.path, aside);
      movedTo = aside;
    } catch (err) {
      log.error({ err, path: this.path }, 'cannot move the bad alarm state file aside');
    }
    const detail = cause instanceof Error ? `: ${cause.message}` : '';
    this.report({
      kind,
      path: this.path,
      ...(movedTo ? { movedTo } : {}),
      message: `${message}${detail}; ${movedTo ? `moved to '${movedTo}'` : 'left in place'}, starting with no saved alarm state`,
    });
    return undefined;
  }

  private report(problem: StateLoadProblem): void {
    this.loadProblem = problem;
    log.error({ problem }, problem.message);
    try {
      this.options.onLoadProblem?.(problem);
    } catch (err) {
      log.error({ err }, 'onLoadProblem handler failed');
    }
  }

  save(state: PersistedAlarmState): void {
    writeFileAtomic(this.path, JSON.stringify(state));
  }
}
