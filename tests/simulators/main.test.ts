import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const children: ChildProcess[] = [];
const blockers: net.Server[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  for (const blocker of blockers.splice(0)) {
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
  }
});

function run(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'simulators/main.ts', ...args], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  // Exit code, or the signal's name when the process was killed by one (so a failure says which).
  const exited = new Promise<number | string | null>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? signal)),
  );
  const printed = (text: string) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (stdout.includes(text)) resolve();
      };
      child.stdout.on('data', check);
      child.on('exit', () => reject(new Error(`exited before printing '${text}': ${stderr}`)));
      check();
    });
  return { child, exited, printed, output: () => ({ stdout, stderr }) };
}

async function busyPort(): Promise<number> {
  const blocker = net.createServer();
  blockers.push(blocker);
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  return (blocker.address() as net.AddressInfo).port;
}

describe('simulators CLI', () => {
  it('starts all three peers, says where they listen and stops cleanly on SIGINT', async () => {
    const sim = run(['--modbus-port', '0', '--opcua-port', '0', '--receiver-port', '0']);
    await sim.printed('Ctrl+C stops.');
    const { stdout } = sim.output();
    expect(stdout).toMatch(/Modbus gas detector {2}modbus-tcp:\/\/127\.0\.0\.1:\d+ unit 1/);
    expect(stdout).toMatch(
      /OPC UA tank farm {5}opc\.tcp:\/\/127\.0\.0\.1:\d+ {2}ns=1;s=Tank1\.Temperature/,
    );
    expect(stdout).toMatch(/webhook http:\/\/127\.0\.0\.1:\d+\/api\/v1\/notifications/);
    expect(stdout).toContain('scenario demo-leak');
    sim.child.kill('SIGINT');
    expect(await sim.exited).toBe(0);
    expect(sim.output().stdout).toContain('SIGINT: stopping simulators');
  });

  it('names the port and the flag or variable to change when a port is in use', async () => {
    const port = await busyPort();
    const sim = run(['--modbus-port', '0', '--opcua-port', '0'], { RECEIVER_PORT: String(port) });
    expect(await sim.exited).toBe(1);
    expect(sim.output().stderr).toContain(
      `Emergency receiver: port ${port} is already in use; choose another with --receiver-port or RECEIVER_PORT`,
    );
  });

  it('rejects a malformed port with usage help', async () => {
    const sim = run(['--modbus-port', 'five']);
    expect(await sim.exited).toBe(2);
    expect(sim.output().stderr).toContain(
      "--modbus-port or MODBUS_PORT: must be a port number 0..65535 (got 'five')",
    );
  });
});
