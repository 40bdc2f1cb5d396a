/**
 * Environment of every benchmark child process: logs go to stderr (common/logger.ts), so that
 * `npm run bench` prints only JSON metric lines on stdout, as docs/benchmarks.md promises.
 * Children that the benchmarks start themselves (servers, gateways) inherit it.
 */
export function benchChildEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...base, LOG_DESTINATION: 'stderr' };
}
