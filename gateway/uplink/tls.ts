/** TLS options of the MQTT uplink: PEM files named in the config, read at start(). */
import { readFileSync } from 'node:fs';
import type mqtt from 'mqtt';

/** TLS settings of the uplink: file paths, read at start(). */
export interface MqttUplinkTls {
  /** CA bundle the broker's certificate must chain to; default the system CAs. */
  caFile?: string;
  /** Client certificate for mutual TLS (with keyFile). */
  certFile?: string;
  keyFile?: string;
  /** Verify the broker's certificate (default true). */
  rejectUnauthorized?: boolean;
  /** Host name for SNI and the certificate check, when it differs from the url's host. */
  servername?: string;
}

/** Whether a broker url is TLS (the only case in which TLS files apply). */
export function isTlsUrl(url: string): boolean {
  return /^(mqtts|wss):\/\//i.test(url);
}

/** Reads the TLS files into mqtt.connect options; throws naming the file that cannot be read. */
export function tlsConnectOptions(tls: MqttUplinkTls | undefined): mqtt.IClientOptions {
  if (!tls) return {};
  const read = (key: 'caFile' | 'certFile' | 'keyFile'): Buffer | undefined => {
    const file = tls[key];
    if (file === undefined) return undefined;
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`uplink TLS ${key} '${file}' cannot be read: ${(err as Error).message}`, {
        cause: err,
      });
    }
  };
  const ca = read('caFile');
  const cert = read('certFile');
  const key = read('keyFile');
  return {
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    rejectUnauthorized: tls.rejectUnauthorized ?? true,
    ...(tls.servername !== undefined ? { servername: tls.servername } : {}),
  };
}
