/**
 * Local linkage: runs the actions of the rule files on alarm transitions —
 * write a Modbus coil or register (start ventilation, sound the siren, close an
 * emergency shut-off valve), read it back, and raise a linkage-failure alarm when
 * the write fails or the readback does not match. Everything happens at the edge,
 * so linkage works while the uplink is down.
 *
 * Writes go through the writer of the gateway-config device the action's output
 * names (output-writer.ts): the gateway's acquisition, which owns that device's
 * connection and serialises the write with its polls. The runner opens no
 * connection of its own (one owner per device, issue 12 property 7).
 *
 * Actions run one at a time in transition order (a stop never overtakes its
 * start). A failed action is retried once at once (a timeout or a lost reply may
 * be transient), except when the device is offline or the write is invalid: the
 * writer fails those fast and a second try could only fail the same way.
 *
 * The linkage-failure alarm (`<ruleId>.linkage-<n>.<ts>`, level 2: GB/T 50493-2019
 * has faults reach the fire-control room, clause to be checked) is raised once per
 * failing action and cleared when that action next succeeds. Drill transitions
 * run no actions (a drill never closes a valve); out-of-service alarms neither.
 *
 * Lifecycle: the constructor stores its arguments; handle() queues work and
 * returns at once; idle() resolves when the queue is empty; stop() drops queued
 * work (the writers belong to the acquisition, which the caller stops). No timers.
 */
import type { Clock } from '../../common/clock.js';
import { createLogger } from '../../common/logger.js';
import type { CompiledRuleSet, EdgeAlarmTransition } from '../engine/index.js';
import type { LinkageAction } from '../rule-types.js';
import type { OutputDeviceWriters } from './output-writer.js';

const log = createLogger('edge.linkage');

export const LINKAGE_DEFAULTS = {
  attempts: 2, // one immediate retry (not for an offline device or an invalid write)
} as const;

export interface LinkageRunnerOptions {
  readonly clock: Clock;
  /** Receives linkage-failure alarm transitions (raise and clear), like engine transitions. */
  readonly onTransition: (transition: EdgeAlarmTransition) => void;
  readonly attempts?: number;
}

/** Writer error codes (gateway/acquisition/writer.ts WriteErrorCode) a retry cannot fix. */
const FINAL_CODES: ReadonlySet<unknown> = new Set(['offline', 'invalid']);

/** Outcome of one action, for observers and tests. */
export interface LinkageResult {
  readonly ruleId: string;
  readonly actionIndex: number;
  readonly alarmId: string;
  readonly ok: boolean;
  readonly detail: string;
}

export class LinkageRunner {
  private actions = new Map<string, readonly LinkageAction[]>();
  /** Gateway device id of each output id. */
  private devices = new Map<string, string>();
  private queue: Promise<void> = Promise.resolve();
  private pending = 0;
  private stopped = false;
  /** Open linkage-failure alarms by `${ruleId}#${index}`. */
  private readonly failures = new Map<string, EdgeAlarmTransition>();
  /**
   * Ids of the failure alarms this runner reports. They carry their rule's id, so
   * when they come back through handle() (the gateway hands every transition to the
   * runner) they must not run that rule's actions: a broken relay would loop.
   */
  private readonly ownAlarmIds = new Set<string>();
  readonly results: LinkageResult[] = [];

  constructor(
    compiled: CompiledRuleSet,
    private readonly writers: OutputDeviceWriters,
    private readonly options: LinkageRunnerOptions,
  ) {
    this.setRules(compiled);
  }

  /** Takes the actions and outputs of a (reloaded) rule set. */
  setRules(compiled: CompiledRuleSet): void {
    this.devices = new Map((compiled.ruleSet.outputs ?? []).map((o) => [o.id, o.device]));
    this.actions = new Map(
      compiled.ruleSet.rules
        .filter((rule) => (rule.actions ?? []).length > 0)
        .map((rule) => [rule.id, rule.actions ?? []]),
    );
  }

  /** Queues the actions these transitions trigger; returns at once. */
  handle(transitions: readonly EdgeAlarmTransition[]): void {
    for (const transition of transitions) {
      if (this.ownAlarmIds.has(transition.alarmId)) continue;
      const actions = this.actions.get(transition.ruleId);
      if (!actions || transition.drill || transition.state === 'out-of-service') continue;
      const limit = limitOf(transition);
      actions.forEach((action, index) => {
        if (action.on !== transition.transition) return;
        if (action.limit !== undefined && action.limit !== limit) return;
        this.pending++;
        this.queue = this.queue
          .then(() => (this.stopped ? undefined : this.run(transition, action, index)))
          .catch((err) => log.error({ err }, 'linkage action crashed'))
          .finally(() => {
            this.pending--;
          });
      });
    }
  }

  /** Resolves once every queued action has run. */
  async idle(): Promise<void> {
    while (this.pending > 0) await this.queue;
  }

  stop(): void {
    this.stopped = true;
  }

  private async run(
    transition: EdgeAlarmTransition,
    action: LinkageAction,
    index: number,
  ): Promise<void> {
    const what =
      action.coil !== undefined
        ? `coil ${action.coil} = ${String(action.value)}`
        : `register ${action.register} = ${String(action.value)}`;
    const device = this.devices.get(action.output);
    const target = `${what} on '${action.output}' (device '${device ?? '?'}')`;
    const attempts = this.options.attempts ?? LINKAGE_DEFAULTS.attempts;
    let detail = '';
    let ok = false;
    for (let attempt = 1; attempt <= attempts && !ok; attempt++) {
      try {
        const readback = await this.write(action, device);
        if (!action.readback || readback === action.value) {
          ok = true;
          detail = action.readback ? `${target}, read back ${String(readback)}` : target;
        } else {
          detail = `${target}: read back ${String(readback)}`;
        }
      } catch (err) {
        detail = `${target}: ${(err as Error).message}`;
        if (FINAL_CODES.has((err as { code?: unknown }).code)) break;
      }
    }
    this.results.push({
      ruleId: transition.ruleId,
      actionIndex: index,
      alarmId: transition.alarmId,
      ok,
      detail,
    });
    const key = `${transition.ruleId}#${index}`;
    if (ok) {
      log.info({ alarmId: transition.alarmId, action: detail }, 'linkage action confirmed');
      const open = this.failures.get(key);
      if (open) {
        this.failures.delete(key);
        this.options.onTransition({
          ...open,
          transition: 'cleared',
          ts: Math.max(this.options.clock.now(), open.ts),
          state: 'normal',
          message: `linkage restored: ${detail}`,
        });
        this.ownAlarmIds.delete(open.alarmId);
      }
      return;
    }
    log.error({ alarmId: transition.alarmId, action: detail }, 'linkage action failed');
    if (this.failures.has(key)) return; // one alarm per failing action
    const ts = this.options.clock.now();
    const failure: EdgeAlarmTransition = {
      alarmId: `${transition.ruleId}.linkage-${index}.${ts}`,
      ruleId: transition.ruleId,
      sensorId: transition.sensorId,
      level: 2,
      transition: 'raised',
      value: null,
      unit: '',
      setpoint: 0,
      ts,
      drill: false,
      state: 'unacknowledged',
      message:
        `linkage failed for ${transition.alarmId} (${transition.transition}): ${detail}`.slice(
          0,
          500,
        ),
    };
    if (transition.sensorName !== undefined) failure.sensorName = transition.sensorName;
    if (transition.installationId !== undefined) failure.installationId = transition.installationId;
    if (transition.location !== undefined) failure.location = transition.location;
    this.failures.set(key, failure);
    this.ownAlarmIds.add(failure.alarmId);
    this.options.onTransition(failure);
  }

  /**
   * Writes through the device's writer, which reads back unless told not to; returns
   * the value the device holds (or the value written, with readback off).
   */
  private async write(
    action: LinkageAction,
    device: string | undefined,
  ): Promise<boolean | number> {
    const writer = device === undefined ? undefined : this.writers.writer(device);
    if (!writer) {
      // checkOutputDevices() refuses such rule sets at start and reload; this guards the rest.
      throw Object.assign(
        new Error(
          device === undefined
            ? `output '${action.output}' names no device`
            : `device '${device}' has no writer (not in the gateway config, or not a Modbus device)`,
        ),
        { code: 'invalid' },
      );
    }
    const options = { readback: action.readback };
    if (action.coil !== undefined) {
      return (await writer.writeCoil(action.coil, action.value === true, options)).value;
    }
    const register = action.register ?? 0;
    const result = await writer.writeRegisters(register, [Number(action.value)], options);
    return result.value[0] ?? Number.NaN;
  }
}

/** The limit name inside an alarm id `${ruleId}.${limit}.${ts}` (or a point key `${ruleId}.${limit}`). */
function limitOf(transition: EdgeAlarmTransition): string {
  const rest = transition.alarmId.slice(transition.ruleId.length + 1);
  const cut = rest.indexOf('.');
  return cut < 0 ? rest : rest.slice(0, cut);
}
