/**
 * The demo's batch, as pure data and pure arithmetic: which sagas are made to fail or time out, and
 * the summary (sagas per final status, per-step latency percentiles) from their final states.
 */
import type { InstanceState, InstanceStatus } from '../../index.ts';
import { STEPS, type TrainingStep } from './settings.ts';

export type Scenario =
  | { kind: 'ok' }
  | { kind: 'fail'; step: TrainingStep }
  | { kind: 'hang'; step: TrainingStep }
  | { kind: 'transient'; step: TrainingStep; failures: number };

/**
 * Twenty sagas' worth of variety; a batch takes them in order and starts over after twenty. Hangs
 * use the steps with short deadlines (RESERVE 5 s, UPDATE 10 s by default), so a timeout shows
 * within the run. A transient failure within its retry limit still completes.
 */
const CYCLE: Scenario[] = [
  { kind: 'ok' },
  { kind: 'fail', step: 'ALLOCATE' },
  { kind: 'ok' },
  { kind: 'fail', step: 'TRAIN' },
  { kind: 'ok' },
  { kind: 'hang', step: 'RESERVE' },
  { kind: 'ok' },
  { kind: 'fail', step: 'UPDATE' },
  { kind: 'ok' },
  { kind: 'fail', step: 'AUDIT' },
  { kind: 'ok' },
  { kind: 'fail', step: 'RESERVE' },
  { kind: 'ok' },
  { kind: 'hang', step: 'UPDATE' },
  { kind: 'ok' },
  { kind: 'transient', step: 'RESERVE', failures: 1 },
  { kind: 'ok' },
  { kind: 'ok' },
  { kind: 'fail', step: 'TRAIN' },
  { kind: 'ok' },
];

export function demoPlan(sagas: number): Scenario[] {
  return Array.from({ length: sagas }, (_, i) => CYCLE[i % CYCLE.length] as Scenario);
}

export function describeScenario(s: Scenario): string {
  switch (s.kind) {
    case 'ok':
      return 'runs through';
    case 'fail':
      return `fails at ${s.step}`;
    case 'hang':
      return `hangs at ${s.step} (times out)`;
    case 'transient':
      return `${s.failures} transient failure(s) at ${s.step}`;
  }
}

/** What the scenario should end as, so a run can say whether it did. */
export function expectedStatus(s: Scenario): InstanceStatus {
  return s.kind === 'ok' || s.kind === 'transient' ? 'Completed' : 'Compensated';
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(Math.max(rank, 1), sorted.length) - 1] as number;
}

export interface StepLatency {
  step: TrainingStep | 'saga';
  /** Steps whose success stood (not compensated later); a step's latency is its start to its success. */
  n: number;
  p50Ms: number | null;
  p95Ms: number | null;
}

export interface DemoSummary {
  sagas: number;
  byStatus: Partial<Record<InstanceStatus, number>>;
  steps: StepLatency[];
}

const ms = (iso: string | undefined) => (iso === undefined ? null : Date.parse(iso));

export function summarizeRun(finals: readonly InstanceState[]): DemoSummary {
  const byStatus: Partial<Record<InstanceStatus, number>> = {};
  for (const s of finals) byStatus[s.status] = (byStatus[s.status] ?? 0) + 1;
  const latency = (values: number[], step: StepLatency['step']): StepLatency => {
    const sorted = [...values].sort((a, b) => a - b);
    return { step, n: sorted.length, p50Ms: percentile(sorted, 50), p95Ms: percentile(sorted, 95) };
  };
  const steps = STEPS.map((step) =>
    latency(
      finals.flatMap((s) => {
        const st = s.steps[step];
        const start = ms(st?.startedAt);
        const end = ms(st?.endedAt);
        return st?.status === 'succeeded' && start !== null && end !== null ? [end - start] : [];
      }),
      step,
    ),
  );
  const whole = latency(
    finals.flatMap((s) => {
      const start = ms(s.startedAt);
      const end = ms(s.endedAt);
      return s.status === 'Completed' && start !== null && end !== null ? [end - start] : [];
    }),
    'saga',
  );
  return { sagas: finals.length, byStatus, steps: [...steps, whole] };
}
