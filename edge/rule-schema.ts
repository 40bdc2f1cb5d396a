/**
 * The one JSON Schema of rule files, assembled from the condition registry: each
 * registered type contributes one branch, selected by `type` (ajv's discriminator,
 * so a rule is reported against its own type only). Print it with
 * `tsx edge/rules-check.ts --schema` for editor completion.
 */
import { ID_PATTERN } from '../protocol/index.js';
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
};

const ruleSchema: JsonSchema = {
  type: 'object',
  discriminator: { propertyName: 'type' },
  oneOf: CONDITION_TYPES.map((condition) => ({
    title: `type: ${condition.type}`,
    description: condition.summary,
    type: 'object',
    additionalProperties: false,
    required: ['id', 'sensor', 'type', ...condition.required],
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
  },
};
