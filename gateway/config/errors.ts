/**
 * Error lines of the configuration: `devices[1].tags[3].register.type: must be one of
 * int16, uint16, ... (got 'int61')` — key path, message, offending value.
 */
import type { ErrorObject } from 'ajv';

/** Thrown by loadGatewayConfig/parseGatewayConfig with every problem found, one per line. */
export class ConfigError extends Error {
  constructor(
    /** File path (or source name) the configuration came from. */
    readonly source: string,
    /** One line per problem, in `path: message (got value)` form. */
    readonly lines: readonly string[],
    options?: { cause?: unknown },
  ) {
    const count = lines.length === 1 ? '1 error' : `${lines.length} errors`;
    super(
      `${source}: invalid gateway configuration (${count}):\n${lines.map((l) => `  ${l}`).join('\n')}`,
      options,
    );
    this.name = 'ConfigError';
  }
}

export type PathSegment = string | number;

/** `['devices', 1, 'tags', 3, 'register']` → `devices[1].tags[3].register`; root is `(root)`. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out === '' ? '(root)' : out;
}

/** Renders the offending value compactly: strings quoted, long values cut. */
export function formatValue(value: unknown): string {
  let text: string;
  if (typeof value === 'string') text = `'${value}'`;
  else if (value === undefined) text = 'nothing';
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = String(value);
    }
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

export function errorLine(path: readonly PathSegment[], message: string, value?: unknown): string {
  const got = value === undefined ? '' : ` (got ${formatValue(value)})`;
  return `${formatPath(path)}: ${message}${got}`;
}

/** JSON Pointer (`/devices/1/tags/3`) → segments, array indexes as numbers. */
export function pointerToPath(pointer: string, data: unknown): PathSegment[] {
  if (pointer === '') return [];
  const path: PathSegment[] = [];
  let node: unknown = data;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node) && /^\d+$/.test(key)) {
      path.push(Number(key));
      node = node[Number(key)];
    } else {
      path.push(key);
      node =
        node !== null && typeof node === 'object'
          ? (node as Record<string, unknown>)[key]
          : undefined;
    }
  }
  return path;
}

function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const candidate of candidates) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** Turns one ajv error (compiled with `verbose: true`) into an error line. */
export function ajvErrorLine(error: ErrorObject, data: unknown): string {
  const path = pointerToPath(error.instancePath, data);
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required':
      return errorLine([...path, String(params.missingProperty)], 'is required');
    case 'additionalProperty':
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      const allowed = Object.keys(
        ((error.parentSchema as { properties?: object } | undefined)?.properties ?? {}) as object,
      );
      const suggestion = closest(key, allowed);
      const hint = suggestion
        ? `; did you mean '${suggestion}'?`
        : `; allowed: ${allowed.join(', ')}`;
      return errorLine([...path, key], `unknown key${hint}`);
    }
    case 'enum':
      return errorLine(
        path,
        `must be one of ${(params.allowedValues as unknown[]).map(String).join(', ')}`,
        error.data,
      );
    case 'const':
      return errorLine(path, `must be ${formatValue(params.allowedValue)}`, error.data);
    case 'discriminator': {
      const tag = String(params.tag);
      const value = (error.data as Record<string, unknown> | null | undefined)?.[tag];
      if (value === undefined) return errorLine([...path, tag], 'is required');
      if (params.error === 'mapping') {
        const options = discriminatorValues(error.parentSchema, tag);
        return errorLine([...path, tag], `must be one of ${options.join(', ')}`, value);
      }
      return errorLine([...path, tag], 'must be a string', value);
    }
    case 'pattern':
      return errorLine(path, `must match ${String(params.pattern)}`, error.data);
    default:
      return errorLine(path, error.message ?? 'is invalid', error.data);
  }
}

function discriminatorValues(parentSchema: unknown, tag: string): string[] {
  const oneOf = (parentSchema as { oneOf?: { properties?: Record<string, { const?: unknown }> }[] })
    ?.oneOf;
  return (oneOf ?? []).map((branch) => String(branch.properties?.[tag]?.const));
}
