/**
 * Rules that can be reloaded while the gateway runs. `RuleRuntime` loads the rule
 * files, compiles them against the sensor catalogue and owns one AlarmEngine.
 * `reload()` reads the files again, validates and compiles the new set; when the
 * new set is refused (schema, compliance, catalogue), the old rules keep running
 * and the result says why. An accepted set replaces the rules inside the same
 * engine (AlarmEngine.reload), so no alarm state is lost: alarm points keep their
 * state by key (`ruleId.limitName`).
 *
 * Lifecycle: the constructor loads and compiles (throws RuleFileError: the
 * gateway refuses to start on a bad rule file) and creates the engine (loading
 * its state store). No timers: the caller decides when to reload (file watcher,
 * SIGHUP, an API call).
 */
import type { Clock } from '../common/clock.js';
import { createLogger } from '../common/logger.js';
import type { SensorInfo } from '../protocol/index.js';
import {
  AlarmEngine,
  type CompiledRuleSet,
  compileRuleSet,
  type EdgeAlarmTransition,
} from './engine/index.js';
import { formatProblem, loadRuleFiles, RuleFileError, type RuleProblem } from './rule-loader.js';
import type { AlarmStateStore } from './state-store.js';

const log = createLogger('edge.runtime');

export interface RuleRuntimeOptions {
  readonly files: readonly string[];
  readonly sensors: ReadonlyMap<string, SensorInfo>;
  readonly clock: Clock;
  readonly drill?: boolean;
  readonly store?: AlarmStateStore;
}

export type ReloadResult =
  | {
      readonly ok: true;
      readonly rules: number;
      /** Transitions the reload caused (alarms of removed rules closed). */
      readonly transitions: readonly EdgeAlarmTransition[];
    }
  | {
      readonly ok: false;
      /** Every problem, `file:line:col key path: message`; the old rules are still in force. */
      readonly problems: readonly string[];
      readonly error: Error;
    };

export class RuleRuntime {
  readonly engine: AlarmEngine;
  private files: readonly string[];

  constructor(private readonly options: RuleRuntimeOptions) {
    this.files = options.files;
    const compiled = this.compile(this.files);
    this.engine = new AlarmEngine(compiled, {
      clock: options.clock,
      ...(options.drill !== undefined ? { drill: options.drill } : {}),
      ...(options.store ? { store: options.store } : {}),
    });
  }

  /** The rule set in force. */
  get compiled(): CompiledRuleSet {
    return this.engine.compiled;
  }

  /** Loads, validates and compiles `files` (default: the same files); swaps only if all is well. */
  reload(files: readonly string[] = this.files): ReloadResult {
    let compiled: CompiledRuleSet;
    try {
      compiled = this.compile(files);
    } catch (err) {
      const problems: readonly RuleProblem[] = err instanceof RuleFileError ? err.problems : [];
      const lines = problems.length > 0 ? problems.map(formatProblem) : [(err as Error).message];
      log.error({ problems: lines }, 'rule reload refused; the previous rules stay in force');
      return {
        ok: false,
        problems: lines,
        error: new Error(`rule reload refused: ${lines.length} problem(s)`, { cause: err }),
      };
    }
    this.files = files;
    const transitions = this.engine.reload(compiled);
    log.info({ rules: compiled.ruleSet.rules.length, files }, 'rules reloaded');
    return { ok: true, rules: compiled.ruleSet.rules.length, transitions };
  }

  private compile(files: readonly string[]): CompiledRuleSet {
    return compileRuleSet(loadRuleFiles(files), this.options.sensors);
  }
}
