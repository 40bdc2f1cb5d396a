/**
 * What a new user meets in the first hour on a fresh machine (issue 11): the README's test
 * command installs and proves every Debian peer, CI runs that same command, every locked
 * package runs on the Node.js we claim, and the README's flags exist.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import semver from 'semver';
import { describe, expect, it } from 'vitest';
import { checkAllPeers, PEER_CHECKS } from '../../scripts/check-peers.js';

const run = promisify(execFile);
const root = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

/** The package names of scripts/install-peers.sh's APT_PACKAGES list. */
function installedPackages(): Set<string> {
  const script = read('scripts/install-peers.sh');
  const list = /APT_PACKAGES=\(\n([\s\S]*?)\n\)/.exec(script)?.[1];
  if (!list) throw new Error('scripts/install-peers.sh: no APT_PACKAGES=( ... ) list');
  return new Set(
    list
      .split('\n')
      .map((line) => line.replace(/#.*/, '').trim())
      .filter((name) => name !== ''),
  );
}

describe('a fresh machine', () => {
  it('python3-pymodbus alone cannot serve (its server imports serial_asyncio, a mere recommendation), so the install list carries it', () => {
    const packages = installedPackages();
    expect(packages).toContain('python3-pymodbus');
    expect(packages).toContain('python3-serial-asyncio');
    expect(packages).toContain('python3-serial');
  });

  it('installs every Debian package that a peer check names', () => {
    const packages = installedPackages();
    const named = [
      ...PEER_CHECKS.flatMap((c) => c.debianPackage.split(' ')),
      'chromium',
      'fonts-wqy-microhei',
    ];
    expect(named.filter((name) => !packages.has(name))).toEqual([]);
  });

  it('can start every Debian peer the tests use (imports, --version, a headless Chromium page)', async () => {
    expect(await checkAllPeers()).toEqual([]);
  }, 60_000);

  it('CI runs exactly the README test command, and that command installs, proves and checks', () => {
    const readme = read('README.md');
    const commands = /## Two commands[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    const testCommand = commands.split('\n')[1]?.replace(/#.*/, '').trim();
    expect(testCommand).toBe('scripts/check-fresh.sh');
    expect(read('.ci/run')).toMatch(/^exec \.\/scripts\/check-fresh\.sh$/m);
    const steps = read('scripts/check-fresh.sh')
      .split('\n')
      .filter(
        (line) =>
          line !== '' &&
          !line.startsWith('#') &&
          !line.startsWith('set ') &&
          !line.startsWith('cd ') &&
          !line.startsWith('echo '),
      );
    expect(steps).toEqual([
      './scripts/install-peers.sh',
      'npm ci --no-audit --no-fund',
      'npx tsx scripts/check-peers.ts',
      'npm run check',
    ]);
  });

  it('runs every locked package on the oldest Node.js that package.json claims (cookie 2 wanted Node 22)', () => {
    const claimed = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines
      .node;
    const oldest = semver.minVersion(claimed)?.version;
    expect(oldest).toBeDefined();
    const lock = JSON.parse(read('package-lock.json')) as {
      packages: Record<string, { engines?: { node?: string } | string[]; optional?: boolean }>;
    };
    const refusing = Object.entries(lock.packages).flatMap(([name, meta]) => {
      const range = Array.isArray(meta.engines) ? undefined : meta.engines?.node;
      return range && !semver.satisfies(oldest!, range) ? [`${name} wants node ${range}`] : [];
    });
    expect(refusing).toEqual([]);
  });
});

describe('the README', () => {
  /** Every command whose flags the README documents, with how to ask it for help. */
  const HELP_COMMANDS = [
    'bin/demo-plant.ts',
    'simulators/main.ts',
    'server/main.ts',
    'gateway/main.ts',
    'edge/rules-check.ts',
    'server/ledger-verify.ts',
    'edge/rule-pack.ts',
  ];

  it('documents only flags that some command answers in its --help', async () => {
    const flags = new Set(
      [...read('README.md').matchAll(/(?<![\w-])--[a-z][a-z0-9-]*/g)].map((m) => m[0]),
    );
    // apt-get's flag, quoted where the README explains the install script.
    flags.delete('--no-install-recommends');
    const helps = await Promise.all(
      HELP_COMMANDS.map(async (file) => {
        const { stdout, stderr } = await run(
          process.execPath,
          ['--import', 'tsx', path.join(root, file), '--help'],
          { cwd: root, env: { ...process.env, LOG_LEVEL: 'info' }, timeout: 30_000 },
        );
        return `${stdout}${stderr}`;
      }),
    );
    const all = helps.join('\n');
    expect([...flags].filter((flag) => !all.includes(flag))).toEqual([]);
    expect(flags.size).toBeGreaterThan(5);
  }, 60_000);
});
