/**
 * `npm run bench` prints only JSON metric lines on stdout (docs/benchmarks.md): the benchmark
 * children log to stderr. Before, pino wrote every benchmark's log lines to stdout among the
 * metrics (issue 11 item 7).
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { benchChildEnv } from '../../bench/child-env.js';
import { logFileDescriptor } from '../../common/logger.js';

const run = promisify(execFile);
const root = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** Runs a child that logs one line through the product's logger, as a benchmark would. */
async function logOnce(env: NodeJS.ProcessEnv): Promise<{ stdout: string; stderr: string }> {
  const script = `import { createLogger } from './common/logger.ts'; createLogger('bench').info('hello from a bench');`;
  return run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: root,
    env: { ...env, LOG_LEVEL: 'info', VITEST: '' },
  });
}

describe('benchmark output', () => {
  it('bench mixes log lines into its JSON lines on stdout: no longer, its children log to stderr', async () => {
    const bench = await logOnce(benchChildEnv({ ...process.env, LOG_DESTINATION: undefined }));
    expect(bench.stdout).toBe('');
    expect(bench.stderr).toContain('hello from a bench');

    const plain = await logOnce({ ...process.env, LOG_DESTINATION: undefined });
    expect(plain.stdout).toContain('hello from a bench');
  }, 30_000);

  it('refuses an unknown log destination by name', () => {
    expect(() => logFileDescriptor({ LOG_DESTINATION: 'syslog' })).toThrow(
      "LOG_DESTINATION: must be one of stdout, stderr (got 'syslog')",
    );
  });
});
