/**
 * `npm run bench [-- filter...]`: runs every benchmark whose name or metric names
 * contain one of the filters (all when none), printing one JSON object per line.
 */
import os from 'node:os';
import type { Benchmark } from './metric.js';

/** Every benchmark, loaded lazily so a filtered run imports only what it runs. */
const registry: [name: string, load: () => Promise<{ default: Benchmark }>][] = [
  ['e2e', () => import('./e2e.bench.js')],
  ['server-ingest', () => import('./server-ingest.bench.js')],
  ['uplink', () => import('./uplink.bench.js')],
  ['rules', () => import('./rules.bench.js')],
  ['platform', () => import('./platform.bench.js')],
];

// Results own stdout: one JSON object per line. Libraries that print to the console
// (node-opcua's certificate and Node-version notices) are sent to stderr instead.
const toStderr = (...args: unknown[]) => process.stderr.write(`${args.map(String).join(' ')}\n`);
console.log = toStderr;
console.info = toStderr;
console.warn = toStderr;

const filters = process.argv.slice(2).filter((a) => a !== '--');
const machine = `${os.cpus().length}x ${os.cpus()[0]?.model.trim() ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}`;

let failed = false;
for (const [name, load] of registry) {
  if (filters.length > 0 && !filters.some((f) => name.includes(f))) continue;
  const bench = (await load()).default;
  try {
    for await (const metric of bench.run()) {
      process.stdout.write(`${JSON.stringify({ ...metric, bench: bench.name, machine })}\n`);
    }
  } catch (err) {
    failed = true;
    process.stderr.write(`bench ${bench.name} failed: ${(err as Error).stack ?? err}\n`);
  }
}
process.exit(failed ? 1 : 0);
