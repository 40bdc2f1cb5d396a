/**
 * The demo's documented behaviour is the demo's behaviour (issue 11 item 3): the README, the
 * simulator docs, the scenario file and `npm start`'s banner quote the alarm times and setpoints
 * that the scenario and rule files actually produce, and Ctrl-C says that everything stopped.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { demoAlarmTimes } from '../../bin/demo-timings.js';
import { DEMO_PLANT_DEFAULTS } from '../../bin/plant.js';

const root = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');
const times = demoAlarmTimes();

/** The whole numbers of seconds the docs may quote for a time (rounded either way). */
function quotable(seconds: number): number[] {
  return [Math.floor(seconds), Math.ceil(seconds)];
}

describe('the demo documentation', () => {
  it('README quotes the level-1 and level-2 times that the scenario and rule files produce', () => {
    const readme = read('README.md');
    const level1 = /level-1 alarm comes about (\d+) s/.exec(readme)?.[1];
    const level2 = /level-2 alarm about (\d+) s/.exec(readme)?.[1];
    expect(quotable(times.level1S)).toContain(Number(level1));
    expect(quotable(times.level2S)).toContain(Number(level2));
  });

  it('README, simulator docs and scenario file quote the demo rule setpoints, not the standard maxima', () => {
    const { level1, level2 } = times.rule;
    for (const file of [
      'README.md',
      'simulators/README.md',
      'simulators/scenarios/demo-leak.yaml',
    ]) {
      const text = read(file);
      expect(text, file).toContain(`${level1} and ${level2} %LEL`);
    }
    const scenarioDoc = read('simulators/README.md');
    for (const [label, seconds] of [
      ['level 1', times.level1S],
      ['level 2', times.level2S],
    ] as const) {
      const quoted = new RegExp(`${label} (?:comes )?about (\\d+) s`).exec(scenarioDoc)?.[1];
      expect(quotable(seconds), `simulators/README.md ${label}`).toContain(Number(quoted));
    }
  });
});

describe('the README port table', () => {
  it('lists each default port and the flag and variable that change it, as bin/demo-plant.ts has them', () => {
    const rows = read('README.md')
      .split('\n')
      .filter((line) => /^\| .* \| .*:\d+.* \| `--[a-z-]+` or `[A-Z_]+` +\|$/.test(line));
    const table = new Map(
      rows.map((row) => {
        const [, , where, change] = row.split('|').map((cell) => cell.trim());
        const port = Number(/:(\d+)/.exec(where ?? '')?.[1]);
        const [flag, env] = [...(change ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1]);
        return [flag, { port, env }];
      }),
    );
    const demo = read('bin/demo-plant.ts');
    const expected: [string, number, string][] = [
      ['--http-port', DEMO_PLANT_DEFAULTS.httpPort, 'HAZARDWATCH_HTTP_PORT'],
      ['--mqtt-port', DEMO_PLANT_DEFAULTS.mqttPort, 'HAZARDWATCH_MQTT_PORT'],
      ['--modbus-port', DEMO_PLANT_DEFAULTS.modbusPort, 'MODBUS_PORT'],
      ['--opcua-port', DEMO_PLANT_DEFAULTS.opcuaPort, 'OPCUA_PORT'],
      ['--receiver-port', DEMO_PLANT_DEFAULTS.receiverPort, 'RECEIVER_PORT'],
    ];
    for (const [flag, port, env] of expected) {
      expect(table.get(flag), flag).toEqual({ port, env });
      // The flag is wired to that variable in the code, not only in the README.
      expect(demo).toContain(`'${flag.slice(2)}': { env: '${env}'`);
    }
  });
});

describe('npm start', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'hw-demo-banner-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints the computed alarm times, and on Ctrl-C says that it stopped, exiting 0', async () => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(root, 'bin/demo-plant.ts'),
        ...['--http-port', '0', '--mqtt-port', '0', '--modbus-port', '0'],
        ...['--opcua-port', '0', '--receiver-port', '0', '--store', path.join(dir, 'demo.db')],
      ],
      { cwd: root, env: { ...process.env, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      await expect
        .poll(() => out, { timeout: 45_000, interval: 200 })
        .toContain('Ctrl-C stops everything.');
      expect(out).toContain(`about ${Math.round(times.level1S)} s from now`);
      expect(out).toContain(`about ${Math.round(times.level2S)} s from now`);
      child.kill('SIGINT');
      // The output's tail names why it did not stop cleanly (a stop error, the 10 s limit).
      expect(await exited, out.slice(-3_000)).toBe(0);
      expect(out.trimEnd().split('\n').at(-1)).toBe('HazardWatch demo plant stopped.');
    } finally {
      child.kill('SIGKILL');
    }
  }, 60_000);
});
