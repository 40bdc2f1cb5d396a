/**
 * The rule-loading worker thread: reads, parses and validates rule files
 * (loadRuleFiles) off the thread that evaluates alarms, and sends the RuleSet, or
 * every problem, back. The rules go in small chunks, the next one only when the
 * main thread asked for it: one big message would be deserialised on the alarm
 * thread in one go (a quarter of a second for 20,000 rules). One job per worker;
 * started by ./rule-reader.ts.
 */
import { once } from 'node:events';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { rootLogger } from '../../common/logger.js';
import { loadRuleFiles, RuleFileError, type RuleLoadOptions } from '../rule-loader.js';
import type { RuleSet } from '../rule-types.js';
import type { ReaderJob, ReaderReply } from './rule-reader.js';

/** Rules per message: about a millisecond to deserialise. */
const RULES_PER_MESSAGE = 200;

// Lowest CPU priority for this thread only (on Linux a nice value is per thread, and
// pid 0 means the calling thread): where cores are scarce, the alarm thread goes first.
try {
  setPriority(19);
} catch {
  // not permitted here: the reload just competes at normal priority
}

const job = workerData as ReaderJob;
const port = parentPort!;
// The loader's own log lines (waived checks) follow the asking thread's level.
rootLogger.level = job.logLevel;
let ruleSet: RuleSet | undefined;
let reply: ReaderReply | undefined;
try {
  const options: RuleLoadOptions = {
    ...job.limits,
    ...(job.deviceIds ? { outputDevices: { ids: job.deviceIds } } : {}),
  };
  ruleSet = loadRuleFiles(job.files, options);
} catch (err) {
  reply = {
    kind: 'refused',
    problems: err instanceof RuleFileError ? err.problems : [],
    message: (err as Error).message,
  };
}
if (ruleSet) {
  const { rules, ...rest } = ruleSet;
  for (let i = 0; i < rules.length; i += RULES_PER_MESSAGE) {
    port.postMessage({ kind: 'rules', rules: rules.slice(i, i + RULES_PER_MESSAGE) });
    await once(port, 'message'); // the main thread took it: send the next
  }
  reply = { kind: 'done', rest };
}
port.postMessage(reply);
