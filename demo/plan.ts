/**
 * The demo's batch, as pure data and pure arithmetic: which sagas are made to fail or time out, and
 * the summary (sagas per final state, per-step latency percentiles) from their final states.
 */
import type { SagaSummary } from '../processors/saga-state/queries.ts';
import { STEPS } from '../processors/saga/definition.ts';
import { SAGA_STATUSES, type SagaStatus } from '../processors/saga/state.ts';
import type { Step } from '../schemas/generated.ts';

export type Scenario =
  | { kind: 'ok' }
  | { kind: 'fail'; step: Step }
  | { kind: 'hang'; step: Step }
  | { kind: 'transient'; step: Step; failures: number };

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
export function expectedState(s: Scenario): SagaStatus {
  return s.kind === 'ok' || s.kind === 'transient' ? 'Completed' : 'Compensated';
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(Math.max(rank, 1), sorted.length) - 1] as number;
}

export interface StepLatency {
  step: Step | 'saga';
  /** Steps whose success stood (not compensated later); a step's latency is its start to its success. */
  n: number;
  p50Ms: number | null;
  p95Ms: number | null;
}

export interface DemoSummary {
  sagas: number;
  byState: Partial<Record<SagaStatus, number>>;
  steps: StepLatency[];
}

const ms = (iso: string | null) => (iso === null ? null : Date.parse(iso));

export function summarizeRun(finals: readonly SagaSummary[]): DemoSummary {
  const byState: Partial<Record<SagaStatus, number>> = {};
  for (const status of SAGA_STATUSES) {
    const n = finals.filter((s) => s.state === status).length;
    if (n > 0) byState[status] = n;
  }
  const latency = (values: number[], step: StepLatency['step']): StepLatency => {
    const sorted = [...values].sort((a, b) => a - b);
    return { step, n: sorted.length, p50Ms: percentile(sorted, 50), p95Ms: percentile(sorted, 95) };
  };
  const steps = STEPS.map(({ step }) =>
    latency(
      finals.flatMap((s) => {
        const st = s.steps.find((x) => x.name === step);
        const start = ms(st?.startedAt ?? null);
        const end = ms(st?.finishedAt ?? null);
        return st?.status === 'succeeded' && start !== null && end !== null ? [end - start] : [];
      }),
      step,
    ),
  );
  const whole = latency(
    finals.flatMap((s) => {
      const start = ms(s.startedAt);
      const end = ms(s.finishedAt);
      return s.state === 'Completed' && start !== null && end !== null ? [end - start] : [];
    }),
    'saga',
  );
  return { sagas: finals.length, byState, steps: [...steps, whole] };
}
