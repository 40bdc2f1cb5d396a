/**
 * The generator of mosquitto's password_file and acl_file: hashes in mosquitto 2's own format
 * (checked against Debian's mosquitto_passwd), credentials checked against the users file,
 * rules per identity, and the CLI.
 */
import { execFile } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { MqttUser } from '../../server/auth/config.js';
import {
  mosquittoAclFile,
  mosquittoPasswordFile,
  mosquittoPasswordHash,
  verifyMosquittoPassword,
} from '../../server/auth/mosquitto-files.js';
import { type Cleanup, PASSWORDS, SERVICE, tempDir, testUsers } from './harness.js';

const run = promisify(execFile);
const cleanups: Cleanup[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

let users: MqttUser[];
beforeAll(async () => {
  users = await testUsers();
});

const service = { username: SERVICE.username, password: PASSWORDS[SERVICE.username] };

describe('mosquitto password hashes', () => {
  it('reads a hash written by mosquitto_passwd, and writes the same $7$ PBKDF2-SHA512 format', async () => {
    const dir = tempDir(cleanups);
    const file = path.join(dir, 'pw');
    writeFileSync(file, '');
    await run('mosquitto_passwd', ['-b', file, 'gw-01', 'gw-01-secret']);
    const theirs = readFileSync(file, 'utf8').trim().split(':')[1]!;
    expect(await verifyMosquittoPassword('gw-01-secret', theirs)).toBe(true);
    expect(await verifyMosquittoPassword('guess', theirs)).toBe(false);

    const ours = await mosquittoPasswordHash('gw-01-secret');
    // mosquitto 2.0: "$7$" + iterations + 12-byte salt + 64-byte SHA-512 key, both base64.
    expect(ours).toMatch(/^\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$/);
    expect(theirs).toMatch(/^\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$/);
    expect(await verifyMosquittoPassword('gw-01-secret', ours)).toBe(true);
  });

  it('writes one line per user and the service identity, each credential checked against the users file', async () => {
    const text = await mosquittoPasswordFile(users, PASSWORDS, service);
    const lines = text.trim().split('\n');
    expect(lines.map((l) => l.split(':')[0])).toEqual([
      'gw-01',
      'gw-02',
      'ecc-1',
      SERVICE.username,
    ]);
    for (const line of lines) {
      const [user, hash] = line.split(':') as [string, string];
      expect(await verifyMosquittoPassword(PASSWORDS[user]!, hash), user).toBe(true);
    }
  });

  it('refuses, by name, a user without a credential, a credential that does not match its hash, and a service identity that is also a user', async () => {
    const { 'gw-02': _missing, ...credentials } = PASSWORDS;
    await expect(
      mosquittoPasswordFile(users, { ...credentials, 'ecc-1': 'not-its-password' }, service),
    ).rejects.toThrow(
      /gw-02: no password in the credentials\n\s+ecc-1: the credential does not match the users file's passwordHash/,
    );
    await expect(
      mosquittoPasswordFile(users, PASSWORDS, { username: 'gw-01', password: 'x' }),
    ).rejects.toThrow(/gw-01: the service identity is also a user in the users file/);
  });
});

describe('the mosquitto acl_file', () => {
  it('gives a gateway its own topics, a client its listed ones and the service identity the shared channels and server publishes', () => {
    const acl = mosquittoAclFile(users, SERVICE);
    const block = (user: string) =>
      acl
        .split(/\n\n/)
        .find((b) => b.startsWith(`user ${user}\n`))!
        .split('\n')
        .slice(1);
    expect(block('gw-01')).toEqual([
      'topic write hazardwatch/v1/ent-01/gw-01/telemetry',
      'topic write hazardwatch/v1/ent-01/gw-01/alarm',
      'topic write hazardwatch/v1/ent-01/gw-01/status',
      'topic write hazardwatch/v1/ent-01/gw-01/health',
      'topic write hazardwatch/v1/ent-01/gw-01/config-status',
      'topic write hazardwatch/v1/ent-01/gw-01/fleet-result',
      'topic read hazardwatch/v1/ent-01/gw-01/ack',
      'topic read hazardwatch/v1/ent-01/gw-01/command',
      'topic read hazardwatch/v1/ent-01/gw-01/config',
      'topic read hazardwatch/v1/ent-01/gw-01/fleet-command',
    ]);
    expect(block('ecc-1')).toEqual([
      'topic write hazardwatch/v1/emergency/notifications/receipts',
      'topic read hazardwatch/v1/emergency/notifications',
    ]);
    const own = block(SERVICE.username);
    expect(own).toContain('topic read hazardwatch/v1/+/+/telemetry');
    expect(own).toContain('topic write hazardwatch/v1/+/+/ack');
    expect(own).toContain('topic write hazardwatch/ledger/anchor');
    expect(own).toContain('topic write hazardwatch/ledger/hazard-anchor');
    expect(own.some((rule) => /#$/.test(rule) && rule.includes('read'))).toBe(false);
    // No rule before the first user block (mosquitto would apply it to every client).
    const lines = acl.split('\n');
    expect(lines.findIndex((l) => l.startsWith('topic'))).toBeGreaterThan(
      lines.findIndex((l) => l.startsWith('user ')),
    );
  });
});

describe('npx tsx server/auth/mosquitto-files.ts', () => {
  it('writes the password file (0600), the acl file and a conf to include, from a users file and a credentials file', async () => {
    const dir = tempDir(cleanups);
    const usersFile = path.join(dir, 'users.yaml');
    const credentialsFile = path.join(dir, 'credentials.yaml');
    writeFileSync(usersFile, stringify({ users }));
    writeFileSync(credentialsFile, stringify({ credentials: PASSWORDS }), { mode: 0o600 });
    const out = path.join(dir, 'out');
    const { stdout } = await run(
      process.execPath,
      [
        '--import',
        'tsx',
        'server/auth/mosquitto-files.ts',
        ...['--users', usersFile, '--credentials', credentialsFile, '--out', out],
      ],
      { cwd: path.resolve(import.meta.dirname, '../..') },
    );
    expect(stdout).toContain(`include_dir ${out}`);
    expect(statSync(path.join(out, 'passwords')).mode & 0o777).toBe(0o600);
    expect(readFileSync(path.join(out, 'hazardwatch.conf'), 'utf8')).toContain(
      `acl_file ${path.join(out, 'acl')}`,
    );
    const missing = await run(
      process.execPath,
      ['--import', 'tsx', 'server/auth/mosquitto-files.ts', '--users', usersFile, '--out', out],
      { cwd: path.resolve(import.meta.dirname, '../..') },
    ).catch((err: { code: number; stderr: string }) => err);
    expect(missing).toMatchObject({ code: 2, stderr: expect.stringMatching(/--credentials/) });
  }, 30_000);
});
