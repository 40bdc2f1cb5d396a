/**
 * Payload types and their JSON Schemas for protocol v1 (see docs/protocol.md).
 * The server validates every payload against these schemas before it stores
 * anything; the gateway builds payloads with these types.
 */
import { createHash } from 'node:crypto';
import { EPOCH_PATTERN } from './envelope.js';
import { ID_PATTERN, PROTOCOL_VERSION } from './topics.js';

/** OPC UA-style quality, reduced to the three classes operators act on. */
export type Quality = 'good' | 'uncertain' | 'bad';
export const QUALITIES: readonly Quality[] = ['good', 'uncertain', 'bad'];

/** One engineering value from one sensor. */
export interface Reading {
  sensorId: string;
  /** Engineering value in the sensor's unit; null when no usable value exists (quality bad). */
  value: number | boolean | string | null;
  quality: Quality;
  /** Why the quality is not good, e.g. 'timeout', 'exception 2', 'ne43 fault low', 'comm lost'. */
  reason?: string;
  /** Source timestamp, epoch milliseconds (device time, or acquisition time when the device has none). */
  ts: number;
}

export type SensorKind =
  | 'gas'
  | 'oxygen'
  | 'temperature'
  | 'pressure'
  | 'level'
  | 'flow'
  | 'status'
  | 'other';

/** What the server needs to show and route a sensor; sent in the gateway's birth message. */
export interface SensorInfo {
  sensorId: string;
  name: string;
  kind: SensorKind;
  unit: string;
  /** Gas name from the gas table (e.g. 'methane', 'H2S'), for gas and oxygen sensors. */
  gas?: string;
  installationId?: string;
  location?: string;
  /** Measuring range in engineering units. */
  rangeMin?: number;
  rangeMax?: number;
  /**
   * The value limits the gateway's rules apply to this sensor, so the server knows every
   * setpoint before the first alarm (setpoint checks, trend lines). Optional: gateways before
   * issue 16 do not send it, and an older server refuses it (upgrade servers first).
   */
  alarmLimits?: SensorAlarmLimit[];
}

/** One value limit of one rule on a sensor, as compiled at the gateway. */
export interface SensorAlarmLimit {
  ruleId: string;
  /** Limit name within the rule (level1, level2, H, HH, deficiency...). */
  name: string;
  level: 1 | 2;
  direction: 'high' | 'low';
  setpoint: number;
  deadband: number;
}

/** At most this many limits per sensor in a birth message (the rule loader's default bound). */
export const MAX_ALARM_LIMITS_PER_SENSOR = 64;

interface Envelope {
  v: typeof PROTOCOL_VERSION;
  gatewayId: string;
  enterpriseId: string;
  /**
   * Gateway sequence number, one counter per gateway across every channel, strictly
   * increasing; the server is idempotent on (gatewayId, seq).
   */
  seq: number;
  /**
   * The outbox epoch: a random id made when the gateway's outbox file was
   * created and kept in it. The server deduplicates on (gatewayId, epoch, seq)
   * and compares content for a seq seen before (docs/durability.md). Optional:
   * gateways before issue 13 do not send it.
   */
  epoch?: string;
  /** When the gateway sent (or first queued) this item, epoch ms. */
  sentAt: number;
}

export interface TelemetryBatch extends Envelope {
  readings: Reading[];
}

/**
 * 'raised' and 'cleared' open and close an occurrence's condition. The rest are
 * ISA-18.2 / IEC 62682 lifecycle events (added in issue 4, optional for readers):
 * 'acknowledged' (operator ack), 'returned' (a latched alarm's condition returned;
 * it stays latched until acknowledged, then 'cleared'), 'shelved'/'unshelved',
 * 'suppressed'/'unsuppressed' (suppressed by design), 'out-of-service'/'in-service'.
 */
export type AlarmTransition =
  | 'raised'
  | 'cleared'
  | 'acknowledged'
  | 'returned'
  | 'shelved'
  | 'unshelved'
  | 'suppressed'
  | 'unsuppressed'
  | 'out-of-service'
  | 'in-service';
export const ALARM_TRANSITIONS: readonly AlarmTransition[] = [
  'raised',
  'cleared',
  'acknowledged',
  'returned',
  'shelved',
  'unshelved',
  'suppressed',
  'unsuppressed',
  'out-of-service',
  'in-service',
];

/** ISA-18.2 / IEC 62682 alarm state after a transition. */
export type AlarmLifecycleState =
  | 'normal'
  | 'unacknowledged'
  | 'acknowledged'
  | 'returned-unacknowledged'
  | 'latched'
  | 'shelved'
  | 'suppressed'
  | 'out-of-service';
export const ALARM_LIFECYCLE_STATES: readonly AlarmLifecycleState[] = [
  'normal',
  'unacknowledged',
  'acknowledged',
  'returned-unacknowledged',
  'latched',
  'shelved',
  'suppressed',
  'out-of-service',
];

/**
 * One transition of one alarm occurrence. An occurrence has one alarmId from
 * raise to clear; the server's ledger keys on it.
 */
export interface AlarmEvent extends Envelope {
  alarmId: string;
  ruleId: string;
  sensorId: string;
  sensorName?: string;
  installationId?: string;
  location?: string;
  gas?: string;
  /** Alarm level: 1 = first level (warning), 2 = second level (action), as in GB/T 50493-2019 §5.3. */
  level: 1 | 2;
  transition: AlarmTransition;
  /** The value that caused the transition, in `unit`. */
  value: number | null;
  unit: string;
  setpoint: number;
  /** Edge time of the transition, epoch ms. */
  ts: number;
  /** Drill (test) alarms are tagged end to end and never page an emergency centre. */
  drill: boolean;
  message?: string;
  /** ISA-18.2 state of the alarm after this transition (shelved/suppressed/out-of-service: not annunciated). */
  state?: AlarmLifecycleState;
  /** Who acknowledged ('acknowledged', and 'cleared' of a latched alarm reset by an ack). */
  acknowledgedBy?: string;
  /** Who shelved, suppressed or took out of service (or put back). */
  by?: string;
  /** Timed shelving: when the shelve ends, epoch ms. */
  shelvedUntil?: number;
  /** Raised during an alarm flood (ISA-18.2: more than 10 alarms in 10 min). */
  flood?: boolean;
  /** During a flood: alarmId of the first-out alarm, the one that started it. */
  firstOut?: string;
  /** This alarm is chattering (3 or more raises in 60 s). */
  chattering?: boolean;
  /**
   * A re-announcement (ISA-18.2: an alarm still active when it returns from shelved,
   * suppressed or out of service is annunciated again, under a new occurrence id): the
   * alarmId of the occurrence it supersedes. The server pages an emergency centre once per
   * event, so a centre already paged for that occurrence is not paged again. Optional.
   */
  reannounces?: string;
}

export type GatewayState = 'online' | 'offline';

/** Birth (online, with the sensor catalogue), heartbeat (online) and last will (offline). */
export interface GatewayStatus {
  v: typeof PROTOCOL_VERSION;
  gatewayId: string;
  enterpriseId: string;
  state: GatewayState;
  ts: number;
  sensors?: SensorInfo[];
  software?: string;
  /** Store-and-forward figures, in heartbeats of gateways that have an outbox. Optional. */
  uplink?: UplinkStatus;
}

/** What a gateway's outbox holds and has lost (docs/durability.md). */
export interface UplinkStatus {
  /** Items (alarms + telemetry batches) not yet acknowledged by the server. */
  backlogItems: number;
  backlogReadings: number;
  /** Telemetry outbox fill, % of its bound. */
  fillPct: number;
  /** Readings shed by the outbox's policy since it was created. */
  droppedReadings: number;
  /** Items the server rejected as invalid (dropped by the gateway) since it started. */
  rejected: number;
  /**
   * Items the gateway could not read back from its own outbox (garbled on disk),
   * set aside in its quarantine since the outbox was created. Optional (issue 13).
   */
  quarantined?: number;
  /** Seconds until the backlog is drained at the current pace; null while unknown. */
  estimatedDrainS: number | null;
}

/** Server → gateway: items the server has durably stored (application-level acknowledgement). */
export interface StoreAck {
  v: typeof PROTOCOL_VERSION;
  seqs: number[];
  /**
   * Items the server refused as invalid (schema, ids, alarm conflict): they will
   * never be stored, so the gateway drops them (counting and logging each)
   * instead of resending them forever. Optional; absent means none.
   */
  rejected?: number[];
  /**
   * The outbox epoch the acknowledged items came with (absent for items sent
   * without one). A gateway ignores an ack whose epoch is not its outbox's:
   * after a restore reuses numbers, a late ack of the old epoch must not delete
   * a different item under the same seq. Optional.
   */
  epoch?: string;
}

const id = { type: 'string', pattern: ID_PATTERN } as const;
const text = (maxLength: number) => ({ type: 'string', maxLength }) as const;
/** 2000-01-01 .. 2100-01-01: anything outside is a broken clock, not a reading. */
const epochMs = { type: 'number', minimum: 946_684_800_000, maximum: 4_102_444_800_000 } as const;
const seq = { type: 'integer', minimum: 0 } as const;
const version = { const: PROTOCOL_VERSION } as const;
const finiteOrNull = { type: ['number', 'null'] } as const;

export const readingSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['sensorId', 'value', 'quality', 'ts'],
  properties: {
    sensorId: id,
    value: { type: ['number', 'boolean', 'string', 'null'], maxLength: 256 },
    quality: { enum: QUALITIES },
    reason: text(200),
    ts: epochMs,
  },
} as const;

export const sensorInfoSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['sensorId', 'name', 'kind', 'unit'],
  properties: {
    sensorId: id,
    name: text(200),
    kind: {
      enum: ['gas', 'oxygen', 'temperature', 'pressure', 'level', 'flow', 'status', 'other'],
    },
    unit: text(32),
    gas: text(64),
    installationId: id,
    location: text(200),
    rangeMin: { type: 'number' },
    rangeMax: { type: 'number' },
    alarmLimits: {
      type: 'array',
      maxItems: MAX_ALARM_LIMITS_PER_SENSOR,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['ruleId', 'name', 'level', 'direction', 'setpoint', 'deadband'],
        properties: {
          ruleId: id,
          name: text(64),
          level: { enum: [1, 2] },
          direction: { enum: ['high', 'low'] },
          setpoint: { type: 'number' },
          deadband: { type: 'number', minimum: 0 },
        },
      },
    },
  },
} as const;

const envelopeProperties = {
  v: version,
  gatewayId: id,
  enterpriseId: id,
  seq,
  epoch: { type: 'string', pattern: EPOCH_PATTERN },
  sentAt: epochMs,
} as const;

/** Upper bound on readings per batch, so one message cannot exhaust the server. */
export const MAX_READINGS_PER_BATCH = 10_000;

export const telemetryBatchSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['v', 'gatewayId', 'enterpriseId', 'seq', 'sentAt', 'readings'],
  properties: {
    ...envelopeProperties,
    readings: { type: 'array', maxItems: MAX_READINGS_PER_BATCH, items: readingSchema },
  },
} as const;

export const alarmEventSchema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'v',
    'gatewayId',
    'enterpriseId',
    'seq',
    'sentAt',
    'alarmId',
    'ruleId',
    'sensorId',
    'level',
    'transition',
    'value',
    'unit',
    'setpoint',
    'ts',
    'drill',
  ],
  properties: {
    ...envelopeProperties,
    alarmId: text(200),
    ruleId: id,
    sensorId: id,
    sensorName: text(200),
    installationId: id,
    location: text(200),
    gas: text(64),
    level: { enum: [1, 2] },
    transition: { enum: ALARM_TRANSITIONS },
    value: finiteOrNull,
    unit: text(32),
    setpoint: { type: 'number' },
    ts: epochMs,
    drill: { type: 'boolean' },
    message: text(500),
    state: { enum: ALARM_LIFECYCLE_STATES },
    acknowledgedBy: text(200),
    by: text(200),
    shelvedUntil: epochMs,
    flood: { type: 'boolean' },
    firstOut: text(200),
    chattering: { type: 'boolean' },
    reannounces: text(200),
  },
} as const;

export const gatewayStatusSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['v', 'gatewayId', 'enterpriseId', 'state', 'ts'],
  properties: {
    v: version,
    gatewayId: id,
    enterpriseId: id,
    state: { enum: ['online', 'offline'] },
    ts: epochMs,
    sensors: { type: 'array', maxItems: MAX_READINGS_PER_BATCH, items: sensorInfoSchema },
    software: text(100),
    uplink: {
      type: 'object',
      additionalProperties: false,
      required: [
        'backlogItems',
        'backlogReadings',
        'fillPct',
        'droppedReadings',
        'rejected',
        'estimatedDrainS',
      ],
      properties: {
        backlogItems: { type: 'integer', minimum: 0 },
        backlogReadings: { type: 'integer', minimum: 0 },
        fillPct: { type: 'number', minimum: 0 },
        droppedReadings: { type: 'integer', minimum: 0 },
        rejected: { type: 'integer', minimum: 0 },
        quarantined: { type: 'integer', minimum: 0 },
        estimatedDrainS: { type: ['number', 'null'], minimum: 0 },
      },
    },
  },
} as const;

export const storeAckSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['v', 'seqs'],
  properties: {
    v: version,
    seqs: { type: 'array', maxItems: 100_000, items: seq },
    rejected: { type: 'array', maxItems: 100_000, items: seq },
    epoch: { type: 'string', pattern: EPOCH_PATTERN },
  },
} as const;

/** Operator commands the server relays to a gateway's alarm engine (ISA-18.2 operator actions). */
export type GatewayCommandType = 'acknowledge' | 'shelve' | 'unshelve';
export const GATEWAY_COMMAND_TYPES: readonly GatewayCommandType[] = [
  'acknowledge',
  'shelve',
  'unshelve',
];

/**
 * Server → gateway on the `command` channel. The gateway applies it to its alarm
 * engine and reports the resulting transition on the `alarm` channel, so the
 * server's ledger changes state only when the edge has done so.
 */
export interface GatewayCommand {
  v: typeof PROTOCOL_VERSION;
  /** Unique per command; the gateway ignores a repeated id. */
  commandId: string;
  type: GatewayCommandType;
  /** An alarm occurrence id, or `ruleId.limit` for the alarm point. */
  alarmId: string;
  /** Who did it, e.g. `regulator:alice`. */
  by: string;
  ts: number;
  /** For 'shelve': how long; absent means one-shot (until the alarm next clears). */
  durationMs?: number;
}

export const gatewayCommandSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['v', 'commandId', 'type', 'alarmId', 'by', 'ts'],
  properties: {
    v: version,
    commandId: text(100),
    type: { enum: GATEWAY_COMMAND_TYPES },
    alarmId: text(200),
    by: text(200),
    ts: epochMs,
    durationMs: { type: 'integer', minimum: 1, maximum: 86_400_000 },
  },
} as const;

// ---- Fleet management (docs/fleet.md); optional: gateways without a fleet agent never see these.

/** A rule file of a pushed version: its name in the version's rules/ folder and its text. */
export interface FleetRuleFile {
  file: string;
  text: string;
}

/**
 * Server → gateway, retained on `config`: the configuration and rule set a gateway should run,
 * with its management-of-change record (who, when, why). `hash` is {@link fleetContentHash}.
 */
export interface FleetConfigDocument {
  v: typeof PROTOCOL_VERSION;
  version: number;
  hash: string;
  /** gateway.yaml text; the gateway writes in its own identity, uplink url and credentials. */
  config: string;
  rules: FleetRuleFile[];
  by: string;
  reason: string;
  issuedAt: number;
}

export const FLEET_CONFIG_STATES = ['applied', 'refused', 'rolled-back'] as const;
export type FleetConfigState = (typeof FLEET_CONFIG_STATES)[number];

/** Gateway → server on `config-status`: what became of a version, every error with its key path. */
export interface FleetConfigStatus {
  v: typeof PROTOCOL_VERSION;
  version: number;
  state: FleetConfigState;
  /** The version running after this outcome (null: none yet). */
  runningVersion: number | null;
  errors: string[];
  ts: number;
}

/** Gateway → server on `health`, every interval. Extra keys are allowed (newer gateways). */
export interface FleetHealth {
  v: typeof PROTOCOL_VERSION;
  ts: number;
  intervalMs: number;
  cpuPct: number;
  memory: { rssBytes: number; heapUsedBytes: number; systemFreeBytes: number };
  diskFreeBytes: number | null;
  outbox: { items: number; oldestAgeMs: number; fillPct: number; connected: boolean };
  readingsPerS: number;
  devices: { online: number; total: number };
  versions: { software: string; node: string; protocol: number; config: number | null };
  /** Files of the running version edited on the box since it was pushed. */
  drift: string[];
  logLevel: string;
}

export const FLEET_COMMAND_TYPES = [
  'restart-acquisition',
  'log-level',
  'log-tail',
  'rule-check',
] as const;
export type FleetCommandType = (typeof FLEET_COMMAND_TYPES)[number];

/** Server → gateway on `fleet-command`. */
export interface FleetCommand {
  v: typeof PROTOCOL_VERSION;
  commandId: string;
  type: FleetCommandType;
  by: string;
  ts: number;
  /** log-level: the level, kept for durationMs then back to the previous one. */
  level?: string;
  durationMs?: number;
  /** log-tail: how many of the last lines. */
  lines?: number;
}

/** Gateway → server on `fleet-result`. */
export interface FleetCommandResult {
  v: typeof PROTOCOL_VERSION;
  commandId: string;
  ok: boolean;
  ts: number;
  output: string[];
}

const boundedText = (maxLength: number) => ({ type: 'string', minLength: 1, maxLength }) as const;
const count = { type: 'number', minimum: 0 } as const;

export const fleetConfigDocumentSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['v', 'version', 'hash', 'config', 'rules', 'by', 'reason', 'issuedAt'],
  properties: {
    v: version,
    version: { type: 'integer', minimum: 1 },
    hash: { type: 'string', pattern: '^[0-9a-f]{64}$' },
    config: { type: 'string', minLength: 1, maxLength: 1_048_576 },
    rules: {
      type: 'array',
      maxItems: 200,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['file', 'text'],
        properties: {
          // A plain file name: never a path out of the version's folder.
          file: { type: 'string', pattern: '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}\\.ya?ml$' },
          text: { type: 'string', maxLength: 4_194_304 },
        },
      },
    },
    by: boundedText(200),
    reason: boundedText(2_000),
    issuedAt: epochMs,
  },
} as const;

export const fleetConfigStatusSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['v', 'version', 'state', 'runningVersion', 'errors', 'ts'],
  properties: {
    v: version,
    version: { type: 'integer', minimum: 1 },
    state: { enum: FLEET_CONFIG_STATES },
    runningVersion: { type: ['integer', 'null'], minimum: 1 },
    errors: { type: 'array', maxItems: 1_000, items: text(2_000) },
    ts: epochMs,
  },
} as const;

export const fleetHealthSchema = {
  type: 'object',
  required: ['v', 'ts', 'intervalMs', 'outbox', 'versions'],
  properties: {
    v: version,
    ts: epochMs,
    intervalMs: { type: 'integer', minimum: 1 },
    cpuPct: count,
    memory: {
      type: 'object',
      properties: { rssBytes: count, heapUsedBytes: count, systemFreeBytes: count },
    },
    diskFreeBytes: { type: ['number', 'null'], minimum: 0 },
    outbox: {
      type: 'object',
      required: ['items', 'oldestAgeMs', 'fillPct', 'connected'],
      properties: {
        items: count,
        oldestAgeMs: count,
        fillPct: count,
        connected: { type: 'boolean' },
      },
    },
    readingsPerS: count,
    devices: { type: 'object', properties: { online: count, total: count } },
    versions: {
      type: 'object',
      required: ['config'],
      properties: {
        software: text(100),
        node: text(50),
        protocol: { type: 'integer' },
        config: { type: ['integer', 'null'] },
      },
    },
    drift: { type: 'array', maxItems: 200, items: text(200) },
    logLevel: text(20),
  },
} as const;

export const fleetCommandSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['v', 'commandId', 'type', 'by', 'ts'],
  properties: {
    v: version,
    commandId: boundedText(100),
    type: { enum: FLEET_COMMAND_TYPES },
    by: boundedText(200),
    ts: epochMs,
    level: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] },
    durationMs: { type: 'integer', minimum: 1_000, maximum: 86_400_000 },
    lines: { type: 'integer', minimum: 1, maximum: 1_000 },
  },
} as const;

export const fleetCommandResultSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['v', 'commandId', 'ok', 'ts', 'output'],
  properties: {
    v: version,
    commandId: boundedText(100),
    ok: { type: 'boolean' },
    ts: epochMs,
    output: { type: 'array', maxItems: 2_000, items: text(8_000) },
  },
} as const;

/**
 * The hash of a version's content (config text and rule files, in file-name order), so the
 * server and the gateway agree on it and the gateway can report edits on the box as drift.
 */
export function fleetContentHash(config: string, rules: readonly FleetRuleFile[]): string {
  const hash = createHash('sha256');
  hash.update(`config\0${config}\0`);
  for (const rule of [...rules].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0)))
    hash.update(`rule\0${rule.file}\0${rule.text}\0`);
  return hash.digest('hex');
}
