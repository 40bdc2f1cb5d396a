/**
 * The one JSON Schema of the server config (YAML or a plain object). Every key
 * has a title, a description and, where it has one, a default; ajv applies the
 * defaults (`useDefaults`) so the parsed config is complete.
 */
import { ID_PATTERN } from '../../protocol/index.js';
import { ledgerConfigSchema } from '../alarms/ledger-config.js';
import { auditConfigSchema, mqttSecuritySchemaProperties } from '../auth/config.js';
import { plausibilityConfigSchema } from '../auth/input-screen.js';
import { externalBrokerSchemaProperties, nodeConfigSchema } from '../cluster/config.js';
import { databaseConfigSchema } from '../db/config.js';
import { platformConfigSchema } from '../platform/config.js';
import { storeConfigSchema } from '../store/config.js';

const port = (title: string, fallback: number) =>
  ({
    title,
    description: '0 asks the OS for a free port (the actual port is reported after start).',
    type: 'integer',
    minimum: 0,
    maximum: 65535,
    default: fallback,
  }) as const;

/**
 * server/db's `database` fragment without its per-kind defaults: ajv would fill `synchronous`
 * into a postgres section and `poolSize` into a sqlite one, which checkDatabaseConfig then
 * refuses as keys of the other kind. parseServerConfig applies the defaults of the chosen kind.
 */
const databaseSchema = {
  ...databaseConfigSchema,
  properties: Object.fromEntries(
    Object.entries(databaseConfigSchema.properties).map(([key, value]) => {
      const { default: _default, ...rest } = value as { default?: unknown };
      return [key, rest];
    }),
  ),
} as const;

const host = (title: string) =>
  ({
    title,
    description: 'Interface to bind; 127.0.0.1 keeps it on this machine, 0.0.0.0 opens it to all.',
    type: 'string',
    minLength: 1,
    default: '127.0.0.1',
  }) as const;

export const serverConfigSchema = {
  $id: 'https://hazardwatch.example/schemas/server-config.json',
  title: 'HazardWatch central server configuration',
  type: 'object',
  additionalProperties: false,
  properties: {
    http: {
      title: 'HTTP API and dashboard',
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        host: host('HTTP bind address'),
        port: port('HTTP port', 8080),
      },
    },
    mqtt: {
      title: 'MQTT broker (embedded: gateways connect here; external: the cluster broker)',
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        host: host('MQTT bind address'),
        port: port('MQTT port', 1883),
        ...mqttSecuritySchemaProperties,
        ...externalBrokerSchemaProperties,
      },
    },
    node: nodeConfigSchema,
    database: databaseSchema,
    store: storeConfigSchema,
    audit: auditConfigSchema,
    plausibility: plausibilityConfigSchema,
    enterprises: {
      title: 'Enterprise registry',
      description: 'Optional names and jurisdiction of the enterprises whose gateways connect.',
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'name'],
        properties: {
          id: { title: 'Enterprise id (as in MQTT topics)', type: 'string', pattern: ID_PATTERN },
          name: { title: 'Enterprise name', type: 'string', minLength: 1, maxLength: 200 },
          county: { title: 'County', type: 'string', maxLength: 100 },
          city: { title: 'City', type: 'string', maxLength: 100 },
          province: { title: 'Province', type: 'string', maxLength: 100 },
          park: { title: 'Chemical park', type: 'string', maxLength: 100 },
        },
      },
    },
    emergencyCentres: {
      title: 'Emergency centres (rescue linkage webhooks)',
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'name', 'url', 'secret'],
        properties: {
          id: { title: 'Centre id', type: 'string', pattern: ID_PATTERN },
          name: { title: 'Centre name', type: 'string', minLength: 1, maxLength: 200 },
          url: {
            title: 'Webhook URL',
            description: 'Receives a signed POST per alarm (see protocol/linkage.ts).',
            type: 'string',
            pattern: '^https?://[^\\s]+$',
          },
          secret: {
            title: 'Shared HMAC-SHA256 secret',
            description: 'At least 16 characters; the centre verifies every delivery with it.',
            type: 'string',
            minLength: 16,
          },
          minLevel: {
            title: 'Lowest alarm level sent',
            description:
              'GB/T 50493-2019 §5.5.3: level 2 is the action level; 1 also sends warnings.',
            enum: [1, 2],
            default: 2,
          },
        },
      },
    },
    linkage: {
      title: 'Linkage delivery retries',
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        retryInitialMs: {
          title: 'First retry delay (ms)',
          description: 'Doubles after every failed attempt, with jitter.',
          type: 'integer',
          minimum: 1,
          default: 500,
        },
        retryMaxMs: {
          title: 'Longest retry delay (ms)',
          type: 'integer',
          minimum: 1,
          default: 30_000,
        },
      },
    },
    platform: platformConfigSchema,
    ledger: ledgerConfigSchema,
  },
} as const;
