/**
 * `npm run bench [-- filter...]`: runs every benchmark whose name or metric names
 * contain one of the filters (all when none), printing one JSON object per line.
 */
import os from 'node:os';
import type { Benchmark } from './metric.js';

const registry: (() => Promise<Benchmark>)[] = [];

const filters = process.argv.slice(2).filter((a) => a !== '--');
const machine = `${os.cpus().length}x ${os.cpus()[0]?.model.trim() ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}`;

let failed = false;
for (const load of registry) {
  const bench = await load();
  if (filters.length > 0 && !filters.some((f) => bench.name.includes(f))) continue;
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
