/**
 * Screening packs: rules as data (YAML), validated against packs/pack.schema.json with all
 * errors at once, each error as `file: rules[2].forMs: must be >= 0 (got -1)`. Built-in packs
 * are named by file name (server/supervision/packs/<name>.yaml); anything else is a path.
 * Site overrides (`platform.supervision.ruleOverrides`) change a rule's time or switch it off
 * without editing the pack.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject } from 'ajv';
import { parse } from 'yaml';
import type { RuleOverride } from './config.js';
import type { HazardKind, HazardSeverity, StandardItem } from './hazard-chain.js';

export const PACK_DIR = fileURLToPath(new URL('./packs/', import.meta.url));
const schema = JSON.parse(readFileSync(`${PACK_DIR}pack.schema.json`, 'utf8')) as object;
const ajv = new Ajv({ allErrors: true, useDefaults: true, verbose: true, strict: false });
const validate = ajv.compile(schema);

export type ConditionName =
  | 'detector-not-working'
  | 'setpoint-looser-than-standard'
  | 'no-gas-detector'
  | 'interlock-bypassed'
  | 'storage-over-registered'
  | 'alarm-not-handled'
  | 'alarm-chattering'
  | 'gateway-outage';

export interface PackRule {
  id: string;
  condition: ConditionName;
  title: string;
  severity: HazardSeverity;
  forMs: number;
  item: StandardItem;
  options: Record<string, unknown>;
  /** Filled in by the loader. */
  kind: HazardKind;
  packId: string;
  source: string;
}

export interface Pack {
  version: 1;
  id: string;
  title: string;
  kind: HazardKind;
  source: string;
  note?: string;
  rules: PackRule[];
}

function describe(error: ErrorObject): string {
  const path = error.instancePath
    .split('/')
    .slice(1)
    .map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`))
    .join('')
    .replace(/^\./, '');
  const got = error.data === undefined ? '' : ` (got ${JSON.stringify(error.data)})`;
  if (error.keyword === 'enum') {
    const allowed = (error.params.allowedValues as unknown[]).join(', ');
    return `${path}: must be one of ${allowed}${got}`;
  }
  if (error.keyword === 'additionalProperties') {
    return `${path || '(root)'}: '${String(error.params.additionalProperty)}' is not a known key`;
  }
  return `${path || '(root)'}: ${error.message ?? 'is invalid'}${got}`;
}

/** Parses and validates one pack's text; throws one error listing every problem. */
export function parsePack(text: string, file: string): Pack {
  let value: unknown;
  try {
    value = parse(text);
  } catch (err) {
    throw new Error(`${file}: not YAML: ${(err as Error).message}`, { cause: err });
  }
  if (!validate(value)) {
    const lines = (validate.errors ?? []).map((e) => `${file}: ${describe(e)}`);
    throw new Error(`invalid screening pack:\n${lines.join('\n')}`);
  }
  const pack = value as Pack;
  for (const rule of pack.rules) {
    rule.kind = pack.kind;
    rule.packId = pack.id;
    rule.source = pack.source;
    rule.options ??= {};
  }
  return pack;
}

/** Loads packs by built-in name or path, checks rule ids are unique, applies the overrides. */
export function loadPacks(
  names: readonly string[],
  overrides: readonly RuleOverride[] = [],
): Pack[] {
  const packs = names.map((name) => {
    const file = /[/\\]|\.ya?ml$/.test(name) ? name : `${PACK_DIR}${name}.yaml`;
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new Error(`cannot read screening pack '${name}' (${file}): ${(err as Error).message}`, {
        cause: err,
      });
    }
    return parsePack(text, file);
  });
  const seen = new Map<string, string>();
  for (const pack of packs) {
    for (const rule of pack.rules) {
      const other = seen.get(rule.id);
      if (other)
        throw new Error(`screening rule '${rule.id}' is in packs '${other}' and '${pack.id}'`);
      seen.set(rule.id, pack.id);
    }
  }
  overrides.forEach((o, i) => {
    if (!seen.has(o.rule)) {
      throw new Error(
        `platform.supervision.ruleOverrides[${i}].rule: no such screening rule (got '${o.rule}')`,
      );
    }
  });
  for (const pack of packs) {
    pack.rules = pack.rules.filter((rule) => {
      const o = overrides.find((x) => x.rule === rule.id);
      if (o?.forMs !== undefined) rule.forMs = o.forMs;
      return o?.enabled !== false;
    });
  }
  return packs;
}
