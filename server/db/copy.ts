/**
 * Moves a single plant's embedded state into a cluster (docs/cluster.md "Moving a plant into a
 * cluster"):
 *
 *   tsx server/db/copy.ts --from data/hazardwatch.db --to postgres://user:pw@host:5432/db
 *                         [--ledger-key-file file]
 *
 * Copies every platform table of the stopped server's SQLite file into an EMPTY PostgreSQL
 * database in one transaction, keeping every identity and chain number, then verifies (counts,
 * both hash chains) and prints a per-table summary on stdout (server/db/platform-copy.ts).
 * The chain key: HAZARDWATCH_LEDGER_KEY, else --ledger-key-file, else ledger.key beside the file,
 * as the server loads it (server/alarms/ledger-key.ts); it is never created here.
 * Exit code 0: copied and verified; 1: refused or failed (the target left as it was, unless the
 * message says the copy was committed); 2: bad arguments. The URL's password is never printed.
 *
 * Logs go to stderr (LOG_DESTINATION), so stdout holds the summary only; the copy module is
 * imported after that is set, because the logger reads it when first loaded.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { redactUrl } from './config.js';

export const COPY_USAGE =
  'usage: tsx server/db/copy.ts --from <sqlite file> --to <postgres url> [--ledger-key-file <file>]';

export interface CopyArguments {
  from: string;
  to: string;
  ledgerKeyFile: string | undefined;
}

/** Parses the command line: the arguments, 'help', or the problem with them. */
export function parseCopyArguments(argv: string[]): CopyArguments | 'help' | { problem: string } {
  let values: { from?: string; to?: string; 'ledger-key-file'?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        from: { type: 'string' },
        to: { type: 'string' },
        'ledger-key-file': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    // parseArgs quotes the offending argument, which could be a URL with its password.
    return { problem: redactUrl((err as Error).message) };
  }
  if (values.help) return 'help';
  if (!values.from) return { problem: '--from is required (the embedded SQLite file)' };
  if (!existsSync(values.from)) return { problem: `--from: '${values.from}' does not exist` };
  if (!values.to) return { problem: '--to is required (postgres://user:password@host:port/db)' };
  if (!/^postgres(ql)?:\/\/[^/]+\/[^/?]+/.test(values.to)) {
    return {
      problem: `--to: '${redactUrl(values.to)}' is not a PostgreSQL URL with a database (postgres://user:password@host:port/db)`,
    };
  }
  const keyFile = values['ledger-key-file'];
  if (keyFile !== undefined && !existsSync(keyFile)) {
    return { problem: `--ledger-key-file: '${keyFile}' does not exist` };
  }
  return { from: values.from, to: values.to, ledgerKeyFile: keyFile };
}

function pad(text: string | number, width: number, right = false): string {
  const s = String(text);
  return right ? s.padStart(width) : s.padEnd(width);
}

/** Runs the command; returns the exit code. `out` is stdout, `err` stderr. */
export async function runCopy(
  argv: string[],
  env: NodeJS.ProcessEnv,
  out: (line: string) => void,
  err: (line: string) => void,
): Promise<number> {
  const parsed = parseCopyArguments(argv);
  if (parsed === 'help') {
    out(COPY_USAGE);
    out(
      'Copies an embedded plant (stopped server) into an empty PostgreSQL database; docs/cluster.md.',
    );
    return 0;
  }
  if ('problem' in parsed) {
    err(parsed.problem);
    err(COPY_USAGE);
    return 2;
  }
  const { loadLedgerKey } = await import('../alarms/ledger-key.js');
  const { copyPlatform } = await import('./platform-copy.js');
  try {
    const { key, source } = loadLedgerKey({
      keyFile: parsed.ledgerKeyFile,
      storePath: parsed.from,
      env,
      create: false,
    });
    const report = await copyPlatform({ from: parsed.from, to: parsed.to, ledgerKey: key });
    out(
      `from: ${report.from}${report.upgraded.length ? ` (upgraded: ${report.upgraded.join(', ')})` : ''}`,
    );
    out(`to:   ${report.to}`);
    out(`key:  ${source === 'env' ? 'HAZARDWATCH_LEDGER_KEY' : source}`);
    out(`${pad('table', 28)}${pad('source', 9, true)}${pad('target', 9, true)}  next identity`);
    let rows = 0;
    for (const t of report.tables) {
      rows += t.target;
      const identity = t.identity ? `${t.identity.column} ${t.identity.next}` : '';
      out(
        `${pad(t.table, 28)}${pad(t.source, 9, true)}${pad(t.target, 9, true)}  ${identity}`.trimEnd(),
      );
    }
    const head = (h: { seq: number; hash: string } | null) =>
      h ? `head ${h.seq} ${h.hash}` : 'empty';
    out(`disposal chain: ${report.disposal.rows} rows verified, ${head(report.disposal.head)}`);
    out(`hazard chain: ${report.hazard.rows} rows verified, ${head(report.hazard.head)}`);
    out(`OK: ${report.tables.length} tables, ${rows} rows copied and verified`);
    return 0;
  } catch (e) {
    err(`copy failed: ${redactUrl((e as Error).message)}`);
    return 1;
  }
}

const isMain =
  process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  process.env.LOG_DESTINATION ??= 'stderr';
  process.exitCode = await runCopy(
    process.argv.slice(2),
    process.env,
    (line) => process.stdout.write(`${line}\n`),
    (line) => process.stderr.write(`${line}\n`),
  );
}
