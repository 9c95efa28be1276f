/**
 * A participant whose steps are HTTP calls to a service that knows nothing of Kafka or sagaline: the
 * step's action is a `POST` to the service's action endpoint, its compensation a `POST` to its
 * compensation endpoint. Everything else is the engine's, as for any participant: the call runs when
 * the saga's log says so, its outcome is written through this participant's outbox (so audit, replay,
 * export, deadlines and metrics see it), retries have backoff and a limit, a message delivered twice
 * is handled once.
 *
 * What a call means:
 *   2xx                    → the step succeeded; its success message carries the status and the body
 *   4xx, or a 2xx that the step's `failure` names a failure → the step failed for a business reason
 *   5xx, connection errors, timeouts, an unknown service's registry down → transient: retried with
 *                            backoff up to the step's retry limit, then the step fails (and the saga
 *                            compensates)
 *   a service no registry knows → the step fails, naming the service
 * A compensation must succeed: anything but a 2xx is retried, and when its retries run out the engine
 * writes CompensationFailed.
 *
 * Every call carries `Idempotency-Key: <saga id>/<step>/action` (or `/compensation`), the same on
 * every retry of that call, so the service can answer a repeated call without doing the work twice;
 * plus `X-Saga-Id`, `X-Saga-Step` and `traceparent`.
 *
 * The messages of an HTTP step have fixed shapes (HTTP_MESSAGE_SHAPES; README, "Steps that are HTTP
 * calls"): their records are checked when the participant starts.
 */
import { ConfigError } from '../../core/errors.ts';
import { loadConfig, type Config } from '../../core/config.ts';
import type { SagaDefinition } from '../saga/define-saga.ts';
import type { InstanceState } from '../saga/instance.ts';
import { fail, ok, participant, TransientError, type Participant, type StepHandlers, type StepInput, type StepOutcome } from './participant.ts';
import { configuredServices, describeFetchError, type ServiceRegistry } from './service-registry.ts';
import { inSpan, SpanKind, traceparentOf } from '../../core/tracing.ts';

export interface HttpStepSpec {
  /** Path on the service (`/reservations`), or an absolute http(s) URL, POSTed to run the step. */
  action: string;
  /** Path or URL POSTed to undo the step: required exactly when the definition gives the step a compensation message. */
  compensation?: string;
  /** The JSON body of the action; default: the payload of the message that started the saga. */
  payload?(saga: InstanceState): unknown;
  /** A 2xx the service means as a business failure (a declared failure shape): return the reason; undefined: success. */
  failure?(response: { status: number; body: unknown }): string | undefined;
  /** How long one call may take (default SAGALINE_HTTP_TIMEOUT_MS, 10 s); longer counts as a transient failure. */
  timeoutMs?: number;
}

export interface HttpParticipantSpec {
  /** The database for this participant's inbox, outbox and view of the saga; default `http_<service>` (hyphens as underscores). */
  database?: string;
  /** The HTTP endpoints of every step the service owns in the saga. */
  steps: Readonly<Record<string, HttpStepSpec>>;
  /** Where the service answers; default: the configured registry (SAGALINE_SERVICES, SAGALINE_SERVICES_FILE, SAGALINE_CONSUL_URL). */
  services?: ServiceRegistry;
  /** Where those settings and the default call timeout come from; default: loadConfig(), the environment, read at the first call. */
  config?: Pick<Config, 'http'>;
}

/** The payloads an HTTP step's messages carry; their records must accept them (checked at start). */
export const HTTP_MESSAGE_SHAPES = {
  /** The step's success message and its compensation message: the answer of the call that succeeded. */
  succeeded: { status: 200, body: '{}', attempt: 1 },
  /** The step's failure message, from the service's answer… */
  failed: { reason: 'x', status: 409, body: '{}' },
  /** …or without one (retries ran out, unknown service): `status` and `body` null. */
  failedWithoutAnswer: { reason: 'x', status: null, body: null },
} as const;

export interface HttpReply {
  status: number;
  /** The response body as the service sent it (JSON text, usually). */
  body: string;
  /** Which call it was: 1, then 2, 3… after transient failures. */
  attempt: number;
}

/** The key a service deduplicates one step's action (or compensation) by: the same on every retry. */
export const idempotencyKey = (sagaId: string, step: string, call: 'action' | 'compensation'): string => `${sagaId}/${step}/${call}`;

const ENDPOINT = /^(\/[^\s]*|https?:\/\/[^\s]+)$/;

/** A participant that runs `service`'s steps of `saga` as HTTP calls; checked against the definition like any participant. */
export function httpParticipant(saga: SagaDefinition, service: string, spec: HttpParticipantSpec): Participant {
  const problems: string[] = [];
  const steps: Record<string, StepHandlers> = {};
  let config = spec.config;
  const settings = (): Pick<Config, 'http'> => (config ??= loadConfig());
  let registry = spec.services;
  const services = (): ServiceRegistry => (registry ??= configuredServices(settings()));
  const timeoutOf = (s: HttpStepSpec): number => s.timeoutMs ?? settings().http.callTimeoutMs;
  for (const [name, s] of Object.entries(spec.steps ?? {})) {
    const step = saga.steps.find((x) => x.name === name);
    if (typeof s?.action !== 'string' || !ENDPOINT.test(s.action)) problems.push(`step ${name}: action must be a path starting with / or an http(s) URL, got ${JSON.stringify(s?.action)}`);
    if (s?.compensation !== undefined && (typeof s.compensation !== 'string' || !ENDPOINT.test(s.compensation))) problems.push(`step ${name}: compensation must be a path starting with / or an http(s) URL, got ${JSON.stringify(s.compensation)}`);
    if (step && step.compensatedBy !== null && !step.forwardOnly && s?.compensation === undefined) problems.push(`step ${name}: no compensation endpoint, but the step is compensated by ${step.compensatedBy}`);
    if (s?.timeoutMs !== undefined && (!Number.isInteger(s.timeoutMs) || s.timeoutMs <= 0)) problems.push(`step ${name}: timeoutMs must be a positive number of milliseconds, got ${JSON.stringify(s.timeoutMs)}`);
    if (problems.length > 0) continue;
    steps[name] = {
      act: (input) => callAction(service, services(), s, timeoutOf(s), input),
      ...(step?.compensatedBy != null && s.compensation !== undefined ? { compensate: (input: StepInput & { result: unknown }) => callCompensation(service, services(), s, timeoutOf(s), input) } : {}),
      failurePayload: (reason) => ({ reason, status: null, body: null }),
    };
  }
  if (problems.length > 0) throw new ConfigError(`HTTP participant ${service} of ${saga.name}:\n  - ${problems.join('\n  - ')}`);
  const p = participant(saga, service, { database: spec.database ?? `http_${service.replace(/-/g, '_')}`, steps });
  const examples = new Map<string, readonly unknown[]>();
  for (const step of saga.steps.filter((x) => x.owner === service)) {
    examples.set(step.succeeded, [HTTP_MESSAGE_SHAPES.succeeded]);
    examples.set(step.failed, [HTTP_MESSAGE_SHAPES.failed, HTTP_MESSAGE_SHAPES.failedWithoutAnswer]);
    if (step.compensatedBy !== null) examples.set(step.compensatedBy, [HTTP_MESSAGE_SHAPES.succeeded]);
  }
  return Object.freeze({ ...p, replyExamples: examples, effectsOutsideTransaction: true });
}

interface Answer {
  url: string;
  status: number;
  text: string;
}

async function post(service: string, services: ServiceRegistry, endpoint: string, body: unknown, headers: Record<string, string>, timeoutMs: number): Promise<Answer | { unknown: string }> {
  let url = endpoint;
  if (endpoint.startsWith('/')) {
    const base = await services.resolve(service);
    if (base === undefined) return { unknown: `service ${service} is not known to ${services.description}` };
    url = `${base}${endpoint}`;
  }
  // The call's span (tracing on): the service gets its traceparent, so its own spans join the saga's trace.
  return inSpan(`POST ${service}`, { kind: SpanKind.CLIENT, attributes: { 'http.request.method': 'POST', 'url.full': url, 'sagaline.service': service, 'sagaline.saga_id': headers['x-saga-id'] ?? '' } }, async (span) => {
    const traceparent = traceparentOf(span, headers.traceparent ?? '');
    let res: Response;
    try {
      res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json', ...headers, ...(traceparent ? { traceparent } : {}) }, body: JSON.stringify(body ?? null), signal: AbortSignal.timeout(timeoutMs) });
    } catch (err) {
      const why = describeFetchError(err);
      throw new TransientError(`POST ${url}: ${why === 'timed out' ? `no answer within ${timeoutMs} ms` : why}`, { cause: err });
    }
    span?.setAttribute('http.response.status_code', res.status);
    return { url, status: res.status, text: await res.text().catch(() => '') };
  });
}

function headersFor(input: StepInput, call: 'action' | 'compensation'): Record<string, string> {
  const headers: Record<string, string> = {
    'idempotency-key': idempotencyKey(input.saga.sagaId, input.step, call),
    'x-saga-id': input.saga.sagaId,
    'x-saga-step': input.step,
  };
  if (input.message.metadata.traceparent) headers.traceparent = input.message.metadata.traceparent;
  return headers;
}

const excerpt = (text: string): string => (text.length > 200 ? `${text.slice(0, 200)}…` : text);

function parsed(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export async function callAction(service: string, services: ServiceRegistry, spec: HttpStepSpec, timeoutMs: number, input: StepInput): Promise<StepOutcome> {
  const payload = spec.payload ? spec.payload(input.saga) : input.saga.start.payload;
  const answer = await post(service, services, spec.action, payload, headersFor(input, 'action'), timeoutMs);
  if ('unknown' in answer) return fail(answer.unknown, { reason: answer.unknown, status: null, body: null });
  const { url, status, text } = answer;
  if (status >= 200 && status < 300) {
    const declared = spec.failure?.({ status, body: parsed(text) });
    if (declared !== undefined) return fail(declared, { reason: declared, status, body: text });
    const reply: HttpReply = { status, body: text, attempt: input.attempt };
    return ok(reply);
  }
  if (status >= 400 && status < 500) {
    const reason = `POST ${url} answered ${status}${text ? `: ${excerpt(text)}` : ''}`;
    return fail(reason, { reason, status, body: text });
  }
  throw new TransientError(`POST ${url} answered ${status}${text ? `: ${excerpt(text)}` : ''}`);
}

/** `stepId` names the step in the body (`step_id`); default `<saga id>-<step>`. */
export async function callCompensation(service: string, services: ServiceRegistry, spec: HttpStepSpec, timeoutMs: number, input: StepInput & { result: unknown }, stepId = `${input.saga.sagaId}-${input.step}`): Promise<StepOutcome> {
  const original = spec.payload ? spec.payload(input.saga) : input.saga.start.payload;
  const result = input.result as Partial<HttpReply> | undefined;
  // The design's compensation body (step_id, original_payload), with the action's answer beside it.
  const body = { step_id: stepId, original_payload: original, result: typeof result?.body === 'string' ? parsed(result.body) : null };
  const answer = await post(service, services, spec.compensation as string, body, headersFor(input, 'compensation'), timeoutMs);
  if ('unknown' in answer) throw new TransientError(answer.unknown);
  const { url, status, text } = answer;
  if (status >= 200 && status < 300) {
    const reply: HttpReply = { status, body: text, attempt: input.attempt };
    return ok(reply);
  }
  throw new TransientError(`POST ${url} answered ${status}${text ? `: ${excerpt(text)}` : ''}`);
}
