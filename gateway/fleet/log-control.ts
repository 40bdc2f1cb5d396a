/**
 * Remote log control: the last log lines (kept in a ring) and a log level changed for a while.
 *
 * Every module logger is a pino child of the one root logger (common/logger.ts) made without
 * a level of its own, so setting the root's level reaches all of them (pino children inherit
 * through the prototype). The lines are taken where pino writes them: the root's destination
 * stream (pino.symbols.streamSym), wrapped once per process.
 */
import { pino } from 'pino';
import type { Logger } from '../../common/logger.js';

export const LOG_CONTROL_DEFAULTS = {
  keptLines: 1_000, // newest log lines kept for a 'log-tail' command
  levelDurationMs: 10 * 60_000, // 10 min: a raised log level falls back by itself
  maxLineChars: 4_000,
} as const;

interface WritableDestination {
  write(chunk: string): unknown;
}

const controls = new WeakMap<Logger, LogControl>();

/** One per root logger and process: the stream is wrapped once however many agents run. */
export function logControlOf(root: Logger): LogControl {
  let control = controls.get(root);
  if (!control) {
    control = new LogControl(root);
    controls.set(root, control);
  }
  return control;
}

export class LogControl {
  private readonly lines: string[] = [];
  private revertTimer: NodeJS.Timeout | null = null;
  private baseLevel: string;

  constructor(private readonly root: Logger) {
    this.baseLevel = root.level;
    const stream = (root as unknown as Record<symbol, WritableDestination | undefined>)[
      pino.symbols.streamSym
    ];
    if (stream && typeof stream.write === 'function') {
      const write = stream.write.bind(stream);
      stream.write = (chunk: string) => {
        this.keep(chunk);
        return write(chunk);
      };
    }
  }

  get level(): string {
    return this.root.level;
  }

  /** The newest `count` lines, oldest first. */
  tail(count: number): string[] {
    return this.lines.slice(-count);
  }

  /** Sets the level for `durationMs`, then back to the level before any change. */
  setLevel(level: string, durationMs: number = LOG_CONTROL_DEFAULTS.levelDurationMs): number {
    if (this.revertTimer) clearTimeout(this.revertTimer);
    else this.baseLevel = this.root.level;
    this.root.level = level;
    this.revertTimer = setTimeout(() => {
      this.root.level = this.baseLevel;
      this.revertTimer = null;
    }, durationMs);
    this.revertTimer.unref();
    return durationMs;
  }

  stop(): void {
    if (this.revertTimer) {
      clearTimeout(this.revertTimer);
      this.root.level = this.baseLevel;
      this.revertTimer = null;
    }
  }

  private keep(chunk: string): void {
    for (const line of String(chunk).split('\n')) {
      if (line.length === 0) continue;
      this.lines.push(line.slice(0, LOG_CONTROL_DEFAULTS.maxLineChars));
    }
    const excess = this.lines.length - LOG_CONTROL_DEFAULTS.keptLines;
    if (excess > 0) this.lines.splice(0, excess);
  }
}
