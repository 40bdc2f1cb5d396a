/**
 * `gateway trust-server`: lists the OPC UA server certificates the gateway refused, and
 * trusts one, so a plant engineer never has to find the PKI folders by hand.
 *
 *   gateway trust-server [--data-dir <folder>] [--pki-dir <folder>]           list
 *   gateway trust-server [--data-dir <folder>] [--pki-dir <folder>] <which>   trust one
 *
 * <which> is the certificate's SHA-1 thumbprint (as listed; colons and case do not
 * matter, a unique prefix of 8 or more hex digits is enough) or its file name in
 * rejected/. Trusting moves the file from <pki>/rejected to <pki>/trusted/certs; the
 * gateway picks it up at its next connection attempt (backoff up to 30 s), without a
 * restart. The PKI folder is <data-dir>/pki (data-dir as for the gateway: --data-dir,
 * else HAZARDWATCH_DATA_DIR, else data/gateway), or --pki-dir for a device that names its
 * own pkiDir. Exit codes: 0 done, 1 nothing matched or the move failed, 2 usage.
 *
 * Compare the thumbprint with the one the server shows on its own screen before
 * trusting it: trusting a certificate is trusting whoever holds its key.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

export const TRUST_SERVER_USAGE =
  'usage: gateway trust-server [--data-dir <folder>] [--pki-dir <folder>] [<thumbprint or file name>]';

/** One refused certificate, as listed. */
export interface RejectedCertificate {
  file: string;
  /** SHA-1 thumbprint, upper-case hex without separators (what OPC UA tools show). */
  thumbprint: string;
  subject: string;
  validTo: string;
  /** Set when the file cannot be parsed as a certificate. */
  error?: string;
}

/** The certificates in <pkiDir>/rejected, oldest name first. */
export function listRejected(pkiDir: string): RejectedCertificate[] {
  const folder = path.join(pkiDir, 'rejected');
  if (!existsSync(folder)) return [];
  return readdirSync(folder)
    .filter((file) => /\.(pem|der)$/i.test(file))
    .sort()
    .map((file) => describeCertificate(path.join(folder, file)));
}

function describeCertificate(file: string): RejectedCertificate {
  const name = path.basename(file);
  try {
    const certificate = new X509Certificate(readFileSync(file));
    return {
      file: name,
      thumbprint: certificate.fingerprint.replaceAll(':', '').toUpperCase(),
      subject: certificate.subject.replaceAll('\n', ', '),
      validTo: certificate.validTo,
    };
  } catch (err) {
    return {
      file: name,
      thumbprint: '',
      subject: '',
      validTo: '',
      error: (err as Error).message,
    };
  }
}

/**
 * Moves the certificate named by `which` (thumbprint, unique prefix, or file name) to
 * the trust list. Throws naming what did not match, or which certificates did.
 */
export function trustRejected(pkiDir: string, which: string): RejectedCertificate {
  const rejected = listRejected(pkiDir);
  const wanted = which.replaceAll(':', '').toUpperCase();
  const byFile = rejected.filter((c) => c.file === which || c.file === path.basename(which));
  const byThumbprint =
    /^[0-9A-F]{8,40}$/.test(wanted) && byFile.length === 0
      ? rejected.filter((c) => c.thumbprint.startsWith(wanted))
      : [];
  const matches = byFile.length > 0 ? byFile : byThumbprint;
  if (matches.length === 0) {
    throw new Error(
      `no rejected certificate matches '${which}' in ${path.join(pkiDir, 'rejected')} (${rejected.length} there)`,
    );
  }
  if (matches.length > 1) {
    throw new Error(
      `'${which}' matches ${matches.length} certificates (${matches.map((c) => c.thumbprint).join(', ')}): give more digits`,
    );
  }
  const chosen = matches[0]!;
  const trusted = path.join(pkiDir, 'trusted', 'certs');
  mkdirSync(trusted, { recursive: true });
  renameSync(path.join(pkiDir, 'rejected', chosen.file), path.join(trusted, chosen.file));
  return chosen;
}

/** The PKI folder the gateway uses for `--data-dir` (gateway.ts dataDirOptions: <data-dir>/pki). */
export function pkiDirOf(values: { 'data-dir'?: string; 'pki-dir'?: string }, env = process.env) {
  if (values['pki-dir']) return values['pki-dir'];
  return path.join(values['data-dir'] ?? env.HAZARDWATCH_DATA_DIR ?? 'data/gateway', 'pki');
}

/** Runs the command on `args` (without the 'trust-server' word); returns the exit code. */
export function runTrustServer(
  args: readonly string[],
  out: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
  err: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
  env: NodeJS.ProcessEnv = process.env,
): number {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (error) {
    err(`${(error as Error).message}\n${TRUST_SERVER_USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    out(TRUST_SERVER_USAGE);
    return 0;
  }
  if (positionals.length > 1) {
    err(`one certificate at a time (got ${positionals.length})\n${TRUST_SERVER_USAGE}`);
    return 2;
  }
  const pkiDir = pkiDirOf(values, env);
  const which = positionals[0];
  if (which === undefined) {
    const rejected = listRejected(pkiDir);
    if (rejected.length === 0) {
      out(`no rejected server certificates in ${path.join(pkiDir, 'rejected')}`);
      return 0;
    }
    out(`rejected server certificates in ${path.join(pkiDir, 'rejected')}:`);
    for (const c of rejected) {
      out(
        c.error
          ? `  ${c.file}  (not a certificate: ${c.error})`
          : `  ${c.thumbprint}  ${c.subject}  valid to ${c.validTo}  (${c.file})`,
      );
    }
    out('trust one with: gateway trust-server <thumbprint>  (check it on the server first)');
    return 0;
  }
  try {
    const trusted = trustRejected(pkiDir, which);
    out(
      `trusted ${trusted.thumbprint} (${trusted.subject}): moved to ${path.join(pkiDir, 'trusted', 'certs')}; the gateway uses it at its next connection attempt (within 30 s)`,
    );
    return 0;
  } catch (error) {
    err((error as Error).message);
    return 1;
  }
}

function parse(args: readonly string[]) {
  return parseArgs({
    args: [...args],
    options: {
      'data-dir': { type: 'string' },
      'pki-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  });
}

// Run directly: `tsx gateway/trust-server.ts ...` (main.ts may also dispatch to it).
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  process.exitCode = runTrustServer(process.argv.slice(2));
}
