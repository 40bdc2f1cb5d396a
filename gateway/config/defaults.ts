/**
 * Applies the `default` values of the JSON Schema to parsed data, so the schema is
 * the one place defaults are written. Follows properties, items and discriminated
 * oneOf (the branch whose discriminator const matches the data). Runs after
 * validation, on data that the schema accepted.
 */

interface SchemaNode {
  default?: unknown;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  oneOf?: readonly SchemaNode[];
  discriminator?: { propertyName: string };
  const?: unknown;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

export function applySchemaDefaults(schema: unknown, data: unknown): void {
  const node = schema as SchemaNode;
  if (Array.isArray(data)) {
    if (node.items) for (const item of data) applySchemaDefaults(node.items, item);
    return;
  }
  if (!isPlainObject(data)) return;
  if (node.oneOf && node.discriminator) {
    const tag = node.discriminator.propertyName;
    const branch = node.oneOf.find((b) => b.properties?.[tag]?.const === data[tag]);
    if (branch) applySchemaDefaults(branch, data);
  }
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    if (data[key] === undefined && child.default !== undefined) {
      data[key] = structuredClone(child.default);
    }
    if (data[key] !== undefined) applySchemaDefaults(child, data[key]);
  }
}

/** Freezes an object graph in place and returns it. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value as object)) deepFreeze(child);
  }
  return value;
}
