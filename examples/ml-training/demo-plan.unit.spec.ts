import { describe, expect, it } from 'vitest';
import type { InstanceState } from '../../index.ts';
import { demoPlan, expectedStatus, percentile, summarizeRun } from './demo-plan.ts';

const iso = (ms: number) => new Date(ms).toISOString();
function instance(status: InstanceState['status'], durations: Record<string, number>, total: number): InstanceState {
  const steps = Object.fromEntries(['RESERVE', 'ALLOCATE', 'TRAIN', 'UPDATE', 'AUDIT'].map((name) => {
    const d = durations[name];
    return [name, d === undefined ? { status: 'pending', attempts: 0 } : { status: 'succeeded', attempts: 1, startedAt: iso(0), endedAt: iso(d) }];
  }));
  return { sagaId: `s-${total}`, saga: 'model-training', version: 1, status, steps, succeededInOrder: [], start: { type: 'TrainingRequested', payload: {} }, startedAt: iso(0), ...(status === 'Running' ? {} : { endedAt: iso(total) }) } as unknown as InstanceState;
}

describe('demo plan', () => {
  it('given 20 sagas, then most run through and the rest fail at different steps or time out', () => {
    const plan = demoPlan(20);
    expect(plan).toHaveLength(20);
    const failing = plan.filter((s) => s.kind === 'fail').map((s) => (s as { step: string }).step);
    expect(new Set(failing)).toEqual(new Set(['RESERVE', 'ALLOCATE', 'TRAIN', 'UPDATE', 'AUDIT']));
    expect(plan.filter((s) => s.kind === 'hang')).not.toHaveLength(0);
    expect(plan.filter((s) => expectedStatus(s) === 'Completed').length).toBeGreaterThan(10);
  });

  it('given more sagas than one cycle, then the cycle repeats', () => {
    expect(demoPlan(45).slice(20, 40)).toEqual(demoPlan(20));
  });

  it('given sorted values, then the nearest-rank percentile', () => {
    expect(percentile([], 50)).toBeNull();
    expect(percentile([10, 20, 30, 40], 50)).toBe(20);
    expect(percentile([10, 20, 30, 40], 95)).toBe(40);
  });

  it('given finished instances, then counts per status and latency of the successes that stood', () => {
    const summary = summarizeRun([
      instance('Completed', { RESERVE: 10, ALLOCATE: 20, TRAIN: 300, UPDATE: 15, AUDIT: 5 }, 400),
      instance('Completed', { RESERVE: 30, ALLOCATE: 20, TRAIN: 500, UPDATE: 15, AUDIT: 5 }, 600),
      instance('Compensated', {}, 50),
    ]);
    expect(summary.byStatus).toEqual({ Completed: 2, Compensated: 1 });
    expect(summary.steps[0]).toEqual({ step: 'RESERVE', n: 2, p50Ms: 10, p95Ms: 30 });
    expect(summary.steps.at(-1)).toEqual({ step: 'saga', n: 2, p50Ms: 400, p95Ms: 600 });
  });
});
