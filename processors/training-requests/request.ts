/**
 * Starting a saga: a TrainingRequested written through the `sagaline` database's outbox. Checked
 * before anything is written — the model must exist for the tenant, the switches must name steps.
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { pgPool } from '../../core/clients.ts';
import { databaseUrlFor, ENGINE_DATABASE, type Config } from '../../core/config.ts';
import { SagalineError } from '../../core/errors.ts';
import { newId, newTraceparent } from '../../core/ids.ts';
import { OutboxWriter } from '../../outbox-connector/outbox-writer.ts';
import { loadContracts } from '../../schemas/contracts.ts';
import { Step_VALUES, type ResourceRequirements, type Step, type TrainingConfig } from '../../schemas/generated.ts';
import { findModel } from '../model-service/service.ts';
import { DATABASE as MODEL_DATABASE } from '../model-service/service.ts';

export class TrainingRequestError extends SagalineError {
  constructor(message: string) {
    super('REQUEST_INVALID', message);
  }
}

export interface TrainingRequestInput {
  tenantId: string;
  modelId: string;
  config?: Partial<Omit<TrainingConfig, 'simulation'>> & { resources?: Partial<ResourceRequirements> };
  failAt?: string;
  hangAt?: string;
  trainingDurationMs?: number;
  /** Transient failures to simulate, e.g. { RESERVE: 2, ALLOCATE_COMPENSATION: 9 }. */
  transientFailures?: Record<string, number>;
}

export const DEFAULT_TRAINING: Omit<TrainingConfig, 'simulation'> = { algorithm: 'xgboost', hyperparameters: {}, datasetUri: 's3://datasets/example.parquet', validationSplit: 0.2 };
export const DEFAULT_RESOURCES: ResourceRequirements = { cpuCores: 4, memoryGb: 16, gpuCount: 1, storageGb: 20 };

export function parseStep(option: string, value: string | undefined): Step | null {
  if (value === undefined) return null;
  const step = value.toUpperCase();
  if (!(Step_VALUES as readonly string[]).includes(step)) {
    throw new TrainingRequestError(`${option} must be one of ${Step_VALUES.map((s) => s.toLowerCase()).join(', ')}, got "${value}"`);
  }
  return step as Step;
}

export function parseTransientFailures(value: Record<string, number> | undefined): Record<string, number> {
  const result: Record<string, number> = {};
  for (const [key, count] of Object.entries(value ?? {})) {
    const step = key.toUpperCase();
    const base = step.replace(/_COMPENSATION$/, '');
    if (!(Step_VALUES as readonly string[]).includes(base)) {
      throw new TrainingRequestError(`transient failures: "${key}" is not a step (${Step_VALUES.join(', ')}) or <STEP>_COMPENSATION`);
    }
    if (!Number.isInteger(count) || count < 0) throw new TrainingRequestError(`transient failures: ${key} must be a non-negative integer, got ${count}`);
    result[step] = count;
  }
  return result;
}

export function readConfigFile(path: string): TrainingRequestInput['config'] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new TrainingRequestError(`cannot read --config ${path}: ${(err as Error).message}`);
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('expected a JSON object');
    return parsed as TrainingRequestInput['config'];
  } catch (err) {
    throw new TrainingRequestError(`--config ${path} is not valid: ${(err as Error).message}`);
  }
}

/** Validates, then writes TrainingRequested in one transaction; returns the new saga id. */
export async function requestTraining(config: Config, input: TrainingRequestInput, options: { writer?: OutboxWriter; now?: Date } = {}): Promise<string> {
  const failAt = parseStep('--fail-at', input.failAt);
  const hangAt = parseStep('--hang-at', input.hangAt);
  const { resources, ...training } = input.config ?? {};
  const modelPool = pgPool(config, MODEL_DATABASE, 1);
  try {
    const model = await findModel(modelPool, input.modelId);
    if (!model || model.tenantId !== input.tenantId) {
      throw new TrainingRequestError(`model ${input.modelId} is not registered for tenant ${input.tenantId} (add it with: npx sagaline model add --tenant ${input.tenantId} --model ${input.modelId})`);
    }
  } finally {
    await modelPool.end();
  }
  const sagaId = newId();
  const writer = options.writer ?? (await OutboxWriter.create(config.schemaRegistryUrl, loadContracts()));
  const message = {
    type: 'TrainingRequested' as const,
    payload: {
      sagaId,
      modelId: input.modelId,
      tenantId: input.tenantId,
      config: { ...DEFAULT_TRAINING, ...training, simulation: { failAt, hangAt, trainingDurationMs: input.trainingDurationMs ?? 1_000, transientFailures: parseTransientFailures(input.transientFailures) } },
      resources: { ...DEFAULT_RESOURCES, ...resources },
      requestedAt: (options.now ?? new Date()).getTime(),
    },
    metadata: { messageId: newId(), sagaId, tenantId: input.tenantId, correlationId: sagaId, causationId: sagaId, traceparent: newTraceparent() },
  };
  writer.validate(message); // bad input: a typed error naming the field, before anything is written
  const client = new pg.Client({ connectionString: databaseUrlFor(config, ENGINE_DATABASE) });
  await client.connect();
  try {
    await client.query('begin');
    await writer.publish(client, message);
    await client.query('commit');
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    await client.end();
  }
  return sagaId;
}
