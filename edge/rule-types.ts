/**
 * Data types of loaded rules. Rules are data: a rule file is parsed, validated
 * and normalised into these frozen objects, and nothing else about a rule lives
 * in code. The condition type registered under `rule.type` (edge/conditions/)
 * gives them meaning.
 */
// A leaf module: condition types (edge/conditions/) import these types, so nothing here
// imports from edge/conditions/ (no import cycle); RuleSet is generic over the rule type.

/** A key path inside a rule file, e.g. `['rules', 2, 'limits', 0, 'setpoint']`. */
export type KeyPath = readonly (string | number)[];

/** One problem found in a rule, with a path relative to the rule (`['level1']`). */
export interface RuleIssue {
  readonly path: KeyPath;
  readonly message: string;
}

/** Line and column, both 1-based. */
export interface Position {
  readonly line: number;
  readonly col: number;
}

/** Where a rule came from, so later checks (against the sensor catalogue) can point at a line. */
export interface RuleSource {
  readonly file: string;
  /** Index of the rule in the file's `rules` list. */
  readonly index: number;
  /** Position of the rule itself. */
  readonly line: number;
  readonly col: number;
  /** Position of every key of the rule, by formatted key path relative to the rule (`limits[0].setpoint`). */
  readonly keys: Readonly<Record<string, Position>>;
}

/** Keys every rule has, whatever its condition type. */
export interface RuleBase {
  /** Unique across every loaded file; appears in alarm ids and on the wire (ID_PATTERN). */
  readonly id: string;
  /** sensorId the rule reads. */
  readonly sensor: string;
  /** Condition type, registered in edge/conditions/index.ts. */
  readonly type: string;
  readonly description?: string;
  /** Why this rule deviates from a compliance check; required for any deviation. */
  readonly justification?: string;
  /** Compliance checks this rule fails, accepted because it has a justification (for audit). */
  readonly waived: readonly string[];
  readonly source: RuleSource;
  /** Drill (test) rule: its transitions are tagged `drill: true` end to end. */
  readonly drill?: boolean;
  /** ISA-18.2 latched alarm: stays latched after the condition returns until acknowledged (reset). */
  readonly latch?: boolean;
  /** Local linkage actions run on this rule's transitions (edge/linkage/). */
  readonly actions?: readonly LinkageAction[];
  /**
   * Suppressed by design (ISA-18.2): while every term holds (say, the unit is shut
   * down), the rule's alarms are suppressed: still evaluated and recorded, not annunciated.
   */
  readonly suppressWhen?: readonly CombinationTerm[];
}

/** Transitions an action may run on. */
export type ActionTrigger = 'raised' | 'cleared' | 'acknowledged';

/**
 * One local linkage action: write a Modbus coil or holding register on an output
 * device of the file's `outputs:` section when a limit of the rule transitions,
 * then read it back to confirm (a mismatch raises a linkage-failure alarm).
 */
export interface LinkageAction {
  readonly on: ActionTrigger;
  /** Only this limit of the rule (say 'level2'); every limit when absent. */
  readonly limit?: string;
  /** Output id from the file's `outputs:` section. */
  readonly output: string;
  readonly coil?: number;
  readonly register?: number;
  /** true/false for a coil, 0..65535 for a register. */
  readonly value: boolean | number;
  /** Read back and compare after the write (default true). */
  readonly readback: boolean;
  readonly description?: string;
}

/**
 * One output of a rule file's `outputs:` section: a name for a device of the gateway
 * config that linkage actions write to. The rule file names the device, never its host
 * or port: the gateway's acquisition is the one owner of each device's connection (one
 * request at a time on a TCP link or RTU bus, polls and writes alike).
 */
export interface OutputDevice {
  /** Output id, named by actions (`output:`). */
  readonly id: string;
  /** Device id from the gateway config (`devices[].id`) whose acquisition writes it. */
  readonly device: string;
  readonly file: string;
  /** Index in the file's `outputs` list, and position of its `device:` value, for errors. */
  readonly index: number;
  readonly line: number;
  readonly col: number;
}

/**
 * How the engine turns readings into the number a limit is compared with. The
 * default, 'value', is the sensor's value itself; the others are computed per
 * reading (and, for time-based kinds, per tick) from compiled state, with no
 * parsing on the evaluation path.
 */
export type SignalSpec =
  | { readonly kind: 'value' }
  /** Change of the value per `perMs` over the last `windowMs` (rise > 0, fall < 0 with sign). */
  | { readonly kind: 'rate'; readonly windowMs: number; readonly perMs: number }
  /** Average, maximum or minimum of the values of the last `windowMs`. */
  | {
      readonly kind: 'window';
      readonly fn: 'average' | 'max' | 'min';
      readonly windowMs: number;
      readonly maxSamples: number;
    }
  /** Milliseconds since the sensor's last reading (any quality), by reading time and clock. */
  | { readonly kind: 'stale' }
  /** 1 while the sensor's quality is bad: NAMUR NE 43 faults only, or every other bad reason. */
  | { readonly kind: 'fault'; readonly ne43: boolean }
  /** Milliseconds since the value last moved by more than `tolerance`. */
  | { readonly kind: 'stuck'; readonly tolerance: number }
  /** Number of `sensors` whose value is beyond `setpoint` (k-out-of-n voting). */
  | {
      readonly kind: 'vote';
      readonly sensors: readonly string[];
      readonly direction: LimitDirection;
      readonly setpoint: number;
      readonly deadband: number;
      /** A detector with bad quality counts as voting (fail-safe) when true. */
      readonly faultVotes: boolean;
    }
  /** 1 while every term holds (combinations across sensors and alarms). */
  | { readonly kind: 'all'; readonly terms: readonly CombinationTerm[] };

/** A term of a combination: an alarm being active, or a sensor beyond a value. */
export type CombinationTerm =
  | { readonly alarm: string }
  | { readonly sensor: string; readonly above?: number; readonly below?: number };

export type LimitDirection = 'high' | 'low';

/**
 * One alarm limit as the engine evaluates it. A high limit raises at value >= setpoint
 * and clears at value < setpoint - deadband; a low limit raises at value <= setpoint
 * and clears at value > setpoint + deadband.
 */
export interface LimitSpec {
  /** Unique within its rule; part of the alarm id. */
  readonly name: string;
  readonly level: 1 | 2;
  readonly direction: LimitDirection;
  /** In the sensor's unit. */
  readonly setpoint: number;
  /** In the sensor's unit, >= 0. */
  readonly deadband: number;
  /** The condition must hold this long before the alarm raises, ms. */
  readonly onDelayMs: number;
  /** The return must hold this long before the alarm clears, ms. */
  readonly offDelayMs: number;
  /** Where the setpoint is written, relative to the rule (`['level1']`), for error messages. */
  readonly setpointPath: KeyPath;
  /** What the setpoint is compared with; the sensor value when absent. */
  readonly signal?: SignalSpec;
  /** Unit of the signal when it is not the sensor's unit ('ms', 'votes', '%LEL/min'...). */
  readonly signalUnit?: string;
}

/**
 * Every rule of every loaded file; frozen. Each rule is one of the types registered
 * in edge/conditions/ (`RuleSet<Rule>` from there names it exactly).
 */
export interface RuleSet<R extends RuleBase = RuleBase> {
  readonly files: readonly string[];
  readonly rules: readonly R[];
  /** Output devices of every file's `outputs:` section (local linkage). */
  readonly outputs?: readonly OutputDevice[];
}

/** Formats a key path the way error lines show it: `rules[2].limits[0].setpoint`. */
export function formatKeyPath(path: KeyPath): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? key : `.${key}`;
  }
  return out;
}
