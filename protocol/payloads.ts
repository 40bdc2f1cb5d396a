/**
 * Payload types and their JSON Schemas for protocol v1 (see docs/protocol.md).
 * The server validates every payload against these schemas before it stores
 * anything; the gateway builds payloads with these types.
 */
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
}

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
