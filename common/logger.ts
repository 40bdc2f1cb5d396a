/**
 * The one structured logger (pino). Modules take a child with a namespace:
 * `const log = createLogger('gateway.modbus')`.
 * Level from LOG_LEVEL (default 'info'; tests set 'silent' unless LOG_LEVEL is given).
 */
import { type Logger, pino } from 'pino';

export type { Logger };

const defaultLevel = process.env.LOG_LEVEL ?? (process.env.VITEST ? 'silent' : 'info');

export const rootLogger: Logger = pino({ level: defaultLevel, base: undefined });

export function createLogger(namespace: string): Logger {
  return rootLogger.child({ ns: namespace });
}
