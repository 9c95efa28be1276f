/** What the API accepts: the body of `POST /sagas/{name}` (a JSON schema) and the query of `GET /sagas`. */
import { SagalineError } from '../core/errors.ts';
import { INSTANCE_STATUSES, type InstanceStatus } from '../processors/saga/instance.ts';

/** `POST /sagas/{name}`: the start message's payload (checked against its Avro schema), the tenant, optionally the saga id. */
export const START_BODY_SCHEMA = {
  type: 'object',
  required: ['tenantId', 'payload'],
  additionalProperties: false,
  properties: {
    tenantId: { type: 'string', minLength: 1, maxLength: 200 },
    sagaId: { type: 'string', minLength: 1, maxLength: 200 },
    payload: { type: 'object' },
  },
} as const;

export interface StartBody {
  tenantId: string;
  sagaId?: string;
  payload: unknown;
}

export interface ListQuery {
  saga?: string;
  status?: InstanceStatus;
  tenantId?: string;
  limit: number;
}

export const DEFAULT_LIST_LIMIT = 100;
export const MAX_LIST_LIMIT = 1_000;

const invalid = (message: string) => new SagalineError('REQUEST_INVALID', message);

/** `GET /sagas?saga=&status=&tenant=&limit=`: status in any case, limit 1…1000 (default 100). */
export function parseListQuery(query: Record<string, unknown>, sagaNames: readonly string[]): ListQuery {
  const known = ['saga', 'status', 'tenant', 'limit'];
  const unknown = Object.keys(query).filter((k) => !known.includes(k));
  if (unknown.length) throw invalid(`unknown query parameter ${unknown.join(', ')} (known: ${known.join(', ')})`);
  const result: ListQuery = { limit: DEFAULT_LIST_LIMIT };
  if (query.saga !== undefined) {
    if (typeof query.saga !== 'string' || !sagaNames.includes(query.saga)) throw invalid(`saga must be one of ${sagaNames.join(', ')} (got ${JSON.stringify(query.saga)})`);
    result.saga = query.saga;
  }
  if (query.status !== undefined) {
    const match = typeof query.status === 'string' ? INSTANCE_STATUSES.find((s) => s.toLowerCase() === (query.status as string).toLowerCase()) : undefined;
    if (!match) throw invalid(`status must be one of ${INSTANCE_STATUSES.join(', ')} (got ${JSON.stringify(query.status)})`);
    result.status = match;
  }
  if (query.tenant !== undefined) {
    if (typeof query.tenant !== 'string' || query.tenant === '') throw invalid(`tenant must be a non-empty string (got ${JSON.stringify(query.tenant)})`);
    result.tenantId = query.tenant;
  }
  if (query.limit !== undefined) {
    const limit = typeof query.limit === 'string' && /^\d+$/.test(query.limit) ? Number(query.limit) : NaN;
    if (!(limit >= 1 && limit <= MAX_LIST_LIMIT)) throw invalid(`limit must be an integer from 1 to ${MAX_LIST_LIMIT} (got ${JSON.stringify(query.limit)})`);
    result.limit = limit;
  }
  return result;
}
