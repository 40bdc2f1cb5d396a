/**
 * Reads rule files off the alarm path: parse and validate (seconds for a 20,000-rule
 * file) run in a worker thread, so evaluation on the main thread never waits for
 * them. When no worker can be started, the files are read on this thread (logged).
 */
import { Worker } from 'node:worker_threads';
import { createLogger, rootLogger } from '../../common/logger.js';
import {
  loadRuleFiles,
  RuleFileError,
  type RuleLoadOptions,
  type RuleProblem,
} from '../rule-loader.js';
import type { RuleSet } from '../rule-types.js';

const log = createLogger('edge.engine');

/** What the worker gets: cloneable data only (no device writers). */
export interface ReaderJob {
  readonly files: readonly string[];
  readonly limits: Omit<RuleLoadOptions, 'outputDevices'>;
  readonly deviceIds?: readonly string[];
  readonly logLevel: string;
}

/** Messages from the worker: rules in chunks (each acknowledged), then done or refused. */
export type ReaderReply =
  | { readonly kind: 'rules'; readonly rules: RuleSet['rules'] }
  | { readonly kind: 'done'; readonly rest: Omit<RuleSet, 'rules'> }
  | {
      readonly kind: 'refused';
      readonly problems: readonly RuleProblem[];
      readonly message: string;
    };

/**
 * Loads `files` in a worker thread; resolves with the RuleSet or rejects with the
 * loader's RuleFileError (every problem). Device writers are not checked here (they
 * cannot cross threads): the caller checks them on the returned set.
 */
export function readRuleFilesOffThread(
  files: readonly string[],
  options: RuleLoadOptions = {},
): Promise<RuleSet> {
  const { outputDevices, ...limits } = options;
  const job: ReaderJob = {
    files,
    limits,
    ...(outputDevices ? { deviceIds: [...outputDevices.ids] } : {}),
    logLevel: rootLogger.level,
  };
  return new Promise<RuleSet>((resolve, reject) => {
    let worker: Worker;
    try {
      worker = new Worker(new URL('./load-worker-boot.mjs', import.meta.url), { workerData: job });
    } catch (err) {
      log.warn({ err }, 'no worker thread for reading rules; reading them on the alarm thread');
      resolve(loadRuleFiles(files, options));
      return;
    }
    let settled = false;
    const rules: RuleSet['rules'][number][] = [];
    worker.on('message', (reply: ReaderReply) => {
      if (reply.kind === 'rules') {
        for (const rule of reply.rules) rules.push(rule);
        worker.postMessage('next'); // one chunk per event-loop turn, never a flood
        return;
      }
      settled = true;
      void worker.terminate();
      if (reply.kind === 'done') resolve({ ...reply.rest, rules });
      else if (reply.problems.length > 0) reject(new RuleFileError(reply.problems));
      else reject(new Error(`rule files could not be read: ${reply.message}`));
    });
    worker.once('error', (err) => {
      if (settled) return;
      settled = true;
      reject(new Error(`rule-reading worker failed: ${err.message}`, { cause: err }));
    });
    worker.once('exit', (code) => {
      if (settled) return;
      settled = true;
      reject(new Error(`rule-reading worker exited with code ${code} before answering`));
    });
  });
}
