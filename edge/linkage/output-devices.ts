/**
 * Checks the outputs of a rule set against the gateway's devices: every output must
 * name a device of the gateway config, and one that takes writes (Modbus today). The
 * gateway runs it when it starts and on every reload (through the loader option
 * `outputDevices`, rule-loader.ts), so a rule file naming a device that does not exist
 * is refused with its file, line and key path instead of failing at the first alarm.
 */
import type { RuleProblem } from '../rule-loader.js';
import { formatKeyPath, type RuleSet } from '../rule-types.js';
import type { OutputDeviceWriters } from './output-writer.js';

/** The gateway's devices as the check needs them. */
export interface GatewayOutputDevices {
  /** Every device id of the gateway config (`devices[].id`). */
  readonly ids: Iterable<string>;
  /** The acquisition; when given, a device without a writer (OPC UA) is refused too. */
  readonly writers?: OutputDeviceWriters;
}

/** Every problem of the set's outputs, with file, line and key path; [] when all is well. */
export function checkOutputDevices(
  ruleSet: Pick<RuleSet, 'outputs'>,
  deviceIds: Iterable<string>,
  writers?: OutputDeviceWriters,
): RuleProblem[] {
  const known = new Set(deviceIds);
  const problems: RuleProblem[] = [];
  for (const output of ruleSet.outputs ?? []) {
    let message: string | undefined;
    if (!known.has(output.device)) {
      const list = [...known].join(', ') || 'none';
      message = `device '${output.device}' is not in the gateway config (devices: ${list})`;
    } else if (writers && !writers.writer(output.device)) {
      message = `device '${output.device}' takes no writes (only Modbus devices drive linkage outputs)`;
    }
    if (message === undefined) continue;
    problems.push({
      file: output.file,
      line: output.line,
      col: output.col,
      path: formatKeyPath(['outputs', output.index, 'device']),
      message,
    });
  }
  return problems;
}
