/**
 * Server configuration: one JSON Schema (schema.ts), validated with every error
 * at once, defaults applied, deep-frozen. Error lines name the key path:
 * `emergencyCentres[0].url: must match pattern "^https?://[^\s]+$" (got 'ftp://x')`.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject } from 'ajv';
import { parse as parseYaml } from 'yaml';
import type { LedgerConfig } from '../alarms/ledger-config.js';
import { type AuditConfig, type MqttSecurityConfig, mqttSecurityProblems } from '../auth/config.js';
import type { PlausibilityConfig } from '../auth/input-screen.js';
import {
  clusterConfigProblems,
  type ExternalBrokerKeys,
  type NodeConfig,
} from '../cluster/config.js';
import {
  checkDatabaseConfig,
  DATABASE_DEFAULTS,
  type DatabaseConfig,
  redactUrl,
} from '../db/config.js';
import { type PlatformConfig, platformConfigProblems } from '../platform/config.js';
import { type StoreConfig, storeConfigProblems } from '../store/config.js';
import { serverConfigSchema } from './schema.js';

export interface EnterpriseInfo {
  readonly id: string;
  readonly name: string;
  readonly county?: string;
  readonly city?: string;
  readonly province?: string;
  readonly park?: string;
}

export interface EmergencyCentreConfig {
  readonly id: string;
  readonly name: string;
  readonly url: string;
  readonly secret: string;
  /** Lowest alarm level sent to this centre (GB/T 50493-2019 §5.5.3: 2 = action level). */
  readonly minLevel: 1 | 2;
}

export interface ServerConfig {
  readonly http: { readonly host: string; readonly port: number };
  /** Embedded listener keys (host, port, auth, tls, limits) and, mode external, the broker to join. */
  readonly mqtt: { readonly host: string; readonly port: number } & MqttSecurityConfig &
    ExternalBrokerKeys;
  /** This node (cluster mode); absent in the embedded default. */
  readonly node?: NodeConfig;
  /** server/db's database; absent: the stores keep their embedded SQLite file (store.path). */
  readonly database?: DatabaseConfig;
  readonly store: StoreConfig;
  readonly audit: AuditConfig;
  readonly plausibility: PlausibilityConfig;
  readonly enterprises: readonly EnterpriseInfo[];
  readonly emergencyCentres: readonly EmergencyCentreConfig[];
  readonly linkage: { readonly retryInitialMs: number; readonly retryMaxMs: number };
  readonly platform: PlatformConfig;
  readonly ledger: LedgerConfig;
}

/** Thrown for a config that fails validation; `problems` holds one line per error. */
export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: readonly string[],
    options?: { cause?: unknown },
  ) {
    super(
      `invalid server config (${source}):\n${problems.map((p) => `  ${p}`).join('\n')}`,
      options,
    );
    this.name = 'ConfigError';
  }
}

const ajv = new Ajv({ allErrors: true, useDefaults: true, verbose: true, strict: true });
const validate = ajv.compile(serverConfigSchema);

/** `/emergencyCentres/0/url` → `emergencyCentres[0].url`. */
function keyPath(instancePath: string, child?: string): string {
  const parts = instancePath.split('/').slice(1);
  if (child !== undefined) parts.push(child);
  let path = '';
  for (const raw of parts) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    path += /^\d+$/.test(part) ? `[${part}]` : path === '' ? part : `.${part}`;
  }
  return path === '' ? '(root)' : path;
}

function shown(value: unknown): string {
  const text = typeof value === 'string' ? `'${value}'` : JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function describeError(error: ErrorObject): string {
  switch (error.keyword) {
    case 'required':
      return `${keyPath(error.instancePath, String(error.params.missingProperty))}: is required`;
    case 'additionalProperties':
      return `${keyPath(error.instancePath, String(error.params.additionalProperty))}: is not a known key`;
    case 'enum': {
      const allowed = (error.params.allowedValues as unknown[]).map(shown).join(', ');
      return `${keyPath(error.instancePath)}: must be one of ${allowed} (got ${shown(error.data)})`;
    }
    default: {
      const path = keyPath(error.instancePath);
      // Never echo a secret into logs, even a wrong one.
      // A database URL may carry its password: shown with the password masked.
      const got = /secret$|token$|password/i.test(path)
        ? '<hidden>'
        : path === 'database.url' && typeof error.data === 'string'
          ? shown(redactUrl(error.data))
          : shown(error.data);
      return `${path}: ${error.message ?? 'is invalid'} (got ${got})`;
    }
  }
}

/** Checks the schema cannot express: unique ids and ordered retry bounds. */
function semanticProblems(config: ServerConfig): string[] {
  const problems: string[] = [];
  const duplicates = (items: readonly { id: string }[], key: string) => {
    const seen = new Set<string>();
    items.forEach((item, index) => {
      if (seen.has(item.id)) problems.push(`${key}[${index}].id: duplicate id (got '${item.id}')`);
      seen.add(item.id);
    });
  };
  duplicates(config.enterprises, 'enterprises');
  duplicates(config.emergencyCentres, 'emergencyCentres');
  const { retryInitialMs, retryMaxMs } = config.linkage;
  if (retryMaxMs < retryInitialMs) {
    problems.push(
      `linkage.retryMaxMs: must be >= linkage.retryInitialMs (${retryInitialMs}) (got ${retryMaxMs})`,
    );
  }
  problems.push(...storeConfigProblems(config.store));
  problems.push(...mqttSecurityProblems(config.mqtt));
  problems.push(...clusterConfigProblems(config));
  if (config.database !== undefined) problems.push(...checkDatabaseConfig(config.database));
  problems.push(
    ...platformConfigProblems(
      config.platform,
      config.enterprises.map((e) => e.id),
    ),
  );
  return problems;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/**
 * Validates a config object (from YAML, JSON or code) and returns it complete
 * (defaults applied) and frozen. `source` names where it came from in errors.
 * The input is not modified.
 */
export function parseServerConfig(obj: unknown, source = 'server config'): ServerConfig {
  const candidate: unknown = obj === undefined || obj === null ? {} : structuredClone(obj);
  if (!validate(candidate)) {
    throw new ConfigError(source, (validate.errors ?? []).map(describeError));
  }
  const config = candidate as unknown as ServerConfig;
  applyDatabaseDefaults(config);
  const problems = semanticProblems(config);
  if (problems.length > 0) throw new ConfigError(source, problems);
  return deepFreeze(config);
}

/** The schema's `database` carries no defaults (schema.ts says why): those of its kind, here. */
function applyDatabaseDefaults(config: ServerConfig): void {
  const database = config.database as Record<string, unknown> | undefined;
  if (!database) return;
  if (database.kind === 'sqlite') {
    database.synchronous ??= 'NORMAL';
  } else if (database.kind === 'postgres') {
    database.poolSize ??= DATABASE_DEFAULTS.poolSize;
    database.applicationName ??= config.node?.id ?? DATABASE_DEFAULTS.applicationName;
  }
}

/**
 * Overrides from the environment, for secrets and per-node values that should not sit in a
 * config file shared by every node (docs/cluster.md): HAZARDWATCH_NODE_ID → node.id,
 * HAZARDWATCH_DATABASE_URL → database.url, HAZARDWATCH_BROKER_PASSWORD → mqtt.password,
 * HAZARDWATCH_BROKER_HOOK_SECRET → mqtt.authHookSecret.
 * Merge the result like command-line overrides (loadServerConfig's `overrides`).
 */
export function environmentOverrides(env: NodeJS.ProcessEnv): {
  node?: { id: string };
  database?: { url: string };
  mqtt?: { password?: string; authHookSecret?: string };
} {
  const overrides: ReturnType<typeof environmentOverrides> = {};
  if (env.HAZARDWATCH_NODE_ID) overrides.node = { id: env.HAZARDWATCH_NODE_ID };
  if (env.HAZARDWATCH_DATABASE_URL) overrides.database = { url: env.HAZARDWATCH_DATABASE_URL };
  if (env.HAZARDWATCH_BROKER_PASSWORD) {
    overrides.mqtt = { password: env.HAZARDWATCH_BROKER_PASSWORD };
  }
  if (env.HAZARDWATCH_BROKER_HOOK_SECRET) {
    overrides.mqtt = { ...overrides.mqtt, authHookSecret: env.HAZARDWATCH_BROKER_HOOK_SECRET };
  }
  return overrides;
}

/** Deep-merges plain objects (arrays and scalars replace). */
function merge(base: unknown, overrides: unknown): unknown {
  const isPlain = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isPlain(base) || !isPlain(overrides)) return overrides === undefined ? base : overrides;
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(overrides)) out[key] = merge(base[key], value);
  return out;
}

/**
 * Reads a YAML (or JSON, a YAML subset) config file and validates it.
 * `overrides` (e.g. ports from the command line) are merged in before validation.
 */
export function loadServerConfig(path: string, overrides?: object): ServerConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read server config '${path}': ${(err as Error).message}`, {
      cause: err,
    });
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new ConfigError(path, [`(file): not valid YAML: ${(err as Error).message}`], {
      cause: err,
    });
  }
  return parseServerConfig(merge(raw ?? {}, overrides ?? {}), path);
}

/** Merges overrides into a raw config object (used when there is no config file). */
export function withOverrides(raw: object, overrides?: object): unknown {
  return merge(raw, overrides ?? {});
}
