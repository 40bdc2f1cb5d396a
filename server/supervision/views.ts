/**
 * What the API shows, for a set of enterprises (the caller's scope): data quality with its
 * outages, and the supervision report with data quality per region. Kept apart from the routes
 * so that the workbench's pages and scheduled reports can ask for the same figures.
 */
import type { Jurisdiction } from '../platform/config.js';
import { type PointQuality, pointQualities, summarise } from './data-quality.js';
import { regionLevel, supervisionReport } from './indicators.js';
import type { SupervisionService } from './service.js';
import type { OutageRecord } from './store.js';

const DAY = 24 * 60 * 60_000;

/** Points and outages of the enterprises in `visible` (null: all). */
export async function qualityInScope(
  supervision: SupervisionService,
  visible: ReadonlySet<string> | null,
  now: number,
): Promise<{ points: PointQuality[]; outages: OutageRecord[] }> {
  const ctx = await supervision.context(now);
  const detector = supervision.ruleOptions('detector-not-working');
  const points = pointQualities({
    now,
    config: supervision.config,
    tracker: supervision.tracker,
    sensors: ctx.sensors.filter((s) => visible === null || visible.has(s.enterpriseId)),
    gateways: ctx.gateways,
    offlineGateways: ctx.offlineGateways,
    outages: [],
    setpointLimits: supervision.ruleOptions('setpoint-looser-than-standard'),
    flatLineMs: typeof detector.flatLineMs === 'number' ? detector.flatLineMs : DAY,
  });
  const outages = (await supervision.store.outages(now - supervision.config.windowMs)).filter(
    (o) => visible === null || visible.has(o.enterpriseId),
  );
  return { points, outages };
}

/** The supervision report over [from, to] with data quality per region, as the API answers it. */
export async function reportInScope(
  supervision: SupervisionService,
  visible: ReadonlySet<string> | null,
  jurisdictions: ReadonlyMap<string, Jurisdiction>,
  caller: Jurisdiction | null,
  from: number,
  to: number,
) {
  const jurisdictionOf = (id: string) => jurisdictions.get(id) ?? {};
  const report = supervisionReport(
    await supervision.store.hazards(visible ?? undefined),
    jurisdictionOf,
    caller,
    from,
    to,
  );
  const { points, outages } = await qualityInScope(supervision, visible, supervision.now());
  const level = regionLevel(caller);
  const regionOf = (id: string) => jurisdictionOf(id)[level] ?? '—';
  return {
    ...report,
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
    byRegion: report.byRegion.map((r) => ({
      ...r,
      dataQuality: summarise(
        points.filter((p) => regionOf(p.enterpriseId) === r.name),
        outages.filter((o) => regionOf(o.enterpriseId) === r.name),
      ),
    })),
    dataQuality: summarise(points, outages),
  };
}
