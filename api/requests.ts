/** What the API accepts: the body of `POST /sagas/{name}` (a JSON schema) and the query of `GET /sagas`. */
import { SagalineError } from '../core/errors.ts';
import { decodeCursor, isRealTime, type SagaListFilter } from '../processors/engine/saga-list.ts';
import { INSTANCE_STATUSES } from '../processors/saga/instance.ts';

/** `POST /sagas/{name}`: the start message's payload (checked against its Avro schema), the tenant, optionally the saga id. */
export const START_BODY_SCHEMA = {
  type: 'object',
  // tenantId: required unless the caller's token names the tenant (api/server.ts).
  required: ['payload'],
  additionalProperties: false,
  properties: {
    tenantId: { type: 'string', minLength: 1, maxLength: 200 },
    sagaId: { type: 'string', minLength: 1, maxLength: 200 },
    payload: { type: 'object' },
  },
} as const;

export interface StartBody {
  tenantId?: string;
  sagaId?: string;
  payload: unknown;
}

export type ListQuery = SagaListFilter & { limit: number };

export const DEFAULT_LIST_LIMIT = 100;
export const MAX_LIST_LIMIT = 1_000;

const invalid = (message: string) => new SagalineError('REQUEST_INVALID', message);

/** A time as ISO 8601 with a date and a time (`2026-12-05T10:00:00Z`, or with an offset). */
function parseTime(name: string, value: unknown): Date {
  const time = typeof value === 'string' && isRealTime(value) ? new Date(value) : undefined;
  if (!time || Number.isNaN(time.getTime())) throw invalid(`${name} must be a time in ISO 8601 with its offset, like 2026-12-05T10:00:00Z (got ${JSON.stringify(value)})`);
  return time;
}

/**
 * `GET /sagas?saga=&status=&tenant=&from=&to=&after=&limit=`: status in any case; `from` (at or
 * after) and `to` (before) bound the start time; `after` is the `next` of the page before; limit
 * 1…1000 (default 100).
 */
export function parseListQuery(query: Record<string, unknown>, sagaNames: readonly string[]): ListQuery {
  const known = ['saga', 'status', 'tenant', 'from', 'to', 'after', 'limit'];
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
  if (query.from !== undefined) result.startedFrom = parseTime('from', query.from);
  if (query.to !== undefined) result.startedBefore = parseTime('to', query.to);
  if (result.startedFrom && result.startedBefore && result.startedFrom >= result.startedBefore) {
    throw invalid(`from must be before to (got from ${query.from as string}, to ${query.to as string})`);
  }
  if (query.after !== undefined) {
    if (typeof query.after !== 'string') throw invalid('after must be given once: the "next" of the page before');
    decodeCursor(query.after);
    result.after = query.after;
  }
  if (query.limit !== undefined) {
    const limit = typeof query.limit === 'string' && /^\d+$/.test(query.limit) ? Number(query.limit) : NaN;
    if (!(limit >= 1 && limit <= MAX_LIST_LIMIT)) throw invalid(`limit must be an integer from 1 to ${MAX_LIST_LIMIT} (got ${JSON.stringify(query.limit)})`);
    result.limit = limit;
  }
  return result;
}
