/**
 * The gateway's enrolled identity: made once, at first start, from the server's address and
 * a one-time token, then read from the data folder at every start.
 *
 *   <dataDir>/fleet/gateway-key.pem   the gateway's own private key (ECDSA P-256), 0600
 *   <dataDir>/fleet/identity.json     id, enterprise, MQTT url and password, 0600
 *
 * The key pair is made here and never leaves the box: the server receives the public key
 * and a signature over the token and that key (the proof it holds the private key).
 * Enrolment is an HTTP POST to `<server>/api/v1/fleet/enrol`: use https:// in production
 * (docs/fleet.md); the answer carries the MQTT password.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../../common/atomic-file.js';
import type { FleetConfigDocument } from '../../protocol/index.js';
import type { MqttUplinkTls } from '../uplink/tls.js';

export interface FleetIdentity {
  gatewayId: string;
  enterpriseId: string;
  serverUrl: string;
  mqttUrl: string;
  username: string;
  password: string;
  keyFingerprint: string;
  enrolledAt: number;
  /**
   * TLS files (absolute paths) for the fleet link and, unless a pushed version names its own,
   * for the uplink: a broker whose certificate chains to a private CA is reached only with that
   * CA (`--ca-file` at enrolment). Used only when mqttUrl is mqtts:// or wss://.
   */
  tls?: MqttUplinkTls;
}

/** TLS file paths made absolute against the working directory, as the identity keeps them. */
export function absoluteTls(tls: MqttUplinkTls): MqttUplinkTls {
  const out: MqttUplinkTls = { ...tls };
  for (const key of ['caFile', 'certFile', 'keyFile'] as const) {
    const file = tls[key];
    if (file !== undefined) out[key] = path.resolve(file);
  }
  return out;
}

/** Stores a changed identity (0600), e.g. TLS files given again after enrolment. */
export function writeIdentity(dataDir: string, identity: FleetIdentity): void {
  writeFileAtomic(identityPaths(dataDir).identity, `${JSON.stringify(identity, null, 2)}\n`, 0o600);
}

/** Enrolment refused or impossible; `status` is the server's HTTP status (0: no answer). */
export class EnrolmentError extends Error {
  constructor(
    readonly status: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'EnrolmentError';
  }
}

export function identityPaths(dataDir: string): { identity: string; key: string } {
  const root = path.join(dataDir, 'fleet');
  return { identity: path.join(root, 'identity.json'), key: path.join(root, 'gateway-key.pem') };
}

export function readIdentity(dataDir: string): FleetIdentity | null {
  const file = identityPaths(dataDir).identity;
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as FleetIdentity;
  } catch (err) {
    throw new Error(`fleet identity '${file}' cannot be read: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** Same text as server/fleet/enrolment.ts enrolmentProofData: the token and the key, signed. */
function proofData(token: string, publicKeyPem: string): Buffer {
  return Buffer.from(`hazardwatch-enrol\0${token}\0${publicKeyPem.trim()}`, 'utf8');
}

export interface EnrolOptions {
  serverUrl: string;
  token: string;
  dataDir: string;
  /** The id to ask for; a token that names one wins. */
  gatewayId?: string;
  fetch?: typeof fetch;
  /** TLS files for the broker (kept in the identity, paths made absolute). */
  tls?: MqttUplinkTls;
}

/**
 * Makes the key pair, enrols, and stores the identity (0600). Returns the identity and the
 * version the server already holds for this gateway, if any.
 */
export async function enrolGateway(
  options: EnrolOptions,
): Promise<{ identity: FleetIdentity; config: FleetConfigDocument | null }> {
  const paths = identityPaths(options.dataDir);
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const proof = sign('sha256', proofData(options.token, publicKeyPem), privateKey).toString(
    'base64',
  );
  const url = new URL('/api/v1/fleet/enrol', options.serverUrl).toString();
  const doFetch = options.fetch ?? fetch;
  let response: Response;
  try {
    response = await doFetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        token: options.token,
        publicKeyPem,
        proof,
        ...(options.gatewayId ? { gatewayId: options.gatewayId } : {}),
      }),
    });
  } catch (err) {
    throw new EnrolmentError(0, `cannot reach ${url}: ${(err as Error).message}`, { cause: err });
  }
  const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  if (!response.ok) {
    throw new EnrolmentError(
      response.status,
      `enrolment refused by ${url} (${response.status}): ${String(body.message ?? response.statusText)}`,
    );
  }
  const identity: FleetIdentity = {
    gatewayId: String(body.gatewayId),
    enterpriseId: String(body.enterpriseId),
    serverUrl: options.serverUrl,
    mqttUrl: String(body.mqttUrl),
    username: String(body.username),
    password: String(body.password),
    keyFingerprint: String(body.keyFingerprint ?? ''),
    enrolledAt: Number(body.enrolledAt ?? Date.now()),
    ...(options.tls ? { tls: absoluteTls(options.tls) } : {}),
  };
  // The key first: an identity without its key would be a half enrolment.
  writeFileAtomic(paths.key, privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 0o600);
  writeIdentity(options.dataDir, identity);
  return { identity, config: (body.config as FleetConfigDocument | null | undefined) ?? null };
}
