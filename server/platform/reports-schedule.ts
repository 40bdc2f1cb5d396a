/**
 * Scheduled reports: once a day at the configured local hour (`platform.workbench.reportHour`,
 * -1 = off), yesterday's day report of every regulator and admin in the config, each within
 * that user's own jurisdiction, written as XLSX and CSV into the reports folder
 * (`platform.workbench.reportsDir`, default data/reports). Files are named
 * `report-<username>-<YYYY-MM-DD>.<ext>`; a user lists only their own (admins: all).
 *
 * Lifecycle: `start()` checks every minute (timer unref'd) and once at once; `stop()` clears
 * the timer (safe twice). `tick()` does one check now (tests with a manual clock).
 */
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../../common/clock.js';
import { systemClock } from '../../common/clock.js';
import { createLogger } from '../../common/logger.js';
import type { Principal } from './access.js';
import type { UserConfig } from './config.js';
import { localDay } from './indicators.js';

const log = createLogger('server.reports');

export const REPORT_SCHEDULE_DEFAULTS = {
  checkEveryMs: 60_000, // 1 min between checks of the hour
  reportsDir: 'data/reports',
} as const;

export const REPORT_FILE_PATTERN = /^report-([A-Za-z0-9._-]+)-(\d{4}-\d{2}-\d{2})\.(xlsx|csv)$/;

export interface ReportFile {
  name: string;
  username: string;
  day: string;
  format: 'xlsx' | 'csv';
  bytes: number;
}

export interface ReportScheduleOptions {
  dir: string;
  /** Local hour 0–23; -1 disables the schedule. */
  hour: number;
  users: readonly UserConfig[];
  utcOffsetMin: (now: number) => number;
  /** Writes yesterday's report for one user: returns the files' bytes by extension. */
  render: (principal: Principal, day: string) => Promise<{ xlsx: Buffer; csv: string }>;
  clock?: Clock;
}

export function principalOf(user: UserConfig): Principal {
  return {
    username: user.username,
    name: user.name ?? user.username,
    role: user.role,
    enterpriseId: user.enterpriseId ?? null,
    jurisdiction: user.jurisdiction ?? null,
  };
}

export class ReportSchedule {
  private timer: NodeJS.Timeout | null = null;
  private readonly clock: Clock;
  private running: Promise<number> | null = null;

  constructor(private readonly options: ReportScheduleOptions) {
    this.clock = options.clock ?? systemClock;
  }

  get enabled(): boolean {
    return this.options.hour >= 0;
  }

  start(): void {
    if (this.timer || !this.enabled) return;
    const check = () => {
      this.tick().catch((err: unknown) => log.error({ err }, 'scheduled report failed'));
    };
    this.timer = setInterval(check, REPORT_SCHEDULE_DEFAULTS.checkEveryMs);
    this.timer.unref();
    check();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Writes yesterday's reports when the hour has come and they are not there yet; returns files written. */
  async tick(): Promise<number> {
    if (this.running) return this.running;
    this.running = this.check().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async check(): Promise<number> {
    if (!this.enabled) return 0;
    const now = this.clock.now();
    const offset = this.options.utcOffsetMin(now);
    const localHour = new Date(now + offset * 60_000).getUTCHours();
    if (localHour < this.options.hour) return 0;
    const yesterday = localDay(now - 24 * 60 * 60_000, offset);
    await mkdir(this.options.dir, { recursive: true });
    const existing = new Set(await readdir(this.options.dir));
    let written = 0;
    for (const user of this.options.users) {
      if (user.role !== 'regulator' && user.role !== 'admin') continue;
      const base = `report-${user.username}-${yesterday}`;
      if (existing.has(`${base}.xlsx`)) continue;
      const { xlsx, csv } = await this.options.render(principalOf(user), yesterday);
      await writeFile(join(this.options.dir, `${base}.csv`), csv);
      await writeFile(join(this.options.dir, `${base}.xlsx`), xlsx);
      written += 2;
      log.info({ user: user.username, day: yesterday }, 'scheduled report written');
    }
    return written;
  }

  /** Report files a principal may fetch, newest day first. */
  async list(principal: Principal): Promise<ReportFile[]> {
    let names: string[];
    try {
      names = await readdir(this.options.dir);
    } catch {
      return [];
    }
    const files: ReportFile[] = [];
    for (const name of names) {
      const m = REPORT_FILE_PATTERN.exec(name);
      if (!m) continue;
      const username = m[1] as string;
      if (principal.role !== 'admin' && username !== principal.username) continue;
      const info = await stat(join(this.options.dir, name));
      files.push({
        name,
        username,
        day: m[2] as string,
        format: m[3] as 'xlsx' | 'csv',
        bytes: info.size,
      });
    }
    return files.sort((a, b) => b.day.localeCompare(a.day) || a.name.localeCompare(b.name));
  }

  /** Path of a listed file the principal may fetch; null otherwise. */
  async path(principal: Principal, name: string): Promise<string | null> {
    const files = await this.list(principal);
    return files.some((f) => f.name === name) ? join(this.options.dir, name) : null;
  }
}
