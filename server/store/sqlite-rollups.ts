/**
 * Hourly rollups of the embedded telemetry store, so a 30-day trend of a 1 s
 * sensor (2.6 million readings) reads 720 rollup rows instead of scanning the
 * readings (issue 15: `platform.history_30d_ms_p99`, target < 200 ms).
 *
 * `rollup_hour` holds, per series and epoch-aligned UTC hour, the count, sum,
 * min and max of the readings the aggregate query counts (numeric, quality good
 * or uncertain). It is maintained in the same transaction as the readings
 * (sqlite-store.ts `insertGroup`), so it never lags and needs no watermark:
 * - rows of an insert that all went in add their values to their hour (one
 *   upsert per series and hour per group commit, not per reading);
 * - when an insert stored fewer rows than it carried (a redelivered batch: INSERT
 *   OR IGNORE skipped readings already stored), the hours of that insert are
 *   recomputed from the readings, so a reading is never counted twice;
 * - a late reading is just a reading of an older hour: it updates that hour.
 * A file written before rollups existed is backfilled once, when the table is
 * created. Retention deletes whole hours past the limit and recomputes the hour
 * the limit cuts through, so rollups and readings agree at the edge too.
 *
 * No daily table: with the 30-day retention (SAWS Order 40 art. 13) the widest
 * trend is 720 hourly rows, which SQLite sums in well under a millisecond; a
 * daily table would cost a second upsert per write for no measurable gain.
 *
 * The InfluxDB backend needs none of this: InfluxQL `GROUP BY time()` is
 * evaluated by the InfluxDB server (influx-store.ts), so only the buckets cross
 * the network. A deployment that keeps months there adds its own continuous
 * query or downsampling task; the platform reads what `/query` answers.
 */
import type { SqliteDatabase } from './sqlite.js';
import type { AggregateBucket, AggregateQuery } from './telemetry-store.js';

export const HOUR_MS = 3_600_000;

export const ROLLUP_SCHEMA = `
CREATE TABLE IF NOT EXISTS rollup_hour (
  series_id INTEGER NOT NULL,
  ts        INTEGER NOT NULL,  -- hour start, epoch ms (a multiple of 3,600,000)
  n         INTEGER NOT NULL,  -- numeric readings of quality good or uncertain
  total     REAL NOT NULL,     -- their sum
  lo        REAL NOT NULL,     -- their min
  hi        REAL NOT NULL,     -- their max
  PRIMARY KEY (series_id, ts)
) WITHOUT ROWID;
`;

/** The readings a rollup (and the aggregate query) counts. */
const COUNTED = 'value_type = 1 AND quality < 2';

const hourOf = (ts: number) => ts - (((ts % HOUR_MS) + HOUR_MS) % HOUR_MS);

interface HourDelta {
  seriesId: number;
  hour: number;
  n: number;
  total: number;
  lo: number;
  hi: number;
}

interface Sums {
  ts: number;
  total: number;
  n: number;
  lo: number;
  hi: number;
}

/**
 * Collects the rollup changes of one transaction. `add` each counted reading,
 * `insertFellShort` for the rows of an insert that stored fewer rows than it
 * carried; `apply` (still inside the transaction) writes them.
 */
export class HourDeltas {
  private readonly deltas = new Map<string, HourDelta>();
  private readonly recompute = new Map<string, { seriesId: number; hour: number }>();

  add(seriesId: number, ts: number, value: number): void {
    const hour = hourOf(ts);
    const key = `${seriesId}:${hour}`;
    const d = this.deltas.get(key);
    if (!d) this.deltas.set(key, { seriesId, hour, n: 1, total: value, lo: value, hi: value });
    else {
      d.n++;
      d.total += value;
      if (value < d.lo) d.lo = value;
      if (value > d.hi) d.hi = value;
    }
  }

  insertFellShort(rows: readonly (readonly [seriesId: number, ts: number])[]): void {
    for (const [seriesId, ts] of rows) {
      const hour = hourOf(ts);
      this.recompute.set(`${seriesId}:${hour}`, { seriesId, hour });
    }
  }

  apply(rollups: HourlyRollups): void {
    for (const [key, d] of this.deltas) {
      if (!this.recompute.has(key)) rollups.addDelta(d);
    }
    for (const { seriesId, hour } of this.recompute.values()) rollups.recomputeHour(seriesId, hour);
  }
}

/** Prepared statements over `rollup_hour`; created by the store at start. */
export class HourlyRollups {
  private readonly upsert;
  private readonly recompute;
  private readonly deleteHour;
  private readonly pruneHours;
  private readonly rollupSums;
  private readonly rawSums;

  /** Creates the table (backfilling it from the readings if it is new) and prepares statements. */
  constructor(private readonly db: SqliteDatabase) {
    const existed =
      db
        .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'rollup_hour'")
        .get() !== undefined;
    db.exec(ROLLUP_SCHEMA);
    if (!existed) {
      db.exec(
        `INSERT INTO rollup_hour (series_id, ts, n, total, lo, hi)
         SELECT series_id, ts - (ts % ${HOUR_MS}), COUNT(*), SUM(value), MIN(value), MAX(value)
         FROM readings WHERE ${COUNTED} GROUP BY series_id, ts - (ts % ${HOUR_MS})`,
      );
    }
    this.upsert = db.prepare(
      `INSERT INTO rollup_hour (series_id, ts, n, total, lo, hi) VALUES (@seriesId, @hour, @n, @total, @lo, @hi)
       ON CONFLICT (series_id, ts) DO UPDATE SET n = n + excluded.n, total = total + excluded.total,
         lo = MIN(lo, excluded.lo), hi = MAX(hi, excluded.hi)`,
    );
    this.recompute = db.prepare(
      `INSERT OR REPLACE INTO rollup_hour (series_id, ts, n, total, lo, hi)
       SELECT @seriesId, @hour, COUNT(*), SUM(value), MIN(value), MAX(value) FROM readings
       WHERE series_id = @seriesId AND ts >= @hour AND ts < @hour + ${HOUR_MS} AND ${COUNTED}
       HAVING COUNT(*) > 0`,
    );
    this.deleteHour = db.prepare('DELETE FROM rollup_hour WHERE series_id = ? AND ts = ?');
    this.pruneHours = db.prepare('DELETE FROM rollup_hour WHERE series_id = ? AND ts < ?');
    this.rollupSums = db.prepare<[AggregateQuery], Sums>(
      `SELECT (h.ts - (h.ts % @intervalMs)) AS ts, SUM(h.total) AS total, SUM(h.n) AS n,
              MIN(h.lo) AS lo, MAX(h.hi) AS hi
       FROM rollup_hour h JOIN series s USING (series_id)
       WHERE s.gateway_id = @gatewayId AND s.sensor_id = @sensorId AND h.ts BETWEEN @from AND @to
       GROUP BY 1`,
    );
    this.rawSums = db.prepare<[AggregateQuery], Sums>(
      `SELECT (r.ts - (r.ts % @intervalMs)) AS ts, SUM(r.value) AS total, COUNT(*) AS n,
              MIN(r.value) AS lo, MAX(r.value) AS hi
       FROM readings r JOIN series s USING (series_id)
       WHERE s.gateway_id = @gatewayId AND s.sensor_id = @sensorId AND r.ts BETWEEN @from AND @to
         AND r.value_type = 1 AND r.quality < 2
       GROUP BY 1`,
    );
  }

  addDelta(d: HourDelta): void {
    this.upsert.run(d);
  }

  recomputeHour(seriesId: number, hour: number): void {
    const changed = this.recompute.run({ seriesId, hour }).changes;
    if (changed === 0) this.deleteHour.run(seriesId, hour);
  }

  /** After readings before `before` were deleted: drops whole hours, recomputes the cut one. */
  pruned(seriesId: number, before: number): void {
    const cut = hourOf(before);
    this.pruneHours.run(seriesId, cut);
    if (cut !== before) this.recomputeHour(seriesId, cut);
  }

  /** Whether `aggregate` can answer from the rollups: buckets made of whole hours. */
  static covers(q: AggregateQuery): boolean {
    return q.intervalMs % HOUR_MS === 0;
  }

  /**
   * The aggregate of `q` (interval a whole number of hours): whole hours inside
   * [from, to] from the rollups, the partial hours at either end from the
   * readings, merged per bucket. Equal to the raw aggregate (means up to
   * floating-point summation order).
   */
  aggregate(q: AggregateQuery): AggregateBucket[] {
    const firstHour = Math.ceil(q.from / HOUR_MS) * HOUR_MS;
    const endHour = Math.floor((q.to + 1) / HOUR_MS) * HOUR_MS; // hours [firstHour, endHour) are whole
    const parts: Sums[][] = [];
    if (firstHour >= endHour) parts.push(this.rawSums.all(q));
    else {
      if (q.from < firstHour) parts.push(this.rawSums.all({ ...q, to: firstHour - 1 }));
      parts.push(this.rollupSums.all({ ...q, from: firstHour, to: endHour - HOUR_MS }));
      if (endHour <= q.to) parts.push(this.rawSums.all({ ...q, from: endHour }));
    }
    const merged = new Map<number, Sums>();
    for (const part of parts) {
      for (const s of part) {
        const m = merged.get(s.ts);
        if (!m) merged.set(s.ts, { ...s });
        else {
          m.total += s.total;
          m.n += s.n;
          m.lo = Math.min(m.lo, s.lo);
          m.hi = Math.max(m.hi, s.hi);
        }
      }
    }
    return [...merged.values()]
      .sort((a, b) => a.ts - b.ts)
      .map((s) => ({ ts: s.ts, mean: s.total / s.n, min: s.lo, max: s.hi, count: s.n }));
  }

  /** Row count, for tests and logs. */
  size(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM rollup_hour').get() as { n: number }).n;
  }
}
