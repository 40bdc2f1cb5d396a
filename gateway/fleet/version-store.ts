/**
 * Pushed versions on the gateway's disk, and the checks a version must pass before it runs.
 *
 *   <dataDir>/fleet/versions/<n>/gateway.yaml      the pushed config text, as pushed
 *   <dataDir>/fleet/versions/<n>/rules/<file>      the pushed rule files
 *   <dataDir>/fleet/versions/<n>/document.json     the pushed document (hash, who, when, why)
 *   <dataDir>/fleet/state.json                     { running, previous }
 *
 * The files are kept as pushed so that their hash can be compared with the pushed one: an
 * edit on the box is reported as drift. The identity (gateway id, enterprise), the uplink
 * url and the MQTT credentials are written into the config in memory at load, from the
 * enrolment: a pushed document cannot point a gateway at another identity.
 *
 * The checks are the ones the gateway applies at start: the config schema and cross-checks
 * (parseGatewayConfig), then the rule files (schema, GB/T 50493-2019 setpoint maxima, limits)
 * compiled against the config's sensor catalogue, with outputs naming its devices.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { writeFileAtomic } from '../../common/atomic-file.js';
import { compileRuleSet, formatProblem, loadRuleFiles, RuleFileError } from '../../edge/index.js';
import {
  type FleetConfigDocument,
  type FleetRuleFile,
  fleetContentHash,
} from '../../protocol/index.js';
import { ConfigError, type GatewayConfig, parseGatewayConfig } from '../config/index.js';
import { gatewaySensors } from '../diagnostics.js';
import { isTlsUrl } from '../uplink/tls.js';
import type { FleetIdentity } from './identity.js';

export interface FleetState {
  running: number | null;
  previous: number | null;
  /** Versions that were refused or rolled back here (not applied again from a retained copy). */
  failed: number[];
}

export type VersionCheck = { ok: true; config: GatewayConfig } | { ok: false; errors: string[] };

export class VersionStore {
  readonly root: string;

  constructor(dataDir: string) {
    this.root = path.join(dataDir, 'fleet');
  }

  dir(version: number): string {
    return path.join(this.root, 'versions', String(version));
  }

  state(): FleetState {
    const file = path.join(this.root, 'state.json');
    if (!existsSync(file)) return { running: null, previous: null, failed: [] };
    const saved = JSON.parse(readFileSync(file, 'utf8')) as Partial<FleetState>;
    return {
      running: saved.running ?? null,
      previous: saved.previous ?? null,
      failed: saved.failed ?? [],
    };
  }

  saveState(state: FleetState): void {
    writeFileAtomic(path.join(this.root, 'state.json'), `${JSON.stringify(state)}\n`);
  }

  /** Writes a pushed version's files (replacing an earlier copy of the same version). */
  write(document: FleetConfigDocument): string {
    const dir = this.dir(document.version);
    rmSync(dir, { recursive: true, force: true });
    writeFileAtomic(path.join(dir, 'gateway.yaml'), document.config);
    for (const rule of document.rules)
      writeFileAtomic(path.join(dir, 'rules', rule.file), rule.text);
    writeFileAtomic(path.join(dir, 'document.json'), `${JSON.stringify(document)}\n`);
    return dir;
  }

  document(version: number): FleetConfigDocument | null {
    const file = path.join(this.dir(version), 'document.json');
    if (!existsSync(file)) return null;
    return JSON.parse(readFileSync(file, 'utf8')) as FleetConfigDocument;
  }

  /** Files of a version that differ from what was pushed (edited, or missing, on the box). */
  drift(version: number): string[] {
    const document = this.document(version);
    if (!document) return [];
    const dir = this.dir(version);
    const onDisk = (file: string) => {
      try {
        return readFileSync(path.join(dir, file), 'utf8');
      } catch {
        return null;
      }
    };
    const rules: FleetRuleFile[] = document.rules.map((r) => ({
      file: r.file,
      text: onDisk(path.join('rules', r.file)) ?? '',
    }));
    const config = onDisk('gateway.yaml') ?? '';
    if (fleetContentHash(config, rules) === document.hash) return [];
    const drifted: string[] = [];
    if (config !== document.config) drifted.push('gateway.yaml');
    document.rules.forEach((r, i) => {
      if (rules[i]?.text !== r.text) drifted.push(`rules/${r.file}`);
    });
    return drifted;
  }

  /** Loads and checks a version from its folder: every problem, each with its key path. */
  check(version: number, identity: FleetIdentity): VersionCheck {
    const dir = this.dir(version);
    const file = path.join(dir, 'gateway.yaml');
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      return { ok: false, errors: [`gateway.yaml: cannot read: ${(err as Error).message}`] };
    }
    return checkVersionText(withIdentity(text, identity), file, dir);
  }
}

/**
 * Writes the enrolled identity into the config text: gateway.id, gateway.enterpriseId,
 * uplink.url, uplink.username, uplink.password, and uplink.tls when the version has none and
 * the identity carries TLS files. A YAML syntax error is left for
 * parseGatewayConfig to report with its line and column.
 */
export function withIdentity(text: string, identity: FleetIdentity): string {
  const document = parseDocument(text);
  if (document.errors.length > 0 || !document.contents) return text;
  document.setIn(['gateway', 'id'], identity.gatewayId);
  document.setIn(['gateway', 'enterpriseId'], identity.enterpriseId);
  document.setIn(['uplink', 'url'], identity.mqttUrl);
  document.setIn(['uplink', 'username'], identity.username);
  document.setIn(['uplink', 'password'], identity.password);
  // The enrolment's TLS files, unless the pushed version names its own: without the private CA
  // the uplink could not reach the broker the fleet link reaches.
  if (identity.tls && isTlsUrl(identity.mqttUrl) && !document.hasIn(['uplink', 'tls'])) {
    document.setIn(['uplink', 'tls'], { ...identity.tls });
  }
  return document.toString();
}

/** The gateway's start checks on a config text whose rule paths are relative to `baseDir`. */
export function checkVersionText(text: string, sourceName: string, baseDir: string): VersionCheck {
  let config: GatewayConfig;
  try {
    config = parseGatewayConfig(text, sourceName, { baseDir });
  } catch (err) {
    if (err instanceof ConfigError) return { ok: false, errors: [...err.lines] };
    throw err;
  }
  try {
    const ruleSet = loadRuleFiles(config.rules.files, {
      outputDevices: { ids: config.devices.map((d) => d.id) },
    });
    const sensors = gatewaySensors(config);
    compileRuleSet(ruleSet, new Map(sensors.map((s) => [s.sensorId, s])));
  } catch (err) {
    if (err instanceof RuleFileError)
      return {
        ok: false,
        errors: err.problems.map((p) => formatProblem({ ...p, file: relative(baseDir, p.file) })),
      };
    return { ok: false, errors: [`rules: ${(err as Error).message}`] };
  }
  return { ok: true, config };
}

/** Rule file names as the platform knows them (rules/<file>), not the box's absolute paths. */
function relative(baseDir: string, file: string): string {
  return path.isAbsolute(file) ? path.relative(baseDir, file) : file;
}
