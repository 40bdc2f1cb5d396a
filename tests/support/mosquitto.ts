/**
 * Debian's mosquitto 2 for the cluster tests and the cluster benchmark: started on a free
 * loopback port with the password and ACL files that server/auth/mosquitto-files.ts generates
 * from a users file, in a temporary directory. Shared by tests/cluster/harness.ts (fixed test
 * identities) and bench/cluster-support.ts (generated gateways).
 *
 * Lifecycle: `startMosquitto()` resolves once the port accepts connections (it throws with
 * mosquitto's own output when it exits first); `stop()` ends it with SIGTERM and removes the
 * directory; safe twice.
 *
 * A machine without mosquitto fails loudly, naming the Debian package: a test that quietly
 * skips would hide that cluster mode went untested.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../common/net.js';
import type { MqttUser } from '../../server/auth/config.js';
import { type ServiceIdentity, writeMosquittoFiles } from '../../server/auth/mosquitto-files.js';

export const MOSQUITTO = '/usr/sbin/mosquitto';
const READY_TIMEOUT_MS = 10_000;

export interface MosquittoBroker {
  url: string;
  port: number;
  /** mosquitto's own log (refusals are written there). */
  log(): string;
  stop(): Promise<void>;
}

export interface MosquittoOptions {
  users: readonly MqttUser[];
  /** Plaintext password of every user (checked against its hash by the generator). */
  credentials: Readonly<Record<string, string>>;
  /** The server nodes' identity; its password is in `credentials`. */
  service: ServiceIdentity;
  /** mosquitto log types besides error, warning and notice ('information' shows connects). */
  logTypes?: readonly string[];
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** mosquitto on a free port with the files generated from `options.users`. */
export async function startMosquitto(options: MosquittoOptions): Promise<MosquittoBroker> {
  if (!existsSync(MOSQUITTO)) {
    throw new Error(`${MOSQUITTO} not found: install Debian's mosquitto package`);
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hw-mosquitto-'));
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  let child: ChildProcess;
  let port: number;
  try {
    const files = await writeMosquittoFiles({
      users: options.users,
      credentials: options.credentials,
      service: options.service,
      outDir: path.join(dir, 'hazardwatch'),
    });
    port = await freePort();
    const conf = path.join(dir, 'mosquitto.conf');
    writeFileSync(
      conf,
      [
        // mosquitto started as root drops to user 'mosquitto', which cannot read the 0600
        // password file this process wrote; a production install chowns it to mosquitto instead.
        ...(process.getuid?.() === 0 ? ['user root'] : []),
        `listener ${port} 127.0.0.1`,
        'persistence false',
        ...['error', 'warning', 'notice', ...(options.logTypes ?? [])].map((t) => `log_type ${t}`),
        `include_dir ${path.dirname(files.confFile)}`,
        '',
      ].join('\n'),
    );
    child = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    removeDir();
    throw err;
  }
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    removeDir();
  };
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`mosquitto exited ${child.exitCode}: ${output}`);
    }
    if (await portOpen(port)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`timed out after ${READY_TIMEOUT_MS} ms waiting for mosquitto on ${port}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url: `mqtt://127.0.0.1:${port}`, port, log: () => output, stop };
}
