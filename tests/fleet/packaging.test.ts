/**
 * Packaging for a real box. The compiled build (tsc into a temporary folder, then the build's
 * second step) starts on Node with no tsx: its rule-loading worker runs compiled, and the
 * compiled gateway process enrols with only an address and a token and streams. The systemd
 * unit and the gateway's Dockerfile are checked statically (no Docker engine here).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEMO_GAS_CHANNELS,
  ModbusGasDetectorSimulator,
} from '../../simulators/modbus-gas-detector.js';
import {
  type FleetHarness,
  gatewayYaml,
  methaneRules,
  startFleetServer,
  until,
} from './harness.js';

const root = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

/** `Key=value` lines of a unit file, every value of each key (keys may repeat). */
function unitDirectives(text: string): Map<string, string[]> {
  const directives = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (!match) continue;
    directives.set(match[1]!, [...(directives.get(match[1]!) ?? []), match[2]!]);
  }
  return directives;
}

describe('the systemd unit', () => {
  const unit = unitDirectives(read('deploy/systemd/hazardwatch-gateway.service'));
  const one = (key: string) => unit.get(key)?.[0];

  it('runs the compiled gateway as its own user with the hardening profile', () => {
    expect(one('User')).toBe('hazardwatch');
    expect(one('ExecStart')).toMatch(
      /^\/usr\/bin\/node \/opt\/hazardwatch\/dist\/gateway\/main\.js --data-dir \/var\/lib\/hazardwatch/,
    );
    expect(one('ProtectSystem')).toBe('strict');
    expect(one('NoNewPrivileges')).toBe('true');
    expect(one('ProtectHome')).toBe('true');
    expect(one('PrivateTmp')).toBe('true');
    expect(one('CapabilityBoundingSet')).toBe('');
    // The data folder, and nothing else, is writable.
    expect(unit.get('ReadWritePaths')).toEqual(['/var/lib/hazardwatch']);
    expect(one('StateDirectory')).toBe('hazardwatch');
    // V8's JIT needs writable executable memory: this directive would kill node at start.
    expect(unit.has('MemoryDenyWriteExecute')).toBe(false);
  });

  it('restarts on failure with backoff, bounded', () => {
    expect(one('Restart')).toBe('on-failure');
    expect(one('RestartSec')).toBe('5s');
    expect(one('RestartMaxDelaySec')).toBe('300s');
    expect(Number(one('StartLimitBurst'))).toBeGreaterThan(1);
  });
});

describe('the gateway Dockerfile', () => {
  const dockerfile = read('deploy/gateway.Dockerfile');
  const lines = dockerfile.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));

  it('builds with npm run build and runs node on the compiled gateway as an unprivileged user', () => {
    expect(lines.filter((l) => l.startsWith('FROM '))).toEqual([
      'FROM node:20-bookworm-slim AS build',
      'FROM node:20-bookworm-slim',
    ]);
    expect(lines).toContain('RUN npm run build');
    expect(lines).toContain('USER node');
    expect(lines).toContain('COPY --from=build /src/dist dist');
    expect(lines.at(-1)).toBe(
      'ENTRYPOINT ["node", "dist/gateway/main.js", "--data-dir", "/var/lib/hazardwatch"]',
    );
    expect(lines.join('\n')).not.toMatch(/tsx/);
  });

  it('copies only paths that exist, and everything the build config includes', () => {
    const copied = lines
      .filter((l) => l.startsWith('COPY ') && !l.includes('--from'))
      .flatMap((l) => l.slice(5).trim().split(/\s+/).slice(0, -1));
    for (const source of copied) expect(existsSync(path.join(root, source)), source).toBe(true);
    const build = JSON.parse(read('tsconfig.build.json')) as { include: string[] };
    for (const folder of build.include) expect(copied).toContain(folder);
    expect(read('deploy/gateway.Dockerfile.dockerignore').split('\n')).toContain('node_modules');
  });
});

describe('the compiled build', () => {
  let outDir: string;
  let fleet: FleetHarness;
  let child: ChildProcess | null = null;

  beforeAll(async () => {
    outDir = mkdtempSync(path.join(os.tmpdir(), 'hw-dist-'));
    execFileSync(
      process.execPath,
      [
        path.join(root, 'node_modules/typescript/bin/tsc'),
        '-p',
        'tsconfig.build.json',
        '--outDir',
        outDir,
      ],
      { cwd: root, stdio: 'pipe' },
    );
    execFileSync(process.execPath, ['deploy/build/finish-build.mjs', outDir], { cwd: root });
    // The box installs its node_modules beside dist (npm ci --omit=dev); here: the repository's.
    symlinkSync(path.join(root, 'node_modules'), path.join(outDir, 'node_modules'));
    fleet = await startFleetServer();
  }, 180_000);

  afterAll(async () => {
    child?.kill('SIGTERM');
    await fleet?.stop();
    rmSync(outDir, { recursive: true, force: true });
  });

  it('reads rule files in its worker thread, compiled', () => {
    const script = `import { readRuleFilesOffThread } from ${JSON.stringify(path.join(outDir, 'edge/engine/rule-reader.js'))};
const set = await readRuleFilesOffThread([${JSON.stringify(path.join(root, 'rules/demo-plant.yaml'))}]);
process.stdout.write(String(set.rules.length));`;
    // A file, not --eval: the worker thread inherits the parent's execArgv.
    const file = path.join(outDir, 'read-rules-check.mjs');
    writeFileSync(file, script);
    const out = execFileSync(process.execPath, [file], {
      cwd: outDir,
      env: { ...process.env, LOG_LEVEL: 'warn' },
    }).toString();
    expect(Number(out)).toBeGreaterThan(0);
  });

  it('writes telemetry in its writer thread, compiled', () => {
    const db = path.join(outDir, 'writer-check-telemetry.db');
    const script = `import { SqliteTelemetryStore } from ${JSON.stringify(path.join(outDir, 'server/store/sqlite-store.js'))};
const store = new SqliteTelemetryStore({ path: ${JSON.stringify(db)}, writer: 'thread' });
await store.start();
await store.writeBatch({ v: 1, gatewayId: 'gw-1', enterpriseId: 'ent-1', seq: 1, sentAt: 1,
  readings: [{ sensorId: 'S1', value: 4, quality: 'good', ts: Date.now() }] });
const latest = store.latest();
await store.stop();
process.stdout.write(String(latest[0]?.value));`;
    const file = path.join(outDir, 'writer-thread-check.mjs');
    writeFileSync(file, script);
    const out = execFileSync(process.execPath, [file], {
      cwd: outDir,
      env: { ...process.env, LOG_LEVEL: 'warn' },
    }).toString();
    expect(out).toBe('4');
  });

  it('the compiled gateway enrols with an address and a token, then streams', async () => {
    const detector = new ModbusGasDetectorSimulator({ port: 0, channels: DEMO_GAS_CHANNELS });
    await detector.start();
    detector.setValue(0, 11);
    try {
      const token = await fleet.token('ent-a', 'gw-dist-1');
      const dataDir = mkdtempSync(path.join(fleet.dir, 'dist-gw-'));
      const output: string[] = [];
      child = spawn(
        process.execPath,
        [
          path.join(outDir, 'gateway/main.js'),
          '--server',
          fleet.baseUrl,
          '--token',
          token,
          '--data-dir',
          dataDir,
        ],
        { cwd: outDir, env: { ...process.env, LOG_LEVEL: 'info', VITEST: '' } },
      );
      child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
      child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
      await until(
        () => (fleet.server.fleet.gateway('gw-dist-1') ? true : undefined),
        `enrolment of the compiled gateway (${output.join('')})`,
      );
      await fleet.api('POST', '/api/v1/fleet/gateways/gw-dist-1/versions', {
        config: gatewayYaml(
          [{ id: 'det-1', port: detector.port, sensorId: 'GT-101' }],
          ['gas.yaml'],
        ),
        rules: [{ file: 'gas.yaml', text: methaneRules('GT-101') }],
        reason: 'commissioning from the compiled build',
      });
      const stored = await until(
        () =>
          fleet.server.store.latest().find((r) => r.gatewayId === 'gw-dist-1' && r.value === 11),
        'a reading from the compiled gateway',
      );
      expect(stored.sensorId).toBe('GT-101');
      expect(output.join('')).not.toContain('tsx');
    } finally {
      await detector.stop();
    }
  });
});
