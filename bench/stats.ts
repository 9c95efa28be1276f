/** Pure arithmetic of the benchmarks: percentiles, rates and ratios. */
/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(Math.max(rank, 1), sorted.length) - 1] as number;
}

export interface LatencySummary {
  n: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
}

const round1 = (v: number | null) => (v === null ? null : Math.round(v * 10) / 10);

export function summarizeLatencies(values: readonly number[]): LatencySummary {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    n: sorted.length,
    p50Ms: round1(percentile(sorted, 50)),
    p95Ms: round1(percentile(sorted, 95)),
    p99Ms: round1(percentile(sorted, 99)),
    maxMs: round1(sorted.length ? (sorted[sorted.length - 1] as number) : null),
  };
}

/** Events per second over an interval in milliseconds (0 when nothing happened or no time passed). */
export function ratePerSecond(count: number, elapsedMs: number): number {
  if (count <= 0 || elapsedMs <= 0) return 0;
  return Math.round((count / elapsedMs) * 1000 * 10) / 10;
}

/** value / baseline, to three decimals; null when the baseline is missing or zero. */
export function ratio(value: number, baseline: number | null | undefined): number | null {
  if (!baseline) return null;
  return Math.round((value / baseline) * 1000) / 1000;
}
