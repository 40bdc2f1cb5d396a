/**
 * Proves that every Debian peer the tests start can actually start on this machine, and names
 * each one that cannot, with the package that provides it. A package being "installed" is not
 * enough: python3-pymodbus installed with --no-install-recommends lacks the `serial` module its
 * server imports, and the tests then fail far from the cause. Run by scripts/check-fresh.sh (the
 * README's test command) and so by CI, before the tests.
 *
 * Usage: npx tsx scripts/check-peers.ts [--json]
 * Exit status: 0 when every peer answered, 1 otherwise (every problem is listed, not just the first).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

export interface PeerCheck {
  /** What the tests use it for. */
  readonly peer: string;
  /** The Debian package that provides it (scripts/install-peers.sh installs it). */
  readonly debianPackage: string;
  readonly command: string;
  readonly args: readonly string[];
  /**
   * When set, the check passes when the output matches, whatever the exit status: mosquitto
   * and its clients exit non-zero after printing their usage, which is still proof they run.
   */
  readonly expectOutput?: RegExp;
}

/** Debian's python3 sees Debian's Python modules; the python3 first on PATH here may not. */
export const DEBIAN_PYTHON = '/usr/bin/python3';
/** PostgreSQL's initdb, which the database tests run (tests/support/postgres.ts). */
export const POSTGRES_INITDB = `${process.env.POSTGRES_BIN ?? '/usr/lib/postgresql/15/bin'}/initdb`;
/** The browser the dashboard tests drive (tests/dashboard/platform-browser.test.ts). */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/lib/chromium/chromium';

/** Each command exits 0 only when the peer can run; kept in step with scripts/install-peers.sh. */
export const PEER_CHECKS: readonly PeerCheck[] = [
  {
    peer: 'MQTT broker',
    debianPackage: 'mosquitto',
    command: 'mosquitto',
    args: ['-h'],
    expectOutput: /mosquitto version \d/,
  },
  {
    peer: 'MQTT clients',
    debianPackage: 'mosquitto-clients',
    command: 'mosquitto_sub',
    args: ['--help'],
    expectOutput: /mosquitto_sub is a simple mqtt client/,
  },
  {
    // Not on PATH: Debian keeps the server binaries per major version (tests/support/postgres.ts).
    peer: 'PostgreSQL 15 (cluster mode)',
    debianPackage: 'postgresql',
    command: POSTGRES_INITDB,
    args: ['--version'],
    expectOutput: /initdb \(PostgreSQL\) 15\./,
  },
  { peer: 'certificates', debianPackage: 'openssl', command: 'openssl', args: ['version'] },
  {
    peer: 'InfluxDB v2 write API',
    debianPackage: 'victoria-metrics',
    command: 'victoria-metrics',
    args: ['-version'],
  },
  { peer: 'InfluxQL server', debianPackage: 'influxdb', command: 'influxd', args: ['version'] },
  { peer: 'virtual serial cable', debianPackage: 'socat', command: 'socat', args: ['-V'] },
  { peer: 'Modbus client', debianPackage: 'mbpoll', command: 'mbpoll', args: ['-V'] },
  {
    peer: 'Modbus server (pymodbus)',
    debianPackage: 'python3-pymodbus python3-serial python3-serial-asyncio',
    command: DEBIAN_PYTHON,
    // Exactly what tests/gateway/fixtures/pymodbus-server.py imports, plus `serial` and
    // `serial_asyncio`, which pymodbus.server pulls in and Debian ships only as recommendations.
    args: [
      '-c',
      'import serial, serial_asyncio, pymodbus; from pymodbus.server import StartAsyncTcpServer; from pymodbus.datastore import ModbusServerContext; print(pymodbus.__version__)',
    ],
  },
];

export interface PeerProblem {
  readonly peer: string;
  readonly debianPackage: string;
  readonly problem: string;
}

/** Runs one check; returns undefined when the peer answered, else what went wrong. */
export function runPeerCheck(check: PeerCheck): PeerProblem | undefined {
  const result = spawnSync(check.command, check.args, { encoding: 'utf8', timeout: 20_000 });
  const base = { peer: check.peer, debianPackage: check.debianPackage };
  if (result.error) {
    const code = (result.error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'not found' : result.error.message;
    return { ...base, problem: `${check.command}: ${why}` };
  }
  if (check.expectOutput) {
    if (check.expectOutput.test(`${result.stdout}${result.stderr}`)) return undefined;
    return { ...base, problem: `${check.command}: output does not match ${check.expectOutput}` };
  }
  if (result.status !== 0) {
    const stderr = (result.stderr ?? '').trim().split('\n').slice(-2).join(' | ');
    return { ...base, problem: `${check.command} exited ${result.status}: ${stderr}` };
  }
  return undefined;
}

/** Launches headless Chromium and renders a page, as the browser tests do. */
export async function checkChromium(): Promise<PeerProblem | undefined> {
  const base = { peer: 'headless browser', debianPackage: 'chromium fonts-wqy-microhei' };
  const profile = mkdtempSync(path.join(tmpdir(), 'hw-chromium-check-'));
  try {
    const browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
      timeout: 30_000,
    });
    try {
      const page = await browser.newPage();
      await page.setContent('<p id="t">危险 ok</p>');
      const text = await page.textContent('#t');
      if (text !== '危险 ok') return { ...base, problem: `rendered '${text}'` };
    } finally {
      await browser.close();
    }
    const fonts = spawnSync('fc-list', [':lang=zh'], { encoding: 'utf8' });
    if (fonts.status !== 0 || fonts.stdout.trim() === '') {
      return { ...base, problem: 'no CJK font (fc-list :lang=zh is empty)' };
    }
    return undefined;
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    return { ...base, problem: `${CHROMIUM_PATH}: ${message}` };
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}

export async function checkAllPeers(): Promise<PeerProblem[]> {
  const problems = PEER_CHECKS.map(runPeerCheck).filter((p): p is PeerProblem => p !== undefined);
  const browser = await checkChromium();
  if (browser) problems.push(browser);
  return problems;
}

async function main(): Promise<void> {
  const problems = await checkAllPeers();
  const total = PEER_CHECKS.length + 1;
  if (process.argv.includes('--json')) {
    process.stdout.write(`${JSON.stringify({ total, problems })}\n`);
  } else if (problems.length === 0) {
    process.stdout.write(`== Debian peers: all ${total} start\n`);
  } else {
    process.stderr.write(`== Debian peers: ${problems.length} of ${total} cannot start\n`);
    for (const p of problems) {
      process.stderr.write(`  ${p.peer} (Debian: ${p.debianPackage}): ${p.problem}\n`);
    }
    process.stderr.write('  install them with: scripts/install-peers.sh\n');
  }
  process.exitCode = problems.length === 0 ? 0 : 1;
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
