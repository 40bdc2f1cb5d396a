/** One benchmark result line: `{"metric": "...", "value": n, "unit": "...", ...context}`. */
export interface Metric {
  metric: string;
  value: number;
  unit: string;
  [context: string]: unknown;
}

/**
 * A benchmark: a named async generator of metrics. Benchmarks start the real
 * parts they measure (simulators, broker, server) and stop them before returning.
 */
export interface Benchmark {
  name: string;
  run(): AsyncIterable<Metric>;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
