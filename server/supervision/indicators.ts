/**
 * The supervision report's figures (issue 16; definitions in docs/indicators.md, supervision
 * section): hazards found, rectified, overdue and under listed supervision, by jurisdiction and
 * period, each kind (accident hazards, alarm-management and data-quality findings) apart.
 *
 * Over a period [from, to]:
 * - found: records opened in the period;
 * - rectified: records closed (verification passed) in the period; onTime: of those, closed by
 *   their deadline;
 * - open: opened by `to` and not closed by `to`;
 * - overdue: open at `to` and past their deadline at `to`;
 * - listed: open at `to` and listed (挂牌督办) by `to`; byListingLevel counts them per level.
 */
import type { Jurisdiction } from '../platform/config.js';
import type { Hazard, HazardKind } from './hazard-chain.js';

export interface HazardFigures {
  found: number;
  rectified: number;
  rectifiedOnTime: number;
  open: number;
  overdue: number;
  listed: number;
  major: number;
  byListingLevel: { county: number; city: number; province: number };
}

export interface SupervisionReport {
  from: number;
  to: number;
  total: HazardFigures;
  byKind: Record<HazardKind, HazardFigures>;
  /** By the next level below the caller's jurisdiction (province → city → county → park). */
  byRegion: { name: string; figures: HazardFigures }[];
}

const empty = (): HazardFigures => ({
  found: 0,
  rectified: 0,
  rectifiedOnTime: 0,
  open: 0,
  overdue: 0,
  listed: 0,
  major: 0,
  byListingLevel: { county: 0, city: 0, province: 0 },
});

function add(f: HazardFigures, h: Hazard, from: number, to: number): void {
  if (h.openedAt >= from && h.openedAt <= to) {
    f.found++;
    if (h.severity === 'major') f.major++;
  }
  if (h.closedAt !== null && h.closedAt >= from && h.closedAt <= to) {
    f.rectified++;
    if (h.closedAt <= h.deadline) f.rectifiedOnTime++;
  }
  const openAtTo = h.openedAt <= to && (h.closedAt === null || h.closedAt > to);
  if (!openAtTo) return;
  f.open++;
  if (h.deadline < to) f.overdue++;
  if (h.listedAt !== null && h.listedAt <= to && h.listingLevel > 0) {
    f.listed++;
    const level = (['county', 'city', 'province'] as const)[Math.min(h.listingLevel, 3) - 1];
    if (level) f.byListingLevel[level]++;
  }
}

/** The level regions are grouped by for a caller whose jurisdiction is `j`. */
export function regionLevel(j: Jurisdiction | null): keyof Jurisdiction {
  if (j?.county) return 'park';
  if (j?.city) return 'county';
  if (j?.province) return 'city';
  return 'province';
}

export function supervisionReport(
  hazards: readonly Hazard[],
  jurisdictionOf: (enterpriseId: string) => Jurisdiction,
  callerJurisdiction: Jurisdiction | null,
  from: number,
  to: number,
): SupervisionReport {
  const total = empty();
  const byKind: Record<HazardKind, HazardFigures> = {
    accident: empty(),
    'alarm-management': empty(),
    'data-quality': empty(),
  };
  const level = regionLevel(callerJurisdiction);
  const regions = new Map<string, HazardFigures>();
  for (const h of hazards) {
    add(total, h, from, to);
    add(byKind[h.kind], h, from, to);
    const name = jurisdictionOf(h.enterpriseId)[level] ?? '—';
    let f = regions.get(name);
    if (!f) {
      f = empty();
      regions.set(name, f);
    }
    add(f, h, from, to);
  }
  return {
    from,
    to,
    total,
    byKind,
    byRegion: [...regions.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, figures]) => ({ name, figures })),
  };
}
