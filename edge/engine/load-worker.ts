/**
 * The rule-loading worker thread: reads, parses and validates rule files
 * (loadRuleFiles) off the thread that evaluates alarms, and posts the RuleSet, or
 * every problem, back. One job per worker; started by ./rule-reader.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { rootLogger } from '../../common/logger.js';
import { loadRuleFiles, RuleFileError, type RuleLoadOptions } from '../rule-loader.js';
import type { ReaderJob, ReaderReply } from './rule-reader.js';

const job = workerData as ReaderJob;
// The loader's own log lines (waived checks) belong to the thread that asked.
rootLogger.level = job.logLevel;
let reply: ReaderReply;
try {
  const options: RuleLoadOptions = {
    ...job.limits,
    ...(job.deviceIds ? { outputDevices: { ids: job.deviceIds } } : {}),
  };
  reply = { ok: true, ruleSet: loadRuleFiles(job.files, options) };
} catch (err) {
  reply = {
    ok: false,
    problems: err instanceof RuleFileError ? err.problems : [],
    message: (err as Error).message,
  };
}
parentPort?.postMessage(reply);
