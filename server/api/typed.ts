/**
 * Route types derived from the route schemas (issue 14): every route module is a fastify
 * plugin of type `RoutePlugin<Options>`, registered with a prefix, whose handlers see
 * `request.query`, `request.params` and `request.body` typed from the same JSON Schema
 * constants that validate them and that /docs publishes, and whose return values are
 * checked against the response schemas. A shape is written once, as a schema; where a
 * TypeScript name is needed, it is `FromSchema<typeof schema>` (see dto.ts).
 *
 * json-schema-to-ts rather than TypeBox: our schemas are plain `as const` JSON Schema
 * constants already shared with the OpenAPI document, so deriving types from them needs no
 * rewrite into a second schema language.
 *
 * Lifecycle: a plugin registers its routes when fastify loads it (`app.register`, before
 * `ready()`); it owns no resources, so it has nothing to close.
 */
import type { FastifyPluginCallbackJsonSchemaToTs } from '@fastify/type-provider-json-schema-to-ts';
import type { FastifyPluginOptions } from 'fastify';

export type { FromSchema } from 'json-schema-to-ts';

/** A route module: register it with `app.register(plugin, { prefix, ...options })`. */
export type RoutePlugin<Options extends FastifyPluginOptions> =
  FastifyPluginCallbackJsonSchemaToTs<{
    Options: Options;
  }>;
