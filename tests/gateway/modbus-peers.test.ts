/**
 * Independent Modbus peers from Debian's packages: `mbpoll` (a client) reads and writes the
 * project's simulator over TCP and over a virtual serial cable (`socat`); an independent
 * server (`python3-pymodbus`, run by Debian's /usr/bin/python3) serves a register map that
 * the gateway reads in every data type and byte order; the gateway reads RTU over the
 * serial cable. A missing peer fails these tests loudly (CI installs socat, mbpoll and
 * python3-pymodbus).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../common/net.js';
import { ModbusLinkPool } from '../../gateway/acquisition/modbus/link.js';
import type {
  ModbusDeviceConfig,
  ModbusTagConfig,
  RegisterTable,
  RegisterType,
  WordOrder,
} from '../../gateway/config/types.js';
import type { Reading } from '../../protocol/payloads.js';
import { modbusFixtures, recorder, rtuDevice, tag, until } from './modbus-fixtures.js';

const run = promisify(execFile);
const fixtures = path.join(import.meta.dirname, 'fixtures');
const DEBIAN_PYTHON = '/usr/bin/python3';

const { cleanups, simulator: startSimulator, serialSimulator, source } = modbusFixtures();

function requireTool(file: string, pkg: string): void {
  if (!existsSync(file)) {
    throw new Error(`${file} is missing: install Debian's '${pkg}' (apt-get install -y ${pkg})`);
  }
}

/** Starts a child process and resolves once `ready` appears on its stdout. */
async function startChild(
  command: string,
  args: string[],
  ready: RegExp | null,
): Promise<ChildProcess> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  );
  if (!ready) return child;
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${command} not ready: ${output}`)), 10_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (ready.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited with ${code}: ${output}`));
    });
  });
  return child;
}

/** A virtual serial cable: two linked pseudo-terminals (Debian's socat). */
async function serialCable(): Promise<{ a: string; b: string }> {
  requireTool('/usr/bin/socat', 'socat');
  const dir = mkdtempSync(path.join(tmpdir(), 'hw-serial-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const a = path.join(dir, 'a');
  const b = path.join(dir, 'b');
  await startChild(
    '/usr/bin/socat',
    ['-d', '-d', `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`],
    /starting data transfer loop/,
  );
  return { a, b };
}

function startSource(
  config: ModbusDeviceConfig,
  sink: (r: Reading[]) => void,
  links?: ModbusLinkPool,
) {
  const s = source(config, sink, links ? { links } : {});
  return s.start().then(() => s);
}

describe('mbpoll (Debian) against the project simulator', () => {
  function simulator() {
    return startSimulator([
      {
        unitId: 1,
        // float32 21.5 (0x41AC0000) big-endian words at 10..11
        registers: { holding: { 0: [111, 222, 333], 10: [0x41ac, 0x0000] } },
      },
    ]);
  }

  it('reads holding registers and a float32 over Modbus TCP', async () => {
    requireTool('/usr/bin/mbpoll', 'mbpoll');
    const sim = await simulator();
    const base = ['-m', 'tcp', '-p', String(sim.port), '-a', '1', '-0', '-1'];
    const words = await run('/usr/bin/mbpoll', [...base, '-r', '0', '-c', '3', '127.0.0.1']);
    expect(words.stdout).toMatch(/\[0\]:\s+111\b/);
    expect(words.stdout).toMatch(/\[2\]:\s+333\b/);
    const float = await run('/usr/bin/mbpoll', [
      ...base,
      '-t',
      '4:float',
      '-B',
      '-r',
      '10',
      '127.0.0.1',
    ]);
    expect(float.stdout).toMatch(/\[10\]:\s+21\.5\b/);
  });

  it('writes a coil and a register that the simulator keeps', async () => {
    requireTool('/usr/bin/mbpoll', 'mbpoll');
    const sim = await simulator();
    const base = ['-m', 'tcp', '-p', String(sim.port), '-a', '1', '-0', '-1'];
    await run('/usr/bin/mbpoll', [...base, '-t', '0', '-r', '5', '127.0.0.1', '1']);
    await run('/usr/bin/mbpoll', [...base, '-t', '4', '-r', '50', '127.0.0.1', '4242']);
    expect(sim.get(1, 'coil', 5)).toBe(1);
    expect(sim.get(1, 'holding', 50)).toBe(4242);
  });

  it('reads the simulator over RTU through a socat serial cable', async () => {
    requireTool('/usr/bin/mbpoll', 'mbpoll');
    const cable = await serialCable();
    await serialSimulator(cable.b, [{ unitId: 7, registers: { holding: { 3: 777 } } }]);
    const result = await run('/usr/bin/mbpoll', [
      '-m',
      'rtu',
      '-b',
      '9600',
      '-P',
      'even',
      '-a',
      '7',
      '-0',
      '-1',
      '-r',
      '3',
      '-t',
      '4',
      cable.a,
    ]);
    expect(result.stdout).toMatch(/\[3\]:\s+777\b/);
  });
});

interface MapEntry {
  sensorId: string;
  table: RegisterTable;
  address: number;
  type: RegisterType;
  wordOrder?: WordOrder;
  count?: number;
  bit?: number;
  value: number | boolean | string;
}

describe('the gateway against pymodbus (Debian), an independent Modbus TCP server', () => {
  it('reads every data type and byte order of the fixture map correctly', async () => {
    requireTool(DEBIAN_PYTHON, 'python3');
    const check = await run(DEBIAN_PYTHON, [
      '-c',
      'import pymodbus; print(pymodbus.__version__)',
    ]).catch((err: unknown) => {
      throw new Error(
        "Debian's python3-pymodbus is missing (apt-get install -y python3-pymodbus)",
        {
          cause: err,
        },
      );
    });
    expect(check.stdout.trim()).toMatch(/^3\./);
    const mapFile = path.join(fixtures, 'pymodbus-map.json');
    const entries = (JSON.parse(readFileSync(mapFile, 'utf8')) as { entries: MapEntry[] }).entries;
    const port = await freePort();
    await startChild(
      DEBIAN_PYTHON,
      [path.join(fixtures, 'pymodbus-server.py'), mapFile, String(port)],
      /READY/,
    );

    const tags: ModbusTagConfig[] = entries.map((entry) =>
      tag(entry.sensorId, {
        table: entry.table,
        address: entry.address,
        type: entry.type,
        wordOrder: entry.wordOrder ?? 'ABCD',
        ...(entry.count !== undefined ? { count: entry.count } : {}),
        ...(entry.bit !== undefined ? { bit: entry.bit } : {}),
      }),
    );
    const rec = recorder();
    const source = await startSource(
      {
        id: 'pymodbus',
        protocol: 'modbus-tcp',
        host: '127.0.0.1',
        port,
        unitId: 1,
        pollIntervalMs: 200,
        timeoutMs: 1000,
        maxRegistersPerRead: 125,
        tags,
      },
      rec.sink,
    );
    // READY comes just before pymodbus listens: the first connect may be refused.
    await until(
      () =>
        entries.every((e) => {
          const reading = rec.latest().get(e.sensorId);
          return reading !== undefined && !reading.reason?.startsWith('comm lost');
        }),
      'a reading of every tag after connecting',
    );
    expect(rec.latest().size).toBe(entries.length);
    const latest = rec.latest();
    for (const entry of entries) {
      expect({ sensorId: entry.sensorId, ...pick(latest.get(entry.sensorId)) }).toEqual({
        sensorId: entry.sensorId,
        quality: 'good',
        value: entry.value,
        reason: undefined,
      });
    }
    // 24 tags in 4 tables: one request per table.
    expect(source.readPlan).toHaveLength(4);
  });
});

function pick(reading: Reading | undefined) {
  return { quality: reading?.quality, value: reading?.value, reason: reading?.reason };
}

describe('Modbus RTU over a serial port (socat virtual cable)', () => {
  it('reads two unit ids on one bus, requests serialised, values right', async () => {
    const cable = await serialCable();
    await serialSimulator(cable.b, [
      { unitId: 1, registers: { holding: { 0: 101 }, input: { 0: 0x41ac, 1: 0 } } },
      { unitId: 2, registers: { holding: { 0: 202 } } },
    ]);
    const links = new ModbusLinkPool({ backoff: { initialMs: 100, maxMs: 300 } });
    const rtu = (id: string, unitId: number, tags: ModbusTagConfig[]) =>
      rtuDevice(cable.a, id, unitId, tags);
    const typed = (sensorId: string, table: RegisterTable, type: RegisterType) =>
      tag(sensorId, { table, address: 0, type });
    const rec = recorder();
    await startSource(
      rtu('rtu-1', 1, [typed('R1', 'holding', 'uint16'), typed('F1', 'input', 'float32')]),
      rec.sink,
      links,
    );
    await startSource(rtu('rtu-2', 2, [typed('R2', 'holding', 'uint16')]), rec.sink, links);
    await until(
      () => rec.of('R1').length >= 10 && rec.of('R2').length >= 10,
      'ten polls of each unit',
    );
    expect(rec.of('R1').every((r) => r.value === 101)).toBe(true);
    expect(rec.of('F1').every((r) => r.value === 21.5)).toBe(true);
    expect(rec.of('R2').every((r) => r.value === 202)).toBe(true);
  });

  it('never shifts a value when a reply comes after its timeout (no transaction id on RTU)', async () => {
    const cable = await serialCable();
    // Two reads of the same function code and length from one unit: a late reply to the
    // first taken as the answer to the second would swap the values.
    await serialSimulator(
      cable.b,
      [{ unitId: 1, registers: { holding: { 0: 111, 100: 222 } } }],
      [{ kind: 'delay', ms: 300, table: 'holding', from: 0, to: 0, times: 3 }],
    );
    const word = (sensorId: string, address: number) =>
      tag(sensorId, { table: 'holding', address });
    const rec = recorder();
    const links = new ModbusLinkPool({ backoff: { initialMs: 100, maxMs: 300 } });
    await startSource(
      rtuDevice(cable.a, 'rtu-late', 1, [word('A', 0), word('B', 100)], { timeoutMs: 150 }),
      rec.sink,
      links,
    );
    await until(
      () => rec.of('A').filter((r) => r.quality === 'good').length >= 5,
      'A good',
      10_000,
    );
    expect(
      rec.of('A').some((r) => r.reason === 'timeout: no reply from unit 1 within 150 ms'),
    ).toBe(true);
    expect(rec.onlyValue('A', 111)).toBe(true);
    expect(rec.onlyValue('B', 222)).toBe(true);
  });
});
