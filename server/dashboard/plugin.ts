/**
 * The live dashboard and the regulator's workbench: two HTML pages and their static assets (CSS,
 * ES modules, SVG) from ./public, served as they are (no build step), plus Apache ECharts from
 * node_modules (`/assets/vendor/echarts.js`, its ES module build: no CDN, the page works offline
 * and keeps its strict content security policy).
 *
 * Routes: `GET /` (index.html, the live view), `GET /platform` (platform.html: the workbench) and
 * `GET /assets/<path>` for files at the top of public/ and in its shared/ and views/ folders;
 * everything else falls through to the app's not-found handler. The set of servable files is
 * fixed when the plugin registers: every file is read into memory then, and a request can only
 * ever name one of those files, so no request path reaches the file system (no traversal, no
 * symlink surprises).
 *
 * The page talks to the JSON API under /api/v1 (health, sensors, alarms, gateways, stream); that
 * API is registered by server/api, not here.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { createLogger } from '../../common/logger.js';

const log = createLogger('server.dashboard');

/** Where the page lives, next to this module. */
const PUBLIC_DIR = fileURLToPath(new URL('./public/', import.meta.url));

/** Extensions served under /assets/ and their content types. Anything else (e.g. *.d.ts) is not served. */
const ASSET_TYPES: Readonly<Record<string, string>> = {
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** Folders of public/ whose files are served as `/assets/<folder>/<file>` (shared parts, views). */
const ASSET_FOLDERS = ['shared', 'views'] as const;

/** Third-party modules served from node_modules: asset name → package file. */
const VENDOR_FILES: Readonly<Record<string, string>> = {
  'vendor/echarts.js': 'echarts/dist/echarts.esm.min.mjs',
};

const INDEX_FILE = 'index.html';
const PLATFORM_FILE = 'platform.html';
const HTML_TYPE = 'text/html; charset=utf-8';

/**
 * The page loads only its own scripts, styles and API; data is inserted with textContent, and
 * this policy is the second line of defence should that ever slip.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'self'",
].join('; ');

interface StaticFile {
  body: Buffer;
  contentType: string;
  etag: string;
}

async function loadFile(
  name: string,
  contentType: string,
  path = join(PUBLIC_DIR, name),
): Promise<StaticFile> {
  let body: Buffer;
  try {
    body = await readFile(path);
  } catch (err) {
    throw new Error(`dashboard: cannot read '${path}'`, { cause: err });
  }
  const hash = createHash('sha256').update(body).digest('base64url').slice(0, 22);
  return { body, contentType, etag: `"${hash}"` };
}

/** Assets with a known extension in one folder of public/ ('' = the top level). */
async function loadFolder(folder: string, assets: Map<string, StaticFile>): Promise<void> {
  const dir = join(PUBLIC_DIR, folder);
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    throw new Error(`dashboard: cannot list '${dir}'`, { cause: err });
  }
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const contentType = ASSET_TYPES[extname(entry.name)];
    if (contentType === undefined || entry.name.endsWith('.d.ts')) continue;
    const name = folder ? `${folder}/${entry.name}` : entry.name;
    assets.set(name, await loadFile(name, contentType));
  }
}

/** Reads the pages, every asset with a known extension (public/, shared/, views/) and the vendor files. */
async function loadPublicFiles(): Promise<{
  index: StaticFile;
  platform: StaticFile;
  assets: Map<string, StaticFile>;
}> {
  const assets = new Map<string, StaticFile>();
  await loadFolder('', assets);
  for (const folder of ASSET_FOLDERS) await loadFolder(folder, assets);
  const require = createRequire(import.meta.url);
  for (const [name, target] of Object.entries(VENDOR_FILES)) {
    let path: string;
    try {
      path = require.resolve(target);
    } catch (err) {
      throw new Error(`dashboard: cannot find '${target}' (run npm install)`, { cause: err });
    }
    assets.set(name, await loadFile(name, ASSET_TYPES['.js'] as string, path));
  }
  const index = await loadFile(INDEX_FILE, HTML_TYPE);
  const platform = await loadFile(PLATFORM_FILE, HTML_TYPE);
  return { index, platform, assets };
}

function send(request: FastifyRequest, reply: FastifyReply, file: StaticFile): FastifyReply {
  // no-cache: the browser may keep a copy but must revalidate, so a deploy shows at the next load.
  reply
    .header('content-type', file.contentType)
    .header('cache-control', 'no-cache')
    .header('etag', file.etag)
    .header('x-content-type-options', 'nosniff');
  if (request.headers['if-none-match'] === file.etag) return reply.code(304).send();
  return reply.send(file.body);
}

/**
 * Serves the dashboard page and its assets. Register on the server's app with
 * `app.register(dashboardPlugin)` (at the root: the page refers to /assets/* and /api/v1/*).
 * Registration reads every file once and fails if the page cannot be read; requests never touch
 * the disk afterwards.
 */
export const dashboardPlugin: FastifyPluginAsync = async (app) => {
  const { index, platform, assets } = await loadPublicFiles();
  log.debug({ assets: [...assets.keys()] }, 'dashboard assets loaded');

  app.get('/', async (request, reply) => {
    reply
      .header('content-security-policy', CONTENT_SECURITY_POLICY)
      .header('referrer-policy', 'no-referrer');
    return send(request, reply, index);
  });

  app.get('/platform', async (request, reply) => {
    reply
      .header('content-security-policy', CONTENT_SECURITY_POLICY)
      .header('referrer-policy', 'no-referrer');
    return send(request, reply, platform);
  });

  app.get<{ Params: { '*': string } }>(
    '/assets/*',
    {
      schema: {
        params: {
          type: 'object',
          required: ['*'],
          properties: { '*': { type: 'string' } },
        },
      },
    },
    async (request, reply) => {
      // Exact whitelist lookup: '../plugin.ts', '..%2Fplugin.ts' and friends name no entry.
      const file = assets.get(request.params['*']);
      if (file === undefined) return reply.callNotFound();
      return send(request, reply, file);
    },
  );
};
