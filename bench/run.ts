/**
 * `npm run bench [-- filter...]`: runs every benchmark whose registry name
 * contains one of the filters (all when none), each in a fresh child process so
 * that memory figures (gateway.rss_mb, server.rss_mb) and JIT state of one do
 * not leak into the next. Prints one JSON object per line on stdout.
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import { benchChildEnv } from './child-env.js';
import type { Benchmark } from './metric.js';

/** Every benchmark, loaded lazily so a run imports only what it runs. */
const registry: [name: string, load: () => Promise<{ default: Benchmark }>][] = [
  ['acquisition', () => import('./acquisition.bench.js')],
  ['modbus-coalescing', () => import('./modbus-coalescing.bench.js')],
  ['opcua-latency', () => import('./opcua-latency.bench.js')],
  ['rules', () => import('./rules.bench.js')],
  ['e2e', () => import('./e2e.bench.js')],
  ['uplink', () => import('./uplink.bench.js')],
  ['server-ingest', () => import('./server-ingest.bench.js')],
  ['ingest', () => import('./ingest.bench.js')],
  ['broker', () => import('./broker.bench.js')],
  ['platform', () => import('./platform.bench.js')],
  ['platform-workbench', () => import('./platform-workbench.bench.js')],
  ['supervision', () => import('./supervision.bench.js')],
  ['fleet', () => import('./fleet.bench.js')],
  ['cluster', () => import('./cluster.bench.js')],
];

const machine = `${os.cpus().length}x ${os.cpus()[0]?.model.trim() ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}`;

async function runOne(name: string): Promise<void> {
  // Results own stdout: one JSON object per line. Libraries that print to the console
  // (node-opcua's certificate and Node-version notices) are sent to stderr instead.
  const toStderr = (...args: unknown[]) => process.stderr.write(`${args.map(String).join(' ')}\n`);
  console.log = toStderr;
  console.info = toStderr;
  console.warn = toStderr;
  const entry = registry.find(([n]) => n === name);
  if (!entry) throw new Error(`unknown benchmark '${name}'`);
  const bench = (await entry[1]()).default;
  for await (const metric of bench.run()) {
    process.stdout.write(`${JSON.stringify({ ...metric, bench: name, machine })}\n`);
  }
}

async function runAll(filters: string[]): Promise<boolean> {
  let ok = true;
  for (const [name] of registry) {
    if (filters.length > 0 && !filters.some((f) => name.includes(f))) continue;
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(
        process.execPath,
        [...process.execArgv, import.meta.filename, '--one', name],
        {
          stdio: ['ignore', 'inherit', 'inherit'],
          env: benchChildEnv(),
        },
      );
      child.on('exit', resolve);
    });
    if (code !== 0) {
      ok = false;
      process.stderr.write(`bench ${name} failed (exit ${code})\n`);
    }
  }
  return ok;
}

const args = process.argv.slice(2).filter((a) => a !== '--');
if (args[0] === '--one') {
  await runOne(args[1] ?? '');
  process.exit(0);
} else {
  process.exit((await runAll(args)) ? 0 : 1);
}
