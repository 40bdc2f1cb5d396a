/**
 * Registry of enterprises (with jurisdiction), their major hazard installations (inventory and
 * GB 18218-2018 grade), gateways and sensors (position, gas, range, alarm setpoints).
 *
 * Enterprises and installations come from the server config (the config is the source of truth:
 * they are upserted at every start); gateways and sensors are learnt from the gateways' birth
 * messages and alarm setpoints from alarm events, so the registry stays true to what is deployed.
 * Tables live in the server's SQLite file (prefix `registry_`).
 */
import type { SensorInfo } from '../../protocol/index.js';
import type { AlarmRecord } from '../alarms/ledger.js';
import type { EnterpriseInfo } from '../config/index.js';
import type { GatewayPresence } from '../gateways.js';
import { type OpenOptions, openWithSchema, type SqliteDatabase } from '../store/sqlite.js';
import type { InstallationConfig, Jurisdiction } from './config.js';
import { type GradingResult, gradeInstallation } from './grading.js';

export interface EnterpriseRecord {
  id: string;
  name: string;
  jurisdiction: Jurisdiction;
}

export interface InstallationRecord {
  id: string;
  enterpriseId: string;
  name: string;
  peopleWithin500m: number;
  inventory: InstallationConfig['inventory'];
  /** null when the inventory cannot be graded (an unknown chemical); `gradingError` says why. */
  grading: GradingResult | null;
  gradingError: string | null;
}

export interface SensorRecord {
  gatewayId: string;
  enterpriseId: string;
  sensorId: string;
  name: string;
  kind: string;
  unit: string;
  gas: string | null;
  installationId: string | null;
  location: string | null;
  rangeMin: number | null;
  rangeMax: number | null;
  /** Setpoints last seen in alarm events (GB/T 50493-2019 §5.5.3 levels). */
  setpointLevel1: number | null;
  setpointLevel2: number | null;
}

export interface RegistryOptions extends OpenOptions {
  path: string;
  enterprises: readonly EnterpriseInfo[];
  installations: readonly InstallationConfig[];
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS registry_enterprises (
  id TEXT PRIMARY KEY, name TEXT NOT NULL,
  province TEXT, city TEXT, county TEXT, park TEXT
);
CREATE TABLE IF NOT EXISTS registry_installations (
  id TEXT PRIMARY KEY, enterprise_id TEXT NOT NULL, name TEXT NOT NULL,
  people_within_500m INTEGER NOT NULL, inventory TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS registry_gateways (
  id TEXT PRIMARY KEY, enterprise_id TEXT NOT NULL, software TEXT, last_seen INTEGER
);
CREATE TABLE IF NOT EXISTS registry_sensors (
  gateway_id TEXT NOT NULL, sensor_id TEXT NOT NULL, enterprise_id TEXT NOT NULL,
  name TEXT NOT NULL, kind TEXT NOT NULL, unit TEXT NOT NULL, gas TEXT, installation_id TEXT,
  location TEXT, range_min REAL, range_max REAL, setpoint_l1 REAL, setpoint_l2 REAL,
  PRIMARY KEY (gateway_id, sensor_id)
);
CREATE INDEX IF NOT EXISTS registry_sensors_enterprise ON registry_sensors (enterprise_id);
`;

interface EnterpriseRow {
  id: string;
  name: string;
  province: string | null;
  city: string | null;
  county: string | null;
  park: string | null;
}

interface InstallationRow {
  id: string;
  enterprise_id: string;
  name: string;
  people_within_500m: number;
  inventory: string;
}

interface SensorRow {
  gateway_id: string;
  sensor_id: string;
  enterprise_id: string;
  name: string;
  kind: string;
  unit: string;
  gas: string | null;
  installation_id: string | null;
  location: string | null;
  range_min: number | null;
  range_max: number | null;
  setpoint_l1: number | null;
  setpoint_l2: number | null;
}

function jurisdictionOf(row: EnterpriseRow): Jurisdiction {
  const j: { province?: string; city?: string; county?: string; park?: string } = {};
  if (row.province) j.province = row.province;
  if (row.city) j.city = row.city;
  if (row.county) j.county = row.county;
  if (row.park) j.park = row.park;
  return j;
}

function installationFromRow(row: InstallationRow): InstallationRecord {
  const inventory = JSON.parse(row.inventory) as InstallationConfig['inventory'];
  let grading: GradingResult | null = null;
  let gradingError: string | null = null;
  try {
    grading = gradeInstallation({ inventory, peopleWithin500m: row.people_within_500m });
  } catch (err) {
    gradingError = (err as Error).message;
  }
  return {
    id: row.id,
    enterpriseId: row.enterprise_id,
    name: row.name,
    peopleWithin500m: row.people_within_500m,
    inventory,
    grading,
    gradingError,
  };
}

function sensorFromRow(row: SensorRow): SensorRecord {
  return {
    gatewayId: row.gateway_id,
    enterpriseId: row.enterprise_id,
    sensorId: row.sensor_id,
    name: row.name,
    kind: row.kind,
    unit: row.unit,
    gas: row.gas,
    installationId: row.installation_id,
    location: row.location,
    rangeMin: row.range_min,
    rangeMax: row.range_max,
    setpointLevel1: row.setpoint_l1,
    setpointLevel2: row.setpoint_l2,
  };
}

/**
 * Lifecycle: `start()` opens the tables and upserts the configured enterprises and installations;
 * `stop()` closes (safe twice). Reads are synchronous SQLite queries.
 */
export class Registry {
  private db: SqliteDatabase | null = null;

  constructor(private readonly options: RegistryOptions) {}

  async start(): Promise<void> {
    if (this.db) return;
    const db = openWithSchema(
      this.options.path,
      this.options,
      (db) => {
        db.exec(SCHEMA);
        const upsertEnterprise = db.prepare(
          `INSERT INTO registry_enterprises (id, name, province, city, county, park) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET name = excluded.name, province = excluded.province,
             city = excluded.city, county = excluded.county, park = excluded.park`,
        );
        const upsertInstallation = db.prepare(
          `INSERT INTO registry_installations (id, enterprise_id, name, people_within_500m, inventory)
           VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET enterprise_id = excluded.enterprise_id, name = excluded.name,
             people_within_500m = excluded.people_within_500m, inventory = excluded.inventory`,
        );
        db.transaction(() => {
          for (const e of this.options.enterprises) {
            upsertEnterprise.run(
              e.id,
              e.name,
              e.province ?? null,
              e.city ?? null,
              e.county ?? null,
              e.park ?? null,
            );
          }
          for (const i of this.options.installations) {
            upsertInstallation.run(
              i.id,
              i.enterpriseId,
              i.name,
              i.peopleWithin500m,
              JSON.stringify(i.inventory),
            );
          }
        })();
      },
      `the registry in '${this.options.path}'`,
    );
    this.db = db;
  }

  async stop(): Promise<void> {
    const db = this.db;
    this.db = null;
    if (db?.open) db.close();
  }

  /** Every enterprise: configured ones, and ones only heard of on MQTT (no jurisdiction). */
  enterprises(): EnterpriseRecord[] {
    const db = this.requireDb();
    const rows = db
      .prepare<[], EnterpriseRow>('SELECT * FROM registry_enterprises ORDER BY id')
      .all();
    const known = new Set(rows.map((r) => r.id));
    const heard = db
      .prepare<[], string>(
        'SELECT DISTINCT enterprise_id FROM registry_gateways UNION SELECT DISTINCT enterprise_id FROM registry_sensors',
      )
      .pluck()
      .all()
      .filter((id) => !known.has(id));
    return [
      ...rows.map((r) => ({ id: r.id, name: r.name, jurisdiction: jurisdictionOf(r) })),
      ...heard.map((id) => ({ id, name: id, jurisdiction: {} })),
    ];
  }

  enterprise(id: string): EnterpriseRecord | undefined {
    return this.enterprises().find((e) => e.id === id);
  }

  installations(enterpriseId?: string): InstallationRecord[] {
    const db = this.requireDb();
    const rows =
      enterpriseId === undefined
        ? db.prepare<[], InstallationRow>('SELECT * FROM registry_installations ORDER BY id').all()
        : db
            .prepare<[string], InstallationRow>(
              'SELECT * FROM registry_installations WHERE enterprise_id = ? ORDER BY id',
            )
            .all(enterpriseId);
    return rows.map(installationFromRow);
  }

  sensors(enterpriseId?: string): SensorRecord[] {
    const db = this.requireDb();
    const order = 'ORDER BY gateway_id, sensor_id';
    const rows =
      enterpriseId === undefined
        ? db.prepare<[], SensorRow>(`SELECT * FROM registry_sensors ${order}`).all()
        : db
            .prepare<[string], SensorRow>(
              `SELECT * FROM registry_sensors WHERE enterprise_id = ? ${order}`,
            )
            .all(enterpriseId);
    return rows.map(sensorFromRow);
  }

  /** Learns a gateway and its sensor catalogue (from its birth message). */
  noteGateway(gateway: GatewayPresence): void {
    const db = this.requireDb();
    const upsertSensor = db.prepare(
      `INSERT INTO registry_sensors (gateway_id, sensor_id, enterprise_id, name, kind, unit, gas,
         installation_id, location, range_min, range_max, setpoint_l1, setpoint_l2)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (gateway_id, sensor_id) DO UPDATE SET enterprise_id = excluded.enterprise_id,
         name = excluded.name, kind = excluded.kind, unit = excluded.unit, gas = excluded.gas,
         installation_id = excluded.installation_id, location = excluded.location,
         range_min = excluded.range_min, range_max = excluded.range_max,
         setpoint_l1 = COALESCE(excluded.setpoint_l1, setpoint_l1),
         setpoint_l2 = COALESCE(excluded.setpoint_l2, setpoint_l2)`,
    );
    db.transaction(() => {
      db.prepare(
        `INSERT INTO registry_gateways (id, enterprise_id, software, last_seen) VALUES (?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET enterprise_id = excluded.enterprise_id,
           software = COALESCE(excluded.software, software), last_seen = excluded.last_seen`,
      ).run(gateway.gatewayId, gateway.enterpriseId, gateway.software ?? null, gateway.lastSeen);
      for (const s of gateway.sensors as readonly SensorInfo[]) {
        const [setpointL1, setpointL2] = birthSetpoints(s);
        upsertSensor.run(
          gateway.gatewayId,
          s.sensorId,
          gateway.enterpriseId,
          s.name,
          s.kind,
          s.unit,
          s.gas ?? null,
          s.installationId ?? null,
          s.location ?? null,
          s.rangeMin ?? null,
          s.rangeMax ?? null,
          setpointL1,
          setpointL2,
        );
      }
    })();
  }

  /** Records the setpoint an alarm was raised at, per level, on its sensor. */
  noteAlarm(alarm: AlarmRecord): void {
    const column = alarm.level === 2 ? 'setpoint_l2' : 'setpoint_l1';
    this.requireDb()
      .prepare(`UPDATE registry_sensors SET ${column} = ? WHERE gateway_id = ? AND sensor_id = ?`)
      .run(alarm.setpoint, alarm.gatewayId, alarm.sensorId);
  }

  private requireDb(): SqliteDatabase {
    if (!this.db) throw new Error('registry is not started');
    return this.db;
  }
}

/**
 * The setpoints a birth message states for a sensor (SensorInfo.alarmLimits), as the registry's
 * two columns: for a gas detector the loosest (highest) high limit of each level, which is
 * what GB/T 50493-2019 §5.5.3 bounds; for an oxygen detector the deficiency (low) limit and the
 * enrichment (high) limit, whatever level each has (the setpoint screening tells them apart by
 * which side of 20.9 %VOL they lie). Null where the birth says nothing, so the columns keep what
 * alarms taught before.
 */
export function birthSetpoints(sensor: SensorInfo): [number | null, number | null] {
  const limits = sensor.alarmLimits ?? [];
  if (limits.length === 0) return [null, null];
  if (sensor.kind === 'oxygen') {
    const low = limits.filter((l) => l.direction === 'low').map((l) => l.setpoint);
    const high = limits.filter((l) => l.direction === 'high').map((l) => l.setpoint);
    return [low.length ? Math.min(...low) : null, high.length ? Math.max(...high) : null];
  }
  const highest = (level: 1 | 2) => {
    const values = limits
      .filter((l) => l.level === level && l.direction === 'high')
      .map((l) => l.setpoint);
    return values.length ? Math.max(...values) : null;
  };
  return [highest(1), highest(2)];
}
