/**
 * A client of the HTTP API for sagas posted as data, mirroring the Fluxora design's `SagaClient`:
 * `startSaga(name, steps)` posts a saga (`POST /sagas`), `getSagaStatus(id)` reads it in the
 * design's shape (`GET /sagas/{id}`). Errors come back typed, with the API's code and message.
 */
import { SagalineError } from '../core/errors.ts';
import type { FluxoraSaga } from './fluxora-shape.ts';

/** A step in the Fluxora shape; `retry_limit`, `deadline_ms`, `timeout_ms` and `name` are optional. */
export interface FluxoraStep {
  service_name: string;
  action_endpoint: string;
  /** null: the step is not undone. */
  compensation_endpoint: string | null;
  payload?: unknown;
  name?: string;
  retry_limit?: number;
  deadline_ms?: number;
  timeout_ms?: number;
}

/** A step in the typed shape (steps by name). */
export interface TypedStep {
  service: string;
  action: string;
  compensation?: string | null;
  payload?: unknown;
  after?: string[];
  retryLimit?: number;
  deadlineMs?: number;
  timeoutMs?: number;
  pivot?: boolean;
}

/** Fluxora's list (an item that is a list is a parallel group), or the typed steps by name. */
export type PostedSteps = readonly (FluxoraStep | readonly FluxoraStep[])[] | Readonly<Record<string, TypedStep>>;

/** The API refused or failed: its HTTP status, its error code (`REQUEST_INVALID`, `SAGA_NOT_FOUND`…) and message. */
export class SagaApiError extends SagalineError {
  constructor(readonly status: number, code: string, message: string) {
    super(code, `HTTP ${status}: ${message}`, { retriable: status >= 500 });
  }
}

export interface SagaHttpClientOptions {
  /** The tenant of the sagas this client starts (default: the API's, `default`). */
  tenantId?: string;
  /** How long one request may take (default 10 s). */
  timeoutMs?: number;
  /** The API token (`sagaline tokens create`), sent as `Authorization: Bearer`; a tenant's token also names the tenant. */
  token?: string;
}

export class SagaHttpClient {
  private readonly base: string;
  constructor(baseUrl: string, private readonly options: SagaHttpClientOptions = {}) {
    this.base = baseUrl.replace(/\/+$/, '');
  }

  /** Posts a saga; resolves to `{ saga_id, state: 'STARTED' }` once its start is written. */
  async startSaga(name: string, steps: PostedSteps, options: { sagaId?: string; tenantId?: string } = {}): Promise<{ saga_id: string; state: string }> {
    const tenantId = options.tenantId ?? this.options.tenantId;
    const body = { name, steps, ...(tenantId ? { tenantId } : {}), ...(options.sagaId ? { sagaId: options.sagaId } : {}) };
    return (await this.request('POST', '/sagas', body)) as { saga_id: string; state: string };
  }

  /** The saga in the design's shape; undefined while (or if) the projection has no such saga. */
  async getSagaStatus(sagaId: string): Promise<FluxoraSaga | undefined> {
    try {
      return (await this.request('GET', `/sagas/${encodeURIComponent(sagaId)}?shape=fluxora`)) as FluxoraSaga;
    } catch (err) {
      if (err instanceof SagaApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  private async request(method: string, path: string, body?: unknown): Promise<unknown> {
    const auth: Record<string, string> = this.options.token ? { authorization: `Bearer ${this.options.token}` } : {};
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers: body === undefined ? { accept: 'application/json', ...auth } : { 'content-type': 'application/json', accept: 'application/json', ...auth },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
    });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new SagaApiError(res.status, error?.code ?? 'HTTP_ERROR', error?.message ?? (text.slice(0, 200) || res.statusText));
    }
    return parsed;
  }
}
