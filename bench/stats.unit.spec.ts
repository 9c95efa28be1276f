import { describe, expect, it } from 'vitest';
import { percentile, ratePerSecond, ratio, summarizeLatencies } from './stats.ts';

describe('benchmark statistics', () => {
  it('takes nearest-rank percentiles of sorted values', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile(values, 100)).toBe(100);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNull();
  });

  it('summarizes unsorted latencies', () => {
    // Given latencies in arrival order, when summarized, then percentiles come from the sorted values
    expect(summarizeLatencies([30, 10, 20, 40])).toEqual({ n: 4, p50Ms: 20, p95Ms: 40, p99Ms: 40, maxMs: 40 });
    expect(summarizeLatencies([])).toEqual({ n: 0, p50Ms: null, p95Ms: null, p99Ms: null, maxMs: null });
  });

  it('computes rates per second and ratios to a baseline', () => {
    expect(ratePerSecond(5_000, 2_000)).toBe(2_500);
    expect(ratePerSecond(10, 0)).toBe(0);
    expect(ratio(250, 1_000)).toBe(0.25);
    expect(ratio(1, 3)).toBe(0.333);
    expect(ratio(5, 0)).toBeNull();
    expect(ratio(5, null)).toBeNull();
  });
});
