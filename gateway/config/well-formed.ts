/**
 * The well-formed parts of a configuration the schema rejected, so that the
 * cross-checks still run on them and every problem is reported in one run (a misspelt
 * key must not hide a duplicate sensorId). Each value a schema error points at is
 * removed: array items become holes (key paths keep their indexes), object keys are
 * deleted. What is left satisfies the schema's types wherever it is present, which is
 * what `Unchecked<T>` says: any key may be absent, no key holds a wrong shape.
 */
import type { ErrorObject } from 'ajv';
import { formatPath, type PathSegment, pointerToPath } from './errors.js';

/** A configuration type with every key optional and every array item possibly a hole. */
export type Unchecked<T> = T extends readonly (infer U)[]
  ? readonly (Unchecked<U> | undefined)[]
  : T extends object
    ? { readonly [K in keyof T]?: Unchecked<T[K]> }
    : T;

export interface WellFormedParts {
  /** A copy of the data without the rejected values; undefined when the root itself was rejected. */
  readonly parts: unknown;
  /** True for a key path at or below a value the schema rejected (or a required key it missed). */
  readonly rejected: (path: readonly PathSegment[]) => boolean;
  /** Drops error lines about a rejected value: the schema's own line already names it. */
  readonly keepLine: (line: string) => boolean;
}

/** `data` as parsed (before defaults); `errors` from the schema validation of it. */
export function wellFormedParts(data: unknown, errors: readonly ErrorObject[]): WellFormedParts {
  const rejectedPaths: PathSegment[][] = [];
  const parts: { root: unknown } = { root: structuredClone(data) };
  for (const error of errors) {
    const path = pointerToPath(error.instancePath, data);
    const params = error.params as Record<string, unknown>;
    switch (error.keyword) {
      case 'additionalProperties': {
        // An unknown key says nothing about its neighbours: drop only the key.
        const keyPath = [...path, String(params.additionalProperty)];
        remove(parts, keyPath);
        rejectedPaths.push(keyPath);
        break;
      }
      case 'required':
        rejectedPaths.push([...path, String(params.missingProperty)]);
        break;
      default:
        // Wrong type, value out of range, unknown protocol (discriminator: the whole
        // device, since its branch is unknown): the value at the path is unusable.
        remove(parts, path);
        rejectedPaths.push(path);
    }
  }
  const rejected = (path: readonly PathSegment[]) =>
    rejectedPaths.some(
      (bad) => bad.length <= path.length && bad.every((segment, i) => segment === path[i]),
    );
  const prefixes = rejectedPaths.map((path) => formatPath(path));
  const keepLine = (line: string) =>
    !prefixes.some(
      (prefix) =>
        line.startsWith(prefix) && /^[:.[]/.test(line.slice(prefix.length, prefix.length + 1)),
    );
  return { parts: parts.root, rejected, keepLine };
}

/** Removes the value at `path` under `holder.root`; nothing when it is already gone. */
function remove(holder: { root: unknown }, path: readonly PathSegment[]): void {
  if (path.length === 0) {
    holder.root = undefined;
    return;
  }
  let node: unknown = holder.root;
  for (const segment of path.slice(0, -1)) {
    if (node === null || typeof node !== 'object') return;
    node = (node as Record<PathSegment, unknown>)[segment];
  }
  const last = path[path.length - 1]!;
  if (Array.isArray(node) && typeof last === 'number') node[last] = undefined;
  else if (node !== null && typeof node === 'object')
    delete (node as Record<string, unknown>)[last];
}
