/**
 * Independent peers for the broker security tests: certificates made with
 * the `openssl` CLI, and Debian's `mosquitto_pub` / `mosquitto_sub`
 * (package mosquitto-clients) as MQTT clients that share no code with ours.
 * A missing tool fails the test with the package to install.
 */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';

function requireTool(binary: string, debianPackage: string): void {
  if (spawnSync('sh', ['-c', `command -v ${binary}`]).status !== 0) {
    throw new Error(
      `'${binary}' is not installed: these tests need Debian's ${debianPackage} package (apt-get install -y ${debianPackage})`,
    );
  }
}

function openssl(args: string[], cwd: string): void {
  const result = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (result.status !== 0) {
    throw new Error(`openssl ${args.join(' ')} failed: ${result.stderr}`);
  }
}

export interface TestPki {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  /** Client certificate and key per CN, signed by the CA. */
  client(cn: string): { cert: string; key: string };
  /** A certificate with CN gw-01 from a CA the broker does not trust. */
  rogue: { cert: string; key: string };
}

/** A CA, a server certificate for 127.0.0.1 and client certificates for the given CNs (EC P-256, fast). */
export function makePki(dir: string, clientCns: string[]): TestPki {
  requireTool('openssl', 'openssl');
  const key = (name: string) =>
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`], dir);
  const selfSigned = (name: string, cn: string) => {
    key(name);
    openssl(
      ['req', '-x509', '-new', '-key', `${name}.key`, '-subj', `/CN=${cn}`, '-days', '2'].concat([
        '-out',
        `${name}.pem`,
      ]),
      dir,
    );
  };
  const signed = (name: string, cn: string, ca: string, extensions: string) => {
    key(name);
    openssl(
      ['req', '-new', '-key', `${name}.key`, '-subj', `/CN=${cn}`, '-out', `${name}.csr`],
      dir,
    );
    const ext = join(dir, `${name}.ext`);
    spawnSync('sh', ['-c', `printf '%s\\n' '${extensions}' > '${ext}'`]);
    openssl(
      ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`].concat([
        '-CAcreateserial',
        '-days',
        '2',
        '-extfile',
        ext,
        '-out',
        `${name}.pem`,
      ]),
      dir,
    );
  };
  selfSigned('ca', 'HazardWatch test CA');
  selfSigned('rogue-ca', 'Someone else');
  signed('server', '127.0.0.1', 'ca', 'subjectAltName=IP:127.0.0.1,DNS:localhost');
  for (const cn of clientCns) signed(`client-${cn}`, cn, 'ca', 'extendedKeyUsage=clientAuth');
  signed('rogue', 'gw-01', 'rogue-ca', 'extendedKeyUsage=clientAuth');
  const file = (name: string) => join(dir, name);
  return {
    dir,
    caCert: file('ca.pem'),
    serverCert: file('server.pem'),
    serverKey: file('server.key'),
    client: (cn) => ({ cert: file(`client-${cn}.pem`), key: file(`client-${cn}.key`) }),
    rogue: { cert: file('rogue.pem'), key: file('rogue.key') },
  };
}

export interface ToolResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a mosquitto client to completion (killed after `timeoutMs`). */
export function mosquitto(
  tool: 'mosquitto_pub' | 'mosquitto_sub',
  args: string[],
  timeoutMs = 5_000,
): Promise<ToolResult> {
  requireTool(tool, 'mosquitto-clients');
  return new Promise((resolve) => {
    const child = spawn(tool, ['-V', 'mqttv311', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
