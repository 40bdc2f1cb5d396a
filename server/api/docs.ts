/**
 * OpenAPI 3.0 document generated from the routes' own JSON schemas (collected with the onRoute
 * hook), served at /docs/openapi.json, with a small HTML index at /docs. (@fastify/swagger and
 * @fastify/swagger-ui would render the same document with a richer UI; they are not
 * dependencies yet.)
 *
 * Two parts, because of fastify's encapsulation: `collectRoutes(app)` is a plain function
 * called on the ROOT instance before any route plugin is registered, so its onRoute hook sees
 * every route of the app, prefixes included (a hook added inside a plugin would see only that
 * plugin's routes; child contexts copy the root's onRoute hooks when they load). `docsRoutes`
 * is the route plugin serving the document, registered by app.ts with the prefix /docs.
 *
 * Lifecycle: the routes are collected while fastify loads the plugins; the document is built
 * on the first request (after `ready()`, when every route is known) and kept.
 */
import type { FastifyInstance, RouteOptions } from 'fastify';
import type { RoutePlugin } from './typed.js';

/** One method of one route, as the onRoute hook saw it. */
export interface CollectedRoute {
  method: string;
  url: string;
  schema: Record<string, unknown>;
  auth: 'public' | 'token' | 'optional';
}

function toOpenApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

function parameters(schema: Record<string, unknown>, where: 'query' | 'path'): unknown[] {
  const source = (where === 'query' ? schema.querystring : schema.params) as
    | { properties?: Record<string, unknown>; required?: string[] }
    | undefined;
  if (!source?.properties) return [];
  return Object.entries(source.properties).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || (source.required ?? []).includes(name),
    schema: s,
  }));
}

/** JSON Schema draft-07 `type: [x, 'null']` → OpenAPI 3.0 `nullable`. */
function openApiSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(openApiSchema);
  if (!schema || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema as Record<string, unknown>)) {
    if (key === 'type' && Array.isArray(value)) {
      const types = value.filter((t) => t !== 'null');
      if (types.length === 1) out.type = types[0];
      else out.anyOf = types.map((t) => ({ type: t }));
      if (value.includes('null')) out.nullable = true;
    } else if (key === 'const') {
      out.enum = [value];
    } else out[key] = openApiSchema(value);
  }
  return out;
}

/** Starts collecting every route of `app` (the root instance; see the header comment). */
export function collectRoutes(app: FastifyInstance): readonly CollectedRoute[] {
  const routes: CollectedRoute[] = [];
  app.addHook('onRoute', (route: RouteOptions) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const config = (route.config ?? {}) as { public?: boolean; platform?: boolean };
    for (const method of methods) {
      if (method === 'HEAD') continue;
      routes.push({
        method: method.toLowerCase(),
        url: route.url,
        schema: (route.schema ?? {}) as Record<string, unknown>,
        auth: config.public ? 'public' : config.platform ? 'token' : 'optional',
      });
    }
  });
  return routes;
}

export interface DocsOptions {
  /** What collectRoutes returned for the root instance. */
  routes: readonly CollectedRoute[];
  title: string;
  version: string;
}

export const docsRoutes: RoutePlugin<DocsOptions> = (app, { routes, ...info }, done) => {
  let cached: string | null = null;
  const document = () => {
    if (cached) return cached;
    const paths: Record<string, Record<string, unknown>> = {};
    for (const route of routes) {
      if (!route.url.startsWith('/api/') && route.url !== '/metrics') continue;
      const op: Record<string, unknown> = {
        summary: `${route.method.toUpperCase()} ${route.url}`,
        parameters: openApiSchema([
          ...parameters(route.schema, 'path'),
          ...parameters(route.schema, 'query'),
        ]),
        responses: Object.fromEntries(
          Object.entries((route.schema.response ?? { 200: {} }) as Record<string, unknown>).map(
            ([code, s]) => [
              code,
              { description: code, content: { 'application/json': { schema: openApiSchema(s) } } },
            ],
          ),
        ),
      };
      if (typeof route.schema.description === 'string') op.description = route.schema.description;
      if (route.auth === 'token') op.security = [{ bearer: [] }];
      if (route.auth === 'optional') op.security = [{}, { bearer: [] }];
      if (route.schema.body) {
        op.requestBody = {
          required: true,
          content: { 'application/json': { schema: openApiSchema(route.schema.body) } },
        };
      }
      const path = toOpenApiPath(route.url);
      paths[path] = { ...paths[path], [route.method]: op };
    }
    cached = JSON.stringify({
      openapi: '3.0.3',
      info: {
        title: info.title,
        version: info.version,
        description:
          'HazardWatch central server API. Platform routes need `Authorization: Bearer <token>` from POST /api/v1/auth/login.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      paths,
    });
    return cached;
  };

  app.get('/openapi.json', { config: { public: true } }, async (_request, reply) =>
    reply.header('content-type', 'application/json; charset=utf-8').send(document()),
  );

  // no-slash: only /docs itself, as before (the default would also register /docs/).
  app.get(
    '/',
    { prefixTrailingSlash: 'no-slash', config: { public: true } },
    async (_request, reply) => {
      const doc = JSON.parse(document()) as {
        paths: Record<string, Record<string, { description?: string }>>;
      };
      const escapeHtml = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
      const rows = Object.entries(doc.paths)
        .flatMap(([path, ops]) =>
          Object.entries(ops).map(
            ([method, op]) =>
              `<tr><td><code>${method.toUpperCase()}</code></td><td><code>${escapeHtml(path)}</code></td><td>${escapeHtml(op.description ?? '')}</td></tr>`,
          ),
        )
        .join('\n');
      const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(info.title)} API</title></head>
<body><h1>${escapeHtml(info.title)} API</h1><p>OpenAPI 3.0 document: <a href="/docs/openapi.json">/docs/openapi.json</a></p>
<table border="1" cellpadding="4"><thead><tr><th>Method</th><th>Path</th><th>Description</th></tr></thead><tbody>
${rows}
</tbody></table></body></html>`;
      return reply
        .header('content-type', 'text/html; charset=utf-8')
        .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'")
        .send(html);
    },
  );

  done();
};
