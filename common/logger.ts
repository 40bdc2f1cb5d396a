/**
 * The one structured logger (pino). Modules take a child with a namespace:
 * `const log = createLogger('gateway.modbus')`.
 * Level from LOG_LEVEL (default 'info'; tests set 'silent' unless LOG_LEVEL is given).
 * Destination from LOG_DESTINATION: 'stdout' (default) or 'stderr'. The benchmarks set 'stderr'
 * so that their stdout holds only JSON metric lines (bench/child-env.ts).
 */
import { type Logger, pino } from 'pino';

export type { Logger };

const defaultLevel = process.env.LOG_LEVEL ?? (process.env.VITEST ? 'silent' : 'info');

/** File descriptor the logs go to: 2 when LOG_DESTINATION=stderr, else 1. */
export function logFileDescriptor(env: NodeJS.ProcessEnv = process.env): 1 | 2 {
  const destination = env.LOG_DESTINATION ?? 'stdout';
  if (destination === 'stderr') return 2;
  if (destination === 'stdout') return 1;
  throw new Error(`LOG_DESTINATION: must be one of stdout, stderr (got '${destination}')`);
}

export const rootLogger: Logger = pino(
  { level: defaultLevel, base: undefined },
  pino.destination({ fd: logFileDescriptor(), sync: true }),
);

export function createLogger(namespace: string): Logger {
  return rootLogger.child({ ns: namespace });
}
