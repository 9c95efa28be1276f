/** What the API accepts: the body of `POST /sagas` (a JSON schema) and the query of `GET /sagas`. */
import { SagalineError } from '../core/errors.ts';
import { SAGA_STATUSES, type SagaStatus } from '../processors/saga/state.ts';
import type { TrainingRequestInput } from '../processors/training-requests/request.ts';
import { Step_VALUES } from '../schemas/generated.ts';

// Step names in either case, as the CLI and requestTraining take them.
const steps = [...Step_VALUES.map((s) => s.toLowerCase()), ...Step_VALUES];
const retryKeys = [...steps, ...steps.map((s) => (s === s.toLowerCase() ? `${s}_compensation` : `${s}_COMPENSATION`))];
const count = { type: 'integer', minimum: 0, maximum: 2_147_483_647 } as const;

/** The same request as `sagaline train`: what the saga trains, and the switches that simulate failures. */
export const TRAINING_REQUEST_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['tenantId', 'modelId'],
  properties: {
    tenantId: { type: 'string', minLength: 1 },
    modelId: { type: 'string', minLength: 1 },
    config: {
      type: 'object',
      additionalProperties: false,
      properties: {
        algorithm: { type: 'string', minLength: 1 },
        hyperparameters: { type: 'object', additionalProperties: { type: 'string' } },
        datasetUri: { type: 'string', minLength: 1 },
        validationSplit: { type: 'number', minimum: 0, maximum: 1 },
        resources: {
          type: 'object',
          additionalProperties: false,
          properties: { cpuCores: count, memoryGb: count, gpuCount: count, storageGb: count },
        },
      },
    },
    failAt: { type: 'string', enum: steps },
    hangAt: { type: 'string', enum: steps },
    trainingDurationMs: { type: 'integer', minimum: 0 },
    /** e.g. { "RESERVE": 2, "ALLOCATE_COMPENSATION": 9 }: the first N attempts of that step or compensation fail. */
    transientFailures: { type: 'object', propertyNames: { enum: retryKeys }, additionalProperties: count },
  },
} as const;

export type TrainingRequestBody = TrainingRequestInput;

export const DEFAULT_LIST_LIMIT = 100;
export const MAX_LIST_LIMIT = 1_000;

const invalid = (message: string) => new SagalineError('REQUEST_INVALID', message);

/** `GET /sagas?state=&limit=`: state in any case, limit 1…1000 (default 100). */
export function parseListQuery(query: Record<string, unknown>): { state?: SagaStatus; limit: number } {
  const unknown = Object.keys(query).filter((k) => k !== 'state' && k !== 'limit');
  if (unknown.length) throw invalid(`unknown query parameter ${unknown.join(', ')} (known: state, limit)`);
  let state: SagaStatus | undefined;
  if (query.state !== undefined) {
    const match = typeof query.state === 'string' ? SAGA_STATUSES.find((s) => s.toLowerCase() === (query.state as string).toLowerCase()) : undefined;
    if (!match) throw invalid(`state must be one of ${SAGA_STATUSES.join(', ')} (got ${JSON.stringify(query.state)})`);
    state = match;
  }
  let limit = DEFAULT_LIST_LIMIT;
  if (query.limit !== undefined) {
    limit = typeof query.limit === 'string' && /^\d+$/.test(query.limit) ? Number(query.limit) : NaN;
    if (!(limit >= 1 && limit <= MAX_LIST_LIMIT)) throw invalid(`limit must be an integer from 1 to ${MAX_LIST_LIMIT} (got ${JSON.stringify(query.limit)})`);
  }
  return { ...(state ? { state } : {}), limit };
}
