/**
 * A training request: the start message of the saga, built from what a caller gives (defaults for
 * the rest, levers checked) and started through the engine's client. Checked before anything is
 * written: the model must be registered for the tenant, the levers must name steps.
 */
import { SagalineError, newId, type SagaClient, type SagaDefinition } from '../../index.ts';
import type pg from 'pg';
import type { ResourceRequirements, TrainingConfig, TrainingRequested } from './generated.ts';
import { findModel } from './models.ts';
import { STEPS, type TrainingStep } from './settings.ts';

export class TrainingRequestError extends SagalineError {
  constructor(message: string) {
    super('REQUEST_INVALID', message);
  }
}

export interface TrainingRequestInput {
  tenantId: string;
  modelId: string;
  config?: Partial<Omit<TrainingConfig, 'simulation'>>;
  resources?: Partial<ResourceRequirements>;
  failAt?: string;
  hangAt?: string;
  trainingDurationMs?: number;
  /** Transient failures to simulate, e.g. { RESERVE: 2, ALLOCATE_COMPENSATION: 9 }. */
  transientFailures?: Record<string, number>;
}

export const DEFAULT_TRAINING: Omit<TrainingConfig, 'simulation'> = { algorithm: 'xgboost', hyperparameters: {}, datasetUri: 's3://datasets/example.parquet', validationSplit: 0.2 };
export const DEFAULT_RESOURCES: ResourceRequirements = { cpuCores: 4, memoryGb: 16, gpuCount: 1, storageGb: 20 };

export function parseStep(option: string, value: string | undefined): TrainingStep | null {
  if (value === undefined || value === null) return null;
  const step = value.toUpperCase();
  if (!(STEPS as readonly string[]).includes(step)) throw new TrainingRequestError(`${option} must be one of ${STEPS.map((s) => s.toLowerCase()).join(', ')}, got "${value}"`);
  return step as TrainingStep;
}

export function parseTransientFailures(value: Record<string, number> | undefined): Record<string, number> {
  const result: Record<string, number> = {};
  for (const [key, count] of Object.entries(value ?? {})) {
    const step = key.toUpperCase();
    if (!(STEPS as readonly string[]).includes(step.replace(/_COMPENSATION$/, ''))) throw new TrainingRequestError(`transient failures: "${key}" is not a step (${STEPS.join(', ')}) or <STEP>_COMPENSATION`);
    if (!Number.isInteger(count) || count < 0) throw new TrainingRequestError(`transient failures: ${key} must be a non-negative integer, got ${count}`);
    result[step] = count;
  }
  return result;
}

/** The start message's payload, levers checked. Pure. */
export function trainingRequested(sagaId: string, input: TrainingRequestInput, now = new Date()): TrainingRequested {
  return {
    sagaId,
    modelId: input.modelId,
    tenantId: input.tenantId,
    config: {
      ...DEFAULT_TRAINING,
      ...input.config,
      simulation: {
        failAt: parseStep('failAt', input.failAt),
        hangAt: parseStep('hangAt', input.hangAt),
        trainingDurationMs: input.trainingDurationMs ?? 1_000,
        transientFailures: parseTransientFailures(input.transientFailures),
      },
    },
    resources: { ...DEFAULT_RESOURCES, ...input.resources },
    requestedAt: now.getTime(),
  };
}

/** Checks the request and starts the saga; returns its id. `models` is model-service's database. */
export async function requestTraining(client: SagaClient, saga: SagaDefinition, models: pg.Pool, input: TrainingRequestInput): Promise<string> {
  const sagaId = newId();
  const payload = trainingRequested(sagaId, input);
  const model = await findModel(models, input.modelId);
  if (!model || model.tenantId !== input.tenantId) throw new TrainingRequestError(`model ${input.modelId} is not registered for tenant ${input.tenantId}`);
  return client.start(saga, payload, { tenantId: input.tenantId, sagaId });
}
