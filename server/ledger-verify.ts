/**
 * Verifies the disposal ledger from outside the server (docs/ledger.md):
 *
 *   npx tsx server/ledger-verify.ts --data-dir data [--db file] [--key-file file]
 *                                   [--anchors file]... [--json]
 *
 * Opens the platform database with the database layer (server/db): `--db` is the SQLite file
 * or a postgres:// URL (cluster mode). An embedded file made by an older release is brought to
 * the current schema first (the layer's migrations only add tables: rows are not touched); the
 * verification itself writes nothing. Reads the chain key
 * (HAZARDWATCH_LEDGER_KEY, else --key-file, else <data-dir>/ledger.key) and the anchors: the
 * data folder's ledger-anchors.jsonl plus every --anchors file (e.g. a witness's copy of the
 * MQTT anchor messages, one JSON anchor per line). Exit code 0: verified; 1: damage found
 * (first bad row and every problem printed); 2: could not verify (usage, missing file, key).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DisposalLedger } from './alarms/disposal.js';
import { AnchorFile, LEDGER_ANCHOR_FILE, parseAnchors } from './alarms/ledger-anchors.js';
import { verifyLedger } from './alarms/ledger-integrity.js';
import { LEDGER_KEY_FILE, loadLedgerKey } from './alarms/ledger-key.js';
import { Database } from './db/database.js';

export const LEDGER_VERIFY_USAGE =
  'usage: tsx server/ledger-verify.ts --data-dir dir [--db file] [--key-file file] [--anchors file]... [--json]';

/** Runs the verification; returns the exit code and writes the report to `out`. */
export async function runLedgerVerify(
  argv: string[],
  env: NodeJS.ProcessEnv,
  out: (line: string) => void,
  now: number = Date.now(),
): Promise<number> {
  let values: {
    'data-dir'?: string;
    db?: string;
    'key-file'?: string;
    anchors?: string[];
    json?: boolean;
    help?: boolean;
  };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        'data-dir': { type: 'string' },
        db: { type: 'string' },
        'key-file': { type: 'string' },
        anchors: { type: 'string', multiple: true },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    out((err as Error).message);
    out(LEDGER_VERIFY_USAGE);
    return 2;
  }
  if (values.help || (!values['data-dir'] && !values.db)) {
    out(LEDGER_VERIFY_USAGE);
    return values.help ? 0 : 2;
  }
  const dbPath = values.db ?? join(values['data-dir'] ?? '.', 'hazardwatch.db');
  const isUrl = /^postgres(ql)?:\/\//.test(dbPath);
  const dataDir = values['data-dir'] ?? (isUrl ? '.' : dirname(dbPath));
  try {
    if (!isUrl && !existsSync(dbPath)) throw new Error(`database '${dbPath}' does not exist`);
    const { key, source } = loadLedgerKey({
      keyFile: values['key-file'] ?? join(dataDir, LEDGER_KEY_FILE),
      storePath: isUrl ? join(dataDir, 'hazardwatch.db') : dbPath,
      env,
      create: false,
    });
    const database = new Database(
      isUrl
        ? {
            kind: 'postgres',
            url: dbPath,
            poolSize: 2,
            applicationName: 'hazardwatch/ledger-verify',
          }
        : { kind: 'sqlite', path: dbPath },
    );
    await database.start();
    const keyed = new DisposalLedger({ database, key });
    await keyed.start();
    try {
      const file = new AnchorFile(join(dataDir, LEDGER_ANCHOR_FILE));
      const read = file.read();
      const anchors = [...read.anchors];
      const problems = [...read.problems];
      for (const extra of values.anchors ?? []) {
        const parsed = parseAnchors(readFileSync(extra, 'utf8'), extra);
        anchors.push(...parsed.anchors);
        problems.push(...parsed.problems);
      }
      const result = await verifyLedger(keyed, key, anchors, now, problems);
      if (values.json) {
        out(JSON.stringify({ ...result, database: database.where, key: source }, null, 2));
      } else {
        out(`database: ${database.where}`);
        out(`key: ${source === 'env' ? 'HAZARDWATCH_LEDGER_KEY' : source}`);
        out(
          `rows: ${result.rows}, head: ${result.head ? `${result.head.seq} ${result.head.hash}` : 'empty'}`,
        );
        out(
          `anchors checked: ${result.anchors.checked} (last anchored row ${result.anchors.lastAnchoredSeq ?? 'none'})`,
        );
        if (result.ok) out('OK: chain, dispositions and anchors verified');
        else {
          out(`FAILED at row ${result.brokenAt ?? '?'}`);
          for (const p of result.problems) out(`  ${p}`);
          for (const p of result.projection.problems) out(`  projection: ${p}`);
        }
      }
      return result.ok ? 0 : 1;
    } finally {
      await keyed.stop();
      await database.stop();
    }
  } catch (err) {
    out(`cannot verify: ${(err as Error).message}`);
    return 2;
  }
}

const isMain =
  process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  process.exitCode = await runLedgerVerify(process.argv.slice(2), process.env, (line) =>
    process.stdout.write(`${line}\n`),
  );
}
