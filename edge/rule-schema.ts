/**
 * The one JSON Schema of rule files, assembled from the condition registry: each
 * registered type contributes one branch, selected by `type` (ajv's discriminator,
 * so a rule is reported against its own type only). Print it with
 * `tsx edge/rules-check.ts --schema` for editor completion.
 */
import { ID_PATTERN } from '../protocol/index.js';
import { COMBINATION_TERM_SCHEMA } from './conditions/combination.js';
import { CONDITION_TYPES } from './conditions/index.js';
import type { JsonSchema } from './conditions/types.js';

export const RULE_FILE_VERSION = 1 as const;

/** Keys every rule may have, whatever its type. */
export const COMMON_RULE_PROPERTIES: Readonly<Record<string, JsonSchema>> = {
  id: {
    type: 'string',
    pattern: ID_PATTERN,
    description: 'Rule id, unique across all rule files; letters, digits, _ . - (1–64).',
  },
  sensor: {
    type: 'string',
    pattern: ID_PATTERN,
    description: 'sensorId of the sensor this rule reads.',
  },
  description: { type: 'string', maxLength: 500, description: 'Free text for operators.' },
  justification: {
    type: 'string',
    minLength: 1,
    maxLength: 2000,
    description:
      'Why this rule deviates from a compliance check (GB/T 50493-2019); required for any deviation and kept with the rule.',
  },
  drill: {
    type: 'boolean',
    default: false,
    description:
      'Drill (test) rule: its alarms are tagged drill end to end and never page an emergency centre.',
  },
  latch: {
    type: 'boolean',
    default: false,
    description:
      'ISA-18.2 latched alarm: after the condition returns it stays latched until an operator acknowledges (resets) it.',
  },
  suppressWhen: {
    type: 'array',
    minItems: 1,
    maxItems: 8,
    items: COMBINATION_TERM_SCHEMA,
    description:
      "Suppressed by design (ISA-18.2): while all these terms hold, the rule's alarms are suppressed (still evaluated and recorded).",
  },
  actions: {
    type: 'array',
    maxItems: 16,
    description:
      "Local linkage: writes to an output device on this rule's transitions, read back to confirm.",
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['on', 'output', 'value'],
      properties: {
        on: {
          enum: ['raised', 'cleared', 'acknowledged'],
          description: 'Transition that runs the action.',
        },
        limit: {
          type: 'string',
          pattern: '^[A-Za-z0-9_-]{1,32}$',
          description: 'Only this limit of the rule (e.g. level2); all limits when absent.',
        },
        output: { type: 'string', pattern: ID_PATTERN, description: 'Output id from `outputs:`.' },
        coil: { type: 'integer', minimum: 0, maximum: 65535, description: 'Coil address.' },
        register: {
          type: 'integer',
          minimum: 0,
          maximum: 65535,
          description: 'Holding register address.',
        },
        value: {
          anyOf: [{ type: 'boolean' }, { type: 'integer', minimum: 0, maximum: 65535 }],
          description: 'true/false for a coil, 0..65535 for a register.',
        },
        readback: {
          type: 'boolean',
          default: true,
          description: 'Read the output back and raise a linkage-failure alarm on a mismatch.',
        },
        description: { type: 'string', maxLength: 200, description: 'What the action does.' },
      },
    },
  },
};

/**
 * Keys an output had when linkage opened its own Modbus connection. They are refused
 * by name, with the key to write instead (rule-loader.ts), not as mere unknown keys.
 */
export const RETIRED_OUTPUT_KEYS = ['host', 'port', 'unitId', 'timeoutMs'] as const;

/**
 * The file's `outputs:` section: names for devices of the gateway config that linkage
 * actions write to. The gateway's acquisition owns each device's connection, so an
 * output names the device, never a host or port.
 */
const outputsSchema: JsonSchema = {
  type: 'array',
  maxItems: 64,
  description:
    "Devices of the gateway config that linkage actions write to, through the gateway's acquisition.",
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['id', 'device'],
    properties: {
      id: { type: 'string', pattern: ID_PATTERN, description: 'Output id used by actions.' },
      device: {
        type: 'string',
        pattern: ID_PATTERN,
        description:
          'Device id from the gateway config (devices[].id); its acquisition connection does the writes.',
      },
    },
  },
};

/** One rule: one branch per registered condition type, selected by `type`. */
export const ruleSchema: JsonSchema = {
  type: 'object',
  discriminator: { propertyName: 'type' },
  oneOf: CONDITION_TYPES.map((condition) => ({
    title: `type: ${condition.type}`,
    description: condition.summary,
    type: 'object',
    additionalProperties: false,
    required: ['id', ...(condition.multiSensor ? [] : ['sensor']), 'type', ...condition.required],
    properties: {
      ...COMMON_RULE_PROPERTIES,
      type: { const: condition.type, description: condition.summary },
      ...condition.properties,
    },
  })),
};

export const ruleFileSchema: JsonSchema = {
  title: 'HazardWatch rule file',
  description: 'Alarm rules the edge evaluates; see rules/README.md.',
  type: 'object',
  additionalProperties: false,
  required: ['version', 'rules'],
  properties: {
    version: { const: RULE_FILE_VERSION, description: 'Rule file format version.' },
    rules: { type: 'array', items: ruleSchema, description: 'The rules.' },
    outputs: outputsSchema,
  },
};
