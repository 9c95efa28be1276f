/** Reading the saga-state projection: one saga, or a list by state. */
import type pg from 'pg';
import { SagalineError } from '../../core/errors.ts';
import { STEPS } from '../saga/definition.ts';
import { SAGA_STATUSES, type SagaState, type SagaStatus } from '../saga/state.ts';
import { LIVE_TABLE } from './service.ts';

export class UnknownSagaError extends SagalineError {
  constructor(sagaId: string) {
    super('SAGA_NOT_FOUND', `no saga ${sagaId} in the saga-state projection (unknown id, or not projected yet: is the saga-state processor running?)`);
  }
}

export interface SagaSummary {
  sagaId: string;
  state: SagaStatus;
  tenantId: string | null;
  modelId: string | null;
  failedStep: string | null;
  reason: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  steps: { name: string; status: string; startedAt: string | null; finishedAt: string | null; reason: string | null }[];
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function summarize(state: SagaState): SagaSummary {
  return {
    sagaId: state.sagaId,
    state: state.status,
    tenantId: state.tenantId,
    modelId: state.modelId,
    failedStep: state.failedStep,
    reason: state.reason,
    startedAt: iso(state.startedAt),
    finishedAt: iso(state.finishedAt),
    steps: STEPS.map(({ step }) => ({
      name: step,
      status: state.steps[step].status,
      startedAt: iso(state.steps[step].startedAt),
      finishedAt: iso(state.steps[step].finishedAt),
      reason: state.steps[step].reason,
    })),
  };
}

export async function getSaga(pool: pg.Pool, sagaId: string): Promise<SagaSummary> {
  const { rows } = await pool.query(`select state from ${LIVE_TABLE} where saga_id = $1`, [sagaId]).catch((err: { code?: string }) => {
    if (err.code === '42P01') return { rows: [] };
    throw err;
  });
  if (!rows[0]) throw new UnknownSagaError(sagaId);
  return summarize(rows[0].state as SagaState);
}

export function parseStatus(value: string): SagaStatus {
  const match = SAGA_STATUSES.find((s) => s.toLowerCase() === value.toLowerCase());
  if (!match) throw new SagalineError('REQUEST_INVALID', `--state must be one of ${SAGA_STATUSES.join(', ')}, got "${value}"`);
  return match;
}

export async function listSagas(pool: pg.Pool, status?: SagaStatus, limit = 1_000): Promise<SagaSummary[]> {
  const { rows } = await pool
    .query(`select state from ${LIVE_TABLE} where ($1::text is null or status = $1) and status <> 'NotStarted' order by updated_at desc limit $2`, [status ?? null, limit])
    .catch((err: { code?: string }) => {
      if (err.code === '42P01') return { rows: [] };
      throw err;
    });
  return rows.map((r) => summarize(r.state as SagaState));
}
