/**
 * YAML and JSON Schema helpers of the rule loader: where a key path sits in a parsed
 * rule file (line and column), and how an ajv error reads to a plant engineer. Pure
 * functions over one parsed document; no I/O.
 */
import type { ErrorObject } from 'ajv';
import { type Document, isAlias, isMap, isPair, isScalar, isSeq, type Node } from 'yaml';
import { CONDITION_TYPE_NAMES } from './conditions/index.js';
import { RETIRED_OUTPUT_KEYS } from './rule-schema.js';
import { formatKeyPath, type KeyPath, type Position } from './rule-types.js';

/** A problem before the file name is attached: position, formatted key path, message. */
export interface LocatedMessage {
  readonly line: number;
  readonly col: number;
  readonly path: string;
  readonly message: string;
}

/** Finds the position of a key path: its value (default) or its key. */
export type Locate = (path: KeyPath, want?: 'key' | 'value') => Position;

/** The rule index an ajv instancePath points into (`/rules/3/...` → 3). */
export function ruleIndexOf(instancePath: string): number | undefined {
  const match = /^\/rules\/(\d+)(\/|$)/.exec(instancePath);
  return match ? Number(match[1]) : undefined;
}

/** The output index an ajv instancePath points into (`/outputs/1/...` → 1). */
export function outputIndexOf(instancePath: string): number | undefined {
  const match = /^\/outputs\/(\d+)(\/|$)/.exec(instancePath);
  return match ? Number(match[1]) : undefined;
}

/** A JSON pointer as a key path (`/rules/3/level1` → ['rules', 3, 'level1']). */
export function pointerToPath(pointer: string): (string | number)[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((part) => (/^\d+$/.test(part) ? Number(part) : part));
}

function show(value: unknown): string {
  if (typeof value === 'number') return String(value); // JSON would show Infinity as null
  const text = typeof value === 'string' ? `'${value}'` : JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/**
 * The one problem reported for an output written the old way (host, port...): it names
 * the key to write instead, where an unknown-key message would only list allowed keys.
 */
export function retiredOutputKeys(
  raw: Readonly<Record<string, unknown>>,
  index: number,
  locate: Locate,
): LocatedMessage | undefined {
  const retired = RETIRED_OUTPUT_KEYS.filter((key) => key in raw);
  const first = retired[0];
  if (first === undefined) return undefined;
  const at: KeyPath = ['outputs', index, first];
  return {
    ...locate(at, 'key'),
    path: formatKeyPath(at),
    message: `${retired.join(', ')} ${retired.length === 1 ? 'is' : 'are'} no longer written in rule files: the gateway's acquisition owns each device's connection; write \`device: <device id from the gateway config>\` instead (rules/README.md, Local linkage)`,
  };
}

/** Turns one ajv error into a problem a plant engineer can act on. */
export function describeSchemaError(error: ErrorObject, locate: Locate): LocatedMessage {
  const path = pointerToPath(error.instancePath);
  const params = error.params as Record<string, unknown>;
  const here = (message: string, at: KeyPath = path, want: 'key' | 'value' = 'value') => ({
    ...locate(at, want),
    path: formatKeyPath(at),
    message,
  });
  const parentSchema = error.parentSchema as { properties?: Record<string, unknown> } | undefined;
  switch (error.keyword) {
    case 'required': {
      const missing = String(params.missingProperty);
      return {
        ...locate(path),
        path: formatKeyPath([...path, missing]),
        message: 'missing required key',
      };
    }
    case 'additionalProperties': {
      const extra = String(params.additionalProperty);
      const allowed = Object.keys(parentSchema?.properties ?? {}).join(', ');
      return here(`unknown key (allowed: ${allowed})`, [...path, extra], 'key');
    }
    case 'discriminator': {
      if (params.error === 'mapping') {
        return here(
          `unknown condition type ${show(params.tagValue)} (known: ${CONDITION_TYPE_NAMES.join(', ')})`,
          [...path, 'type'],
        );
      }
      if (params.tagValue === undefined) {
        return {
          ...locate(path),
          path: formatKeyPath([...path, 'type']),
          message: 'missing required key',
        };
      }
      return here(
        `must be one of ${CONDITION_TYPE_NAMES.join(', ')} (got ${show(params.tagValue)})`,
        [...path, 'type'],
      );
    }
    case 'enum': {
      const allowed = (params.allowedValues as unknown[]).map((v) => String(v)).join(', ');
      return here(`must be one of ${allowed} (got ${show(error.data)})`);
    }
    case 'const':
      return here(`must be ${show(params.allowedValue)} (got ${show(error.data)})`);
    case 'type':
      return here(`must be ${String(params.type)} (got ${show(error.data)})`);
    default:
      return here(`${error.message ?? 'is invalid'} (got ${show(error.data)})`);
  }
}

interface Found {
  readonly parent: Node | null;
  readonly key: Node | null;
  readonly value: Node | null;
}

/** Follows a key path through the YAML tree; stops at the deepest node that exists. */
export function findNode(root: unknown, path: KeyPath, doc: Document): Found {
  let node = resolveAlias(root, doc);
  let parent: Node | null = null;
  let key: Node | null = null;
  for (const step of path) {
    if (isMap(node)) {
      const pair = node.items.find(
        (item) => isScalar(item.key) && String(item.key.value) === String(step),
      );
      if (!pair) return { parent: node, key: null, value: null };
      parent = node;
      key = (pair.key as Node) ?? null;
      node = resolveAlias(pair.value, doc);
      if (node === null) return { parent, key, value: null };
    } else if (isSeq(node) && typeof step === 'number') {
      const item = node.items[step];
      if (item === undefined) return { parent: node, key: null, value: null };
      parent = node;
      key = null;
      node = resolveAlias(item, doc);
    } else {
      return { parent, key, value: (node as Node | null) ?? null };
    }
  }
  return { parent, key, value: (node as Node | null) ?? null };
}

/** A Locate over one parsed document. */
export function locator(doc: Document, at: (offset: number) => Position): Locate {
  return (path, want = 'value') => {
    const found = findNode(doc.contents, path, doc);
    const node = want === 'key' ? (found.key ?? found.value) : (found.value ?? found.key);
    const offset = node?.range?.[0] ?? found.parent?.range?.[0] ?? 0;
    return at(offset);
  };
}

function resolveAlias(node: unknown, doc: Document): Node | null {
  if (isAlias(node)) return (node.resolve(doc) as Node | undefined) ?? null;
  if (isPair(node)) return null;
  return (node as Node | null | undefined) ?? null;
}

/** Records the position of every key under a node, by formatted relative path. */
export function collectPositions(
  node: Node | null,
  path: (string | number)[],
  out: Record<string, Position>,
  at: (offset: number) => Position,
  doc: Document,
): void {
  if (isMap(node)) {
    for (const pair of node.items) {
      if (!isScalar(pair.key)) continue;
      const childPath = [...path, String(pair.key.value)];
      const value = resolveAlias(pair.value, doc);
      const offset = value?.range?.[0] ?? (pair.key as Node).range?.[0];
      if (offset !== undefined) out[formatKeyPath(childPath)] = at(offset);
      collectPositions(value, childPath, out, at, doc);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, index) => {
      const value = resolveAlias(item, doc);
      const childPath = [...path, index];
      const offset = value?.range?.[0];
      if (offset !== undefined) out[formatKeyPath(childPath)] = at(offset);
      collectPositions(value, childPath, out, at, doc);
    });
  }
}
