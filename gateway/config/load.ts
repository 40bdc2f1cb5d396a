/**
 * Loads the gateway configuration: YAML → environment overrides → JSON Schema
 * (all errors at once) → defaults → cross-field checks (on the well-formed parts when
 * the schema found errors) → rule and TLS paths resolved → deep freeze. Every problem
 * is reported in one ConfigError, one line each.
 *
 * Environment overrides (applied before validation, so they are validated too):
 *   HAZARDWATCH_MQTT_URL  replaces uplink.url
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv } from 'ajv';
import { LineCounter, parseDocument } from 'yaml';
import { crossCheck } from './cross-checks.js';
import { applySchemaDefaults, deepFreeze } from './defaults.js';
import { ajvErrorLine, ConfigError } from './errors.js';
import { gatewayConfigSchema } from './schema.js';
import type { GatewayConfig } from './types.js';
import { type Unchecked, wellFormedParts } from './well-formed.js';

/** Environment variables that replace a key of the file. */
export const ENV_OVERRIDES = [
  { variable: 'HAZARDWATCH_MQTT_URL', path: ['uplink', 'url'] },
] as const satisfies readonly { variable: string; path: readonly string[] }[];

const ajv = new Ajv({ allErrors: true, strict: true, discriminator: true, verbose: true });
const validateSchema = ajv.compile(gatewayConfigSchema);

export interface ParseOptions {
  /** Environment to read overrides from; default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Folder relative rule and uplink.tls files are resolved against; default the folder of sourceName. */
  baseDir?: string;
}

/** Reads and validates a YAML configuration file; throws ConfigError listing every problem. */
export function loadGatewayConfig(filePath: string, options: ParseOptions = {}): GatewayConfig {
  let text: string;
  try {
    text = readFileSync(filePath, 'utf8');
  } catch (err) {
    throw new ConfigError(filePath, [`(file): cannot read: ${(err as Error).message}`], {
      cause: err,
    });
  }
  return parseGatewayConfig(text, filePath, {
    ...options,
    baseDir: options.baseDir ?? path.dirname(path.resolve(filePath)),
  });
}

/**
 * Validates configuration text. `sourceName` (usually the file path) starts every
 * error message. The result has defaults applied and is deeply frozen.
 */
export function parseGatewayConfig(
  text: string,
  sourceName: string,
  options: ParseOptions = {},
): GatewayConfig {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { prettyErrors: false, lineCounter });
  if (document.errors.length > 0) {
    const lines = document.errors.map((e) => {
      const at = lineCounter.linePos(e.pos[0]);
      return `(yaml) line ${at.line} column ${at.col}: ${e.message.split('\n')[0]}`;
    });
    throw new ConfigError(sourceName, lines, { cause: document.errors[0] });
  }
  const data: unknown = document.toJS();

  const overridden = applyEnvOverrides(data, options.env ?? process.env);

  if (!validateSchema(data)) {
    const errors = [...(validateSchema.errors ?? [])];
    const schemaLines = errors.map((e) => ajvErrorLine(e, data));
    // The cross-checks still run on the parts the schema accepted, so that every
    // problem is reported in one run. Defaults go in first: a rejected value is removed,
    // never silently replaced by its default (which could raise a false duplicate).
    applySchemaDefaults(gatewayConfigSchema, data);
    const { parts, rejected, keepLine } = wellFormedParts(data, errors);
    const crossLines =
      parts === undefined
        ? []
        : crossCheck(parts as Unchecked<GatewayConfig>, rejected).filter(keepLine);
    throw new ConfigError(
      sourceName,
      markOverrides(unique([...schemaLines, ...crossLines]), overridden),
    );
  }
  applySchemaDefaults(gatewayConfigSchema, data);
  const config = data as unknown as GatewayConfig;
  const crossLines = crossCheck(config);
  if (crossLines.length > 0)
    throw new ConfigError(sourceName, markOverrides(crossLines, overridden));

  const baseDir = options.baseDir ?? path.dirname(path.resolve(sourceName));
  const rules = config.rules as unknown as { files: string[] };
  rules.files = rules.files.map((file) => path.resolve(baseDir, file));
  const tls = config.uplink.tls as Record<string, unknown> | undefined;
  for (const key of ['caFile', 'certFile', 'keyFile'] as const) {
    if (tls && typeof tls[key] === 'string') tls[key] = path.resolve(baseDir, tls[key]);
  }
  return deepFreeze(config);
}

/** Writes each set override into the parsed data; returns the overrides applied. */
function applyEnvOverrides(
  data: unknown,
  env: Readonly<Record<string, string | undefined>>,
): { variable: string; key: string }[] {
  const applied: { variable: string; key: string }[] = [];
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return applied;
  for (const override of ENV_OVERRIDES) {
    const value = env[override.variable];
    if (value === undefined || value === '') continue;
    let node = data as Record<string, unknown>;
    const parents = override.path.slice(0, -1);
    let reachable = true;
    for (const key of parents) {
      if (node[key] === undefined) node[key] = {};
      const next = node[key];
      if (next === null || typeof next !== 'object' || Array.isArray(next)) {
        reachable = false;
        break;
      }
      node = next as Record<string, unknown>;
    }
    if (!reachable) continue;
    node[override.path[override.path.length - 1]!] = value;
    applied.push({ variable: override.variable, key: override.path.join('.') });
  }
  return applied;
}

function markOverrides(lines: string[], overridden: { variable: string; key: string }[]): string[] {
  return lines.map((line) => {
    const hit = overridden.find((o) => line.startsWith(`${o.key}:`));
    return hit ? `${line} [set by ${hit.variable}]` : line;
  });
}

function unique(lines: string[]): string[] {
  return [...new Set(lines)];
}
