import { describe, expect, it } from 'vitest';
import type { SagaSummary } from '../processors/saga-state/queries.ts';
import { demoPlan, expectedState, percentile, summarizeRun } from './plan.ts';

const iso = (ms: number) => new Date(ms).toISOString();
function saga(state: SagaSummary['state'], stepDurations: Record<string, number>, total: number): SagaSummary {
  const steps = ['RESERVE', 'ALLOCATE', 'TRAIN', 'UPDATE', 'AUDIT'].map((name) => {
    const d = stepDurations[name];
    return d === undefined
      ? { name, status: 'pending', startedAt: null, finishedAt: null, reason: null }
      : { name, status: 'succeeded', startedAt: iso(0), finishedAt: iso(d), reason: null };
  });
  return { sagaId: `s-${Math.random()}`, state, tenantId: 't', modelId: 'm', failedStep: null, reason: null, startedAt: iso(0), finishedAt: iso(total), steps };
}

describe('demo plan', () => {
  it('given 20 sagas, then most run through and the rest fail at different steps or time out', () => {
    const plan = demoPlan(20);
    expect(plan).toHaveLength(20);
    const failing = plan.filter((s) => s.kind === 'fail').map((s) => (s as { step: string }).step);
    expect(new Set(failing)).toEqual(new Set(['RESERVE', 'ALLOCATE', 'TRAIN', 'UPDATE', 'AUDIT']));
    expect(plan.filter((s) => s.kind === 'hang')).not.toHaveLength(0);
    expect(plan.filter((s) => expectedState(s) === 'Completed').length).toBeGreaterThan(10);
  });

  it('given more sagas than one cycle, then the cycle repeats', () => {
    expect(demoPlan(45).slice(20, 40)).toEqual(demoPlan(20));
  });
});

describe('demo summary', () => {
  it('uses nearest-rank percentiles', () => {
    const values = Array.from({ length: 20 }, (_, i) => i + 1);
    expect(percentile(values, 50)).toBe(10);
    expect(percentile(values, 95)).toBe(19);
    expect(percentile([7], 95)).toBe(7);
    expect(percentile([], 50)).toBeNull();
  });

  it('given final states, then it counts sagas per state and measures only steps that succeeded', () => {
    const finals = [
      saga('Completed', { RESERVE: 10, ALLOCATE: 20, TRAIN: 900, UPDATE: 30, AUDIT: 5 }, 1_000),
      saga('Completed', { RESERVE: 30, ALLOCATE: 40, TRAIN: 700, UPDATE: 10, AUDIT: 15 }, 800),
      saga('Compensated', { RESERVE: 50 }, 2_000),
    ];
    const summary = summarizeRun(finals);
    expect(summary.sagas).toBe(3);
    expect(summary.byState).toEqual({ Completed: 2, Compensated: 1 });
    expect(summary.steps.find((s) => s.step === 'RESERVE')).toEqual({ step: 'RESERVE', n: 3, p50Ms: 30, p95Ms: 50 });
    expect(summary.steps.find((s) => s.step === 'TRAIN')).toEqual({ step: 'TRAIN', n: 2, p50Ms: 700, p95Ms: 900 });
    // The whole-saga latency is measured on completed sagas only
    expect(summary.steps.find((s) => s.step === 'saga')).toEqual({ step: 'saga', n: 2, p50Ms: 800, p95Ms: 1_000 });
  });
});
