/**
 * Registry of enterprises (with jurisdiction), their major hazard installations (inventory and
 * GB 18218-2018 grade), gateways and sensors (position, gas, range, alarm setpoints).
 *
 * Enterprises and installations come from the server config (the config is the source of truth:
 * they are upserted at every start); gateways and sensors are learnt from the gateways' birth
 * messages and alarm setpoints from alarm events, so the registry stays true to what is deployed.
 * Tables (prefix `registry_`, migration 0001) live in the platform database (server/db): every
 * node of a cluster reads and writes the same rows. Every write is an upsert keyed by the
 * natural key (`ON CONFLICT`), so two nodes noting the same gateway or alarm at once both
 * succeed and the row holds one of their values, never a duplicate or an error.
 */
import { sql } from 'kysely';
import type { SensorInfo } from '../../protocol/index.js';
import type { AlarmRecord } from '../alarms/ledger.js';
import type { EnterpriseInfo } from '../config/index.js';
import type { Database } from '../db/database.js';
import type { RegistryEnterprisesTable, RegistrySensorsTable } from '../db/schema.js';
import type { GatewayPresence } from '../gateways.js';
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

export interface RegistryOptions {
  /** The platform database, started by its owner (the central server) before `start()`. */
  database: Database;
  enterprises: readonly EnterpriseInfo[];
  installations: readonly InstallationConfig[];
}

interface InstallationRow {
  id: string;
  enterprise_id: string;
  name: string;
  people_within_500m: number;
  inventory: string;
}

function jurisdictionOf(row: RegistryEnterprisesTable): Jurisdiction {
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

function sensorFromRow(row: RegistrySensorsTable): SensorRecord {
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
 * Lifecycle: `start()` checks the database is started and upserts the configured enterprises
 * and installations (every node does at its start; the config is the source of truth);
 * `stop()` only marks it stopped (the database belongs to the server). Every method is async
 * (one statement or one short transaction).
 */
export class Registry {
  private running = false;

  constructor(private readonly options: RegistryOptions) {}

  async start(): Promise<void> {
    if (this.running) return;
    const { database, enterprises, installations } = this.options;
    if (!database.started) throw new Error('registry: the platform database is not started');
    await database.db.transaction().execute(async (trx) => {
      if (enterprises.length > 0) {
        await trx
          .insertInto('registry_enterprises')
          .values(
            enterprises.map((e) => ({
              id: e.id,
              name: e.name,
              province: e.province ?? null,
              city: e.city ?? null,
              county: e.county ?? null,
              park: e.park ?? null,
            })),
          )
          .onConflict((oc) =>
            oc.column('id').doUpdateSet((eb) => ({
              name: eb.ref('excluded.name'),
              province: eb.ref('excluded.province'),
              city: eb.ref('excluded.city'),
              county: eb.ref('excluded.county'),
              park: eb.ref('excluded.park'),
            })),
          )
          .execute();
      }
      if (installations.length > 0) {
        await trx
          .insertInto('registry_installations')
          .values(
            installations.map((i) => ({
              id: i.id,
              enterprise_id: i.enterpriseId,
              name: i.name,
              people_within_500m: i.peopleWithin500m,
              inventory: JSON.stringify(i.inventory),
            })),
          )
          .onConflict((oc) =>
            oc.column('id').doUpdateSet((eb) => ({
              enterprise_id: eb.ref('excluded.enterprise_id'),
              name: eb.ref('excluded.name'),
              people_within_500m: eb.ref('excluded.people_within_500m'),
              inventory: eb.ref('excluded.inventory'),
            })),
          )
          .execute();
      }
    });
    this.running = true;
  }

  async stop(): Promise<void> {
    this.running = false;
  }

  /**
   * Every enterprise: configured ones (in id order), and ones only heard of on MQTT (no
   * jurisdiction), after them in code-unit order.
   *
   * One statement, and no scan of the sensors: every authenticated request asks for this (the
   * auth hook's scope, then the workbench's inputs), and the sensors table holds every point of
   * every gateway (20,000 in the overview benchmark). Their distinct enterprise ids are walked
   * through the `registry_sensors_enterprise` index instead (a loose index scan: one seek per
   * enterprise, the recursive CTE below), on SQLite and PostgreSQL alike. Not cached in memory:
   * in cluster mode other nodes write these rows (their births, their config at their start)
   * and nothing cheap tells this node when (no version column; the notification bus is a live
   * feed that loses messages across a gap, so a cache kept by it could go stale). Embedded, a
   * cache would still need a check per read (PRAGMA data_version for another connection to the
   * file, a counter for this one's writers) to save what is left: about 0.5 ms a read with
   * 200 enterprises and 20,000 sensors, against 1.7 ms for the two queries this replaced.
   */
  async enterprises(): Promise<EnterpriseRecord[]> {
    const db = this.requireDb();
    const { rows } = await sql<RegistryEnterprisesTable & { heard_only: number }>`
      WITH RECURSIVE sensor_enterprises(id) AS (
        SELECT (SELECT enterprise_id FROM registry_sensors ORDER BY enterprise_id LIMIT 1)
        UNION ALL
        SELECT (
          SELECT s.enterprise_id FROM registry_sensors s
          WHERE s.enterprise_id > sensor_enterprises.id
          ORDER BY s.enterprise_id LIMIT 1
        )
        FROM sensor_enterprises WHERE sensor_enterprises.id IS NOT NULL
      )
      SELECT id, name, province, city, county, park, 0 AS heard_only FROM registry_enterprises
      UNION ALL
      SELECT heard.id, heard.id, NULL, NULL, NULL, NULL, 1 FROM (
        SELECT id FROM sensor_enterprises WHERE id IS NOT NULL
        UNION
        SELECT enterprise_id FROM registry_gateways
      ) heard
      WHERE heard.id NOT IN (SELECT id FROM registry_enterprises)
      ORDER BY heard_only, id`.execute(db);
    const known: EnterpriseRecord[] = [];
    const heard: string[] = [];
    for (const r of rows) {
      if (Number(r.heard_only) === 1) heard.push(r.id);
      else known.push({ id: r.id, name: r.name, jurisdiction: jurisdictionOf(r) });
    }
    // The SQL order of ids is the engine's collation (PostgreSQL's may be a locale's); heard
    // ids were always sorted here, in code-unit order, and still are.
    heard.sort();
    return [...known, ...heard.map((id) => ({ id, name: id, jurisdiction: {} }))];
  }

  async enterprise(id: string): Promise<EnterpriseRecord | undefined> {
    return (await this.enterprises()).find((e) => e.id === id);
  }

  async installations(enterpriseId?: string): Promise<InstallationRecord[]> {
    let query = this.requireDb().selectFrom('registry_installations').selectAll();
    if (enterpriseId !== undefined) query = query.where('enterprise_id', '=', enterpriseId);
    return (await query.orderBy('id').execute()).map(installationFromRow);
  }

  async sensors(enterpriseId?: string): Promise<SensorRecord[]> {
    let query = this.requireDb().selectFrom('registry_sensors').selectAll();
    if (enterpriseId !== undefined) query = query.where('enterprise_id', '=', enterpriseId);
    const rows = await query.orderBy('gateway_id').orderBy('sensor_id').execute();
    return rows.map(sensorFromRow);
  }

  /**
   * Learns a gateway and its sensor catalogue (from its birth message): two upserts, the
   * gateway row, then every sensor in one statement. Sensors are written in key order (and a
   * sensor id the message repeats once, its last entry winning as before), so two nodes noting
   * the same gateway lock its rows in the same order and cannot deadlock on PostgreSQL.
   *
   * Not one transaction, on purpose: this runs on every status message, from the event hub, in
   * the middle of ingest. On SQLite a transaction holds the file's write lock between its
   * statements (across microtasks), and a store still on its own connection to the same file
   * (the alarm ledger, until it moves onto server/db) that writes meanwhile stalls in the busy
   * handler and fails with "database is locked" (tests/supervision/evidence-sources.test.ts
   * met it). Each statement alone is atomic; a crash between the two leaves the gateway row
   * newer than its sensors until the next birth message, which rewrites both.
   */
  async noteGateway(gateway: GatewayPresence): Promise<void> {
    const bySensor = new Map<string, SensorInfo>();
    for (const s of gateway.sensors as readonly SensorInfo[]) bySensor.set(s.sensorId, s);
    const sensors = [...bySensor.values()].sort((a, b) =>
      a.sensorId < b.sensorId ? -1 : a.sensorId > b.sensorId ? 1 : 0,
    );
    const db = this.requireDb();
    await db
      .insertInto('registry_gateways')
      .values({
        id: gateway.gatewayId,
        enterprise_id: gateway.enterpriseId,
        software: gateway.software ?? null,
        last_seen: gateway.lastSeen,
      })
      .onConflict((oc) =>
        oc.column('id').doUpdateSet((eb) => ({
          enterprise_id: eb.ref('excluded.enterprise_id'),
          software: eb.fn.coalesce('excluded.software', 'registry_gateways.software'),
          last_seen: eb.ref('excluded.last_seen'),
        })),
      )
      .execute();
    if (sensors.length === 0) return;
    await db
      .insertInto('registry_sensors')
      .values(
        sensors.map((s) => {
          const [setpointL1, setpointL2] = birthSetpoints(s);
          return {
            gateway_id: gateway.gatewayId,
            sensor_id: s.sensorId,
            enterprise_id: gateway.enterpriseId,
            name: s.name,
            kind: s.kind,
            unit: s.unit,
            gas: s.gas ?? null,
            installation_id: s.installationId ?? null,
            location: s.location ?? null,
            range_min: s.rangeMin ?? null,
            range_max: s.rangeMax ?? null,
            setpoint_l1: setpointL1,
            setpoint_l2: setpointL2,
          };
        }),
      )
      .onConflict((oc) =>
        oc.columns(['gateway_id', 'sensor_id']).doUpdateSet((eb) => ({
          enterprise_id: eb.ref('excluded.enterprise_id'),
          name: eb.ref('excluded.name'),
          kind: eb.ref('excluded.kind'),
          unit: eb.ref('excluded.unit'),
          gas: eb.ref('excluded.gas'),
          installation_id: eb.ref('excluded.installation_id'),
          location: eb.ref('excluded.location'),
          range_min: eb.ref('excluded.range_min'),
          range_max: eb.ref('excluded.range_max'),
          // A birth that states no setpoint keeps what alarms taught before.
          setpoint_l1: eb.fn.coalesce('excluded.setpoint_l1', 'registry_sensors.setpoint_l1'),
          setpoint_l2: eb.fn.coalesce('excluded.setpoint_l2', 'registry_sensors.setpoint_l2'),
        })),
      )
      .execute();
  }

  /** Records the setpoint an alarm was raised at, per level, on its sensor. */
  async noteAlarm(alarm: AlarmRecord): Promise<void> {
    const update = this.requireDb().updateTable('registry_sensors');
    const set =
      alarm.level === 2
        ? update.set({ setpoint_l2: alarm.setpoint })
        : update.set({ setpoint_l1: alarm.setpoint });
    await set
      .where('gateway_id', '=', alarm.gatewayId)
      .where('sensor_id', '=', alarm.sensorId)
      .execute();
  }

  private requireDb() {
    if (!this.running) throw new Error('registry is not started');
    return this.options.database.db;
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
