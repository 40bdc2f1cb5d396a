/**
 * Makes MQTT credentials for the server config (`mqtt.auth.users` or a users file):
 *
 *   npx tsx server/auth/hash-password.ts --gateway gw-01 --enterprise ent-01
 *       generates a 256-bit secret, prints it once (put it in the gateway's
 *       uplink.password) and the users entry with its scrypt hash
 *   echo -n 'secret' | npx tsx server/auth/hash-password.ts [--cost 32768]
 *       hashes a password read from stdin and prints the hash only
 */
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { generateSecret, hashPassword, PASSWORD_DEFAULTS } from './password.js';

const USAGE =
  'usage: tsx server/auth/hash-password.ts [--gateway id --enterprise id | --client id] [--cost N] (password on stdin unless generated)';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      gateway: { type: 'string' },
      enterprise: { type: 'string' },
      client: { type: 'string' },
      cost: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const cost = values.cost ? Number(values.cost) : PASSWORD_DEFAULTS.cost;
  const username = values.gateway ?? values.client;
  if (values.gateway && !values.enterprise) throw new Error('--gateway needs --enterprise');
  const password = username ? generateSecret() : await readStdin();
  if (password === '') throw new Error('empty password on stdin');
  const passwordHash = await hashPassword(password, { cost });
  if (!username) {
    process.stdout.write(`${passwordHash}\n`);
    return;
  }
  const user = values.gateway
    ? { username, role: 'gateway', enterpriseId: values.enterprise, passwordHash }
    : { username, role: 'client', passwordHash, subscribe: [], publish: [] };
  process.stdout.write(
    `# password for '${username}' (shown once; put it in the gateway's uplink.password):\n# ${password}\n${stringify([user])}`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
  process.exitCode = 2;
});
