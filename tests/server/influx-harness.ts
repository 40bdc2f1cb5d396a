/**
 * Real time-series servers for the store tests, each on free ports with a
 * temporary data directory, started from Debian's packages:
 * - `victoria-metrics` accepts the InfluxDB v2 write API the client library
 *   speaks; its export API shows what was written.
 * - `influxd` 1.6.7 (package influxdb) answers InfluxQL on /query but has no
 *   /api/v2/write; `startWriteCompatProxy` adds one in front of it the way
 *   InfluxDB 1.8 does (bucket "database/retention-policy" → /write?db=&rp=),
 *   so the store's real write path and InfluxQL reader meet one real server.
 * A missing binary fails the test with the package to install.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { freePort } from '../../common/net.js';

function requireBinary(binary: string, debianPackage: string): void {
  const found = spawnSync('sh', ['-c', `command -v ${binary}`], { encoding: 'utf8' });
  if (found.status !== 0) {
    throw new Error(
      `'${binary}' is not installed: these tests need Debian's ${debianPackage} package (apt-get install -y ${debianPackage})`,
    );
  }
}

async function waitForHttp(url: string, what: string, child: ChildProcess, output: () => string) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`${what} exited with ${child.exitCode} before it was ready:\n${output()}`);
    }
    try {
      const response = await fetch(url);
      if (response.status < 500) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${what} did not answer ${url}:\n${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

export interface RunningServer {
  url: string;
  port: number;
  dataDir: string;
  stop(): Promise<void>;
}

function spawnLogged(
  binary: string,
  args: string[],
): { child: ChildProcess; output: () => string } {
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const keep = (chunk: Buffer) => {
    text = (text + chunk.toString()).slice(-4_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return { child, output: () => text };
}

/** VictoriaMetrics with unlimited retention (test data is timestamped in the past). */
export async function startVictoriaMetrics(): Promise<
  RunningServer & { flush(): Promise<void>; exportSeries(match: string): Promise<VmSeries[]> }
> {
  requireBinary('victoria-metrics', 'victoria-metrics');
  const dataDir = mkdtempSync(join(tmpdir(), 'hw-vm-'));
  const port = await freePort();
  const { child, output } = spawnLogged('victoria-metrics', [
    `-storageDataPath=${dataDir}`,
    `-httpListenAddr=127.0.0.1:${port}`,
    '-retentionPeriod=100y',
    '-search.latencyOffset=0s',
    '-loggerLevel=ERROR',
  ]);
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/health`, 'victoria-metrics', child, output);
  return {
    url,
    port,
    dataDir,
    async flush() {
      await fetch(`${url}/internal/force_flush`);
    },
    async exportSeries(match: string) {
      await fetch(`${url}/internal/force_flush`);
      const params = new URLSearchParams({ 'match[]': match, start: '0' });
      const text = await (await fetch(`${url}/api/v1/export?${params}`)).text();
      return text
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => JSON.parse(line) as VmSeries);
    },
    async stop() {
      await stopChild(child);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface VmSeries {
  metric: Record<string, string>;
  values: number[];
  timestamps: number[];
}

/** InfluxDB 1.6.7 (Debian's influxdb package) with its own config and directories. */
export async function startInfluxDb1(): Promise<
  RunningServer & {
    createDatabase(name: string, retention?: string): Promise<void>;
    writeV1(database: string, lines: string[]): Promise<void>;
  }
> {
  requireBinary('influxd', 'influxdb');
  const dataDir = mkdtempSync(join(tmpdir(), 'hw-influx-'));
  const port = await freePort();
  const rpcPort = await freePort();
  const config = join(dataDir, 'influxdb.conf');
  writeFileSync(
    config,
    `reporting-disabled = true
bind-address = "127.0.0.1:${rpcPort}"
[meta]
  dir = "${dataDir}/meta"
[data]
  dir = "${dataDir}/data"
  wal-dir = "${dataDir}/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:${port}"
  log-enabled = false
[logging]
  level = "error"
  suppress-logo = true
[continuous_queries]
  enabled = false
[subscriber]
  enabled = false
`,
  );
  const { child, output } = spawnLogged('influxd', ['run', '-config', config]);
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/ping`, 'influxd', child, output);
  const statement = async (q: string) => {
    const response = await fetch(`${url}/query`, {
      method: 'POST',
      body: new URLSearchParams({ q }),
    });
    const body = await response.text();
    if (!response.ok || body.includes('"error"')) throw new Error(`influxd: ${q}: ${body}`);
  };
  return {
    url,
    port,
    dataDir,
    async createDatabase(name, retention) {
      await statement(
        retention
          ? `CREATE DATABASE "${name}" WITH DURATION ${retention} NAME "keep"`
          : `CREATE DATABASE "${name}"`,
      );
    },
    async writeV1(database, lines) {
      const response = await fetch(`${url}/write?db=${database}&precision=ms`, {
        method: 'POST',
        body: lines.join('\n'),
      });
      if (response.status !== 204) {
        throw new Error(`influxd /write answered ${response.status}: ${await response.text()}`);
      }
    },
    async stop() {
      await stopChild(child);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface WriteRequestSeen {
  contentEncoding: string | undefined;
  authorization: string | undefined;
  lines: string[];
  /** When the server's answer was passed back to the client (performance.now()). */
  respondedAt?: number;
  status?: number;
}

/**
 * `/api/v2/write?bucket=db/rp` → `/write?db=db&rp=rp` in front of InfluxDB 1.x
 * (what InfluxDB 1.8 does natively); every other path passes through. Records
 * each write request it forwards. With `rewriteToV1: false` writes pass
 * unchanged (for VictoriaMetrics); `delayMs` holds each write's answer back.
 */
export async function startWriteCompatProxy(
  target: string,
  options: { rewriteToV1?: boolean; delayMs?: number } = {},
): Promise<{
  url: string;
  writes: WriteRequestSeen[];
  stop(): Promise<void>;
}> {
  const writes: WriteRequestSeen[] = [];
  const targetUrl = new URL(target);
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const incoming = new URL(req.url ?? '/', 'http://proxy');
      let path = `${incoming.pathname}${incoming.search}`;
      let seen: WriteRequestSeen | null = null;
      if (incoming.pathname === '/api/v2/write' && options.rewriteToV1 === false) {
        const encoding = req.headers['content-encoding'];
        const text = (encoding === 'gzip' ? gunzipSync(body) : body).toString('utf8');
        seen = {
          contentEncoding: encoding,
          authorization: req.headers.authorization,
          lines: text.split('\n').filter((l) => l !== ''),
        };
        writes.push(seen);
      } else if (incoming.pathname === '/api/v2/write') {
        const [db, rp] = (incoming.searchParams.get('bucket') ?? '').split('/');
        const params = new URLSearchParams({
          db: db ?? '',
          precision: incoming.searchParams.get('precision') ?? 'ns',
        });
        if (rp) params.set('rp', rp);
        path = `/write?${params}`;
        const encoding = req.headers['content-encoding'];
        const text = (encoding === 'gzip' ? gunzipSync(body) : body).toString('utf8');
        seen = {
          contentEncoding: encoding,
          authorization: req.headers.authorization,
          lines: text.split('\n').filter((l) => l !== ''),
        };
        writes.push(seen);
      }
      const headers = { ...req.headers, host: targetUrl.host };
      const forward = request(
        { host: targetUrl.hostname, port: targetUrl.port, method: req.method, path, headers },
        (upstream) => {
          const answer = () => {
            if (seen) {
              seen.status = upstream.statusCode;
              seen.respondedAt = performance.now();
            }
            res.writeHead(upstream.statusCode ?? 502, upstream.headers);
            upstream.pipe(res);
          };
          if (seen && options.delayMs) setTimeout(answer, options.delayMs);
          else answer();
        },
      );
      forward.on('error', (err) => {
        res.writeHead(502).end(err.message);
      });
      forward.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    writes,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
