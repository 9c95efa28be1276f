/**
 * Sagas posted as data: a saga whose steps come with its request (`POST /sagas`, the Fluxora
 * orchestrator's shape or a typed one) instead of a definition in code, each step an HTTP call to a
 * service that knows nothing of Kafka. The request is checked before anything is written; what it
 * asks for travels in the instance's start message (`PostedSagaRequested`), so the log alone says —
 * years later — what that instance was asked to do, and every runner folds it with the definition
 * that message describes.
 *
 * All posted sagas share one saga of the engine's, `posted-sagas` (one event log, one runner, one
 * projection); its steps' messages are shared (`PostedStepSucceeded` / `Failed` / `Compensated`,
 * naming their step). The runner, `postedSagaRunner()`, is an HTTP participant that runs every step
 * of every posted saga: same calls, retries, idempotency keys and answers as `httpParticipant`.
 *
 *   export default { schemas: './schemas', sagas: [booking, postedSagas], participants: [rooms, postedSagaRunner()] };
 */
import { SagalineError } from '../../core/errors.ts';
import { loadConfig, type Config } from '../../core/config.ts';
import { defineSaga, DEFAULT_RETRY_LIMIT, DEFAULT_STEP_DEADLINE_MS, SagaDefinitionError, type DefinedStep, type SagaDefinition, type StepSpec } from '../saga/define-saga.ts';
import type { InstanceState } from '../saga/instance.ts';
import { callAction, callCompensation, HTTP_MESSAGE_SHAPES } from './http-participant.ts';
import type { Participant, StepHandlers, StepInput, StepOutcome } from './participant.ts';
import { configuredServices, type ServiceRegistry } from './service-registry.ts';

/** The engine's saga that carries every posted saga (its topic: `sagaline.posted-sagas`). */
export const POSTED_SAGA = 'posted-sagas';
/** The tenant of a posted saga whose request names none (Fluxora's requests carry no tenant). */
export const DEFAULT_POSTED_TENANT = 'default';
/** The service name of the runner. */
export const POSTED_RUNNER = 'posted-saga-runner';

export const POSTED_MESSAGES = {
  requested: 'PostedSagaRequested',
  succeeded: 'PostedStepSucceeded',
  failed: 'PostedStepFailed',
  compensated: 'PostedStepCompensated',
} as const;

/** One step as the start message records it (`PostedStep` in the engine's schemas). */
export interface PostedStep {
  name: string;
  service: string;
  action: string;
  compensation: string | null;
  /** The action's JSON body, as JSON text. */
  payload: string;
  after: string[];
  retryLimit: number;
  deadlineMs: number;
  timeoutMs: number | null;
  pivot: boolean;
}

/** The start message of a posted saga (`PostedSagaRequested`). */
export interface PostedSagaRequest {
  format: 1;
  name: string;
  steps: PostedStep[];
}

export interface RequestProblem {
  /** Where in the request body, e.g. `steps[1].action_endpoint`. */
  path: string;
  message: string;
}

/** A posted saga that cannot run: every problem, each naming where. Nothing has been written. */
export class PostedSagaError extends SagalineError {
  readonly problems: readonly RequestProblem[];
  constructor(problems: RequestProblem[]) {
    super('REQUEST_INVALID', problems.map((p) => `${p.path}: ${p.message}`).join('; '));
    this.problems = problems;
  }
}

const ENDPOINT = /^(\/[^\s]*|https?:\/\/[^\s]+)$/;
const SERVICE_NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
const STEP_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;
const MAX_STEPS = 100;
const MAX_PAYLOAD_BYTES = 256 * 1024;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const describe = (v: unknown): string => (v === undefined ? 'nothing' : JSON.stringify(v));

/**
 * Reads a posted saga in either shape — Fluxora's (`steps` a list; an item that is itself a list is
 * a parallel group) or the typed one (`steps` an object by step name, each with `after`) — and
 * checks it, short of the registry (which `checkServices` asks). Throws PostedSagaError naming every
 * problem. Pure.
 */
export function parsePostedSaga(body: unknown): PostedSagaRequest {
  const problems: RequestProblem[] = [];
  const problem = (path: string, message: string) => problems.push({ path, message });
  if (!isObject(body)) throw new PostedSagaError([{ path: 'body', message: `expected a JSON object { name, steps }, got ${describe(body)}` }]);
  const name = body.name;
  if (typeof name !== 'string' || name.trim() === '' || name.length > 200) problem('name', `expected a non-empty string of at most 200 characters, got ${describe(name)}`);
  const steps: PostedStep[] = [];
  if (Array.isArray(body.steps)) readFluxoraSteps(body.steps, steps, problem);
  else if (isObject(body.steps)) readTypedSteps(body.steps, steps, problem);
  else problem('steps', `expected a list of steps (Fluxora's shape) or an object of steps by name, got ${describe(body.steps)}`);
  if (problems.length === 0 && steps.length === 0) problem('steps', 'a saga needs at least one step');
  if (steps.length > MAX_STEPS) problem('steps', `at most ${MAX_STEPS} steps, got ${steps.length}`);
  if (problems.length > 0) throw new PostedSagaError(problems);
  const request: PostedSagaRequest = { format: 1, name: name as string, steps };
  // The graph (unknown steps in `after`, cycles, the pivot) is checked as any definition is.
  try {
    postedDefinition(request);
  } catch (err) {
    if (!(err instanceof SagaDefinitionError)) throw err;
    throw new PostedSagaError(err.problems.map((p) => ({ path: p.path, message: p.message })));
  }
  return request;
}

type Problem = (path: string, message: string) => void;

/** Fluxora's list: each item runs after the item before it; a list item is a group whose steps run in parallel. */
function readFluxoraSteps(items: unknown[], out: PostedStep[], problem: Problem): void {
  let previous: string[] = [];
  items.forEach((item, i) => {
    const group = Array.isArray(item) ? item : [item];
    if (Array.isArray(item) && item.length === 0) problem(`steps[${i}]`, 'a parallel group needs at least one step');
    const names: string[] = [];
    group.forEach((step, j) => {
      const at = Array.isArray(item) ? `steps[${i}][${j}]` : `steps[${i}]`;
      const read = readStep(step, at, `step_${out.length}`, problem, {
        service: 'service_name',
        action: 'action_endpoint',
        compensation: 'compensation_endpoint',
        retryLimit: 'retry_limit',
        deadlineMs: 'deadline_ms',
        timeoutMs: 'timeout_ms',
      });
      if (!read) return;
      out.push({ ...read, after: [...previous] });
      names.push(read.name);
    });
    previous = names;
  });
}

/** The typed shape: steps by name, each with `after` (default: none, so it runs at the start). */
function readTypedSteps(items: Record<string, unknown>, out: PostedStep[], problem: Problem): void {
  for (const [name, step] of Object.entries(items)) {
    const at = `steps.${name}`;
    const read = readStep(isObject(step) ? { ...step, name } : step, at, name, problem, {
      service: 'service',
      action: 'action',
      compensation: 'compensation',
      retryLimit: 'retryLimit',
      deadlineMs: 'deadlineMs',
      timeoutMs: 'timeoutMs',
    });
    if (!read) continue;
    const after = (step as { after?: unknown }).after;
    if (after !== undefined && !(Array.isArray(after) && after.every((a) => typeof a === 'string'))) problem(`${at}.after`, `expected a list of step names, got ${describe(after)}`);
    const pivot = (step as { pivot?: unknown }).pivot;
    if (pivot !== undefined && typeof pivot !== 'boolean') problem(`${at}.pivot`, `expected true or false, got ${describe(pivot)}`);
    out.push({ ...read, after: Array.isArray(after) ? (after as string[]) : [], pivot: pivot === true });
  }
}

interface FieldNames {
  service: string;
  action: string;
  compensation: string;
  retryLimit: string;
  deadlineMs: string;
  timeoutMs: string;
}

function readStep(step: unknown, at: string, defaultName: string, problem: Problem, f: FieldNames): Omit<PostedStep, 'after'> | undefined {
  if (!isObject(step)) {
    problem(at, `expected a step object { ${f.service}, ${f.action}, ${f.compensation}, payload }, got ${describe(step)}`);
    return undefined;
  }
  let ok = true;
  const bad = (field: string, message: string) => {
    ok = false;
    problem(`${at}.${field}`, message);
  };
  const name = step.name ?? defaultName;
  if (typeof name !== 'string' || !STEP_NAME.test(name)) bad('name', `a step name is a letter followed by letters, digits or underscores, got ${describe(name)}`);
  const service = step[f.service];
  if (typeof service !== 'string' || !SERVICE_NAME.test(service)) bad(f.service, `expected a service name in lower-case words joined by hyphens, got ${describe(service)}`);
  const action = step[f.action];
  if (typeof action !== 'string' || !ENDPOINT.test(action)) bad(f.action, `expected a path starting with / or an http(s) URL, got ${describe(action)}`);
  const compensation = step[f.compensation];
  if (!(f.compensation in step) && f.compensation === 'compensation_endpoint') bad(f.compensation, 'missing: give the path that undoes the step, or null when it cannot be undone');
  else if (compensation !== undefined && compensation !== null && (typeof compensation !== 'string' || !ENDPOINT.test(compensation))) bad(f.compensation, `expected a path starting with / or an http(s) URL, or null, got ${describe(compensation)}`);
  const payloadText = step.payload === undefined ? 'null' : JSON.stringify(step.payload);
  if (payloadText.length > MAX_PAYLOAD_BYTES) bad('payload', `at most ${MAX_PAYLOAD_BYTES} bytes of JSON, got ${payloadText.length}`);
  const integer = (field: string, min: number, fallback: number | null): number | null => {
    const v = step[field];
    if (v === undefined || v === null) return fallback;
    if (!Number.isInteger(v) || (v as number) < min || (v as number) > 2_147_483_647) {
      bad(field, `expected a whole number from ${min}, got ${describe(v)}`);
      return fallback;
    }
    return v as number;
  };
  const retryLimit = integer(f.retryLimit, 0, DEFAULT_RETRY_LIMIT) as number;
  const deadlineMs = integer(f.deadlineMs, 1, DEFAULT_STEP_DEADLINE_MS) as number;
  const timeoutMs = integer(f.timeoutMs, 1, null);
  if (!ok) return undefined;
  return { name: name as string, service: service as string, action: action as string, compensation: (compensation as string | null | undefined) ?? null, payload: payloadText, retryLimit, deadlineMs, timeoutMs, pivot: false };
}

/** The definition a posted saga's start message describes; throws SagaDefinitionError when it describes none. Pure. */
export function postedDefinition(request: unknown): SagaDefinition {
  const r = request as Partial<PostedSagaRequest> | undefined;
  if (!r || !Array.isArray(r.steps)) throw new SagaDefinitionError(POSTED_SAGA, [{ code: 'NO_STEPS', path: 'steps', message: 'the start message lists no steps' }]);
  const steps: Record<string, StepSpec> = {};
  for (const s of r.steps) {
    steps[s.name] = {
      owner: s.service,
      succeeded: POSTED_MESSAGES.succeeded,
      failed: POSTED_MESSAGES.failed,
      ...(s.compensation !== null && !s.pivot ? { compensatedBy: POSTED_MESSAGES.compensated } : {}),
      after: s.after,
      retry: { limit: s.retryLimit },
      deadlineMs: s.deadlineMs,
      ...(s.pivot ? { pivot: true } : {}),
    };
  }
  if (Object.keys(steps).length !== r.steps.length) {
    const seen = new Set<string>();
    const twice = r.steps.find((s) => seen.size === seen.add(s.name).size);
    throw new SagaDefinitionError(POSTED_SAGA, [{ code: 'INVALID_STEP', path: `steps.${twice?.name}`, message: `two steps are named ${twice?.name}` }]);
  }
  return defineSaga({ name: POSTED_SAGA, version: 1, startedBy: POSTED_MESSAGES.requested, steps, stepMessages: { succeeded: POSTED_MESSAGES.succeeded, failed: POSTED_MESSAGES.failed, compensated: POSTED_MESSAGES.compensated } });
}

/**
 * The engine's saga of posted sagas: put it in a config module's `sagas` (and `postedSagaRunner()`
 * in its `participants`) to accept `POST /sagas`. It has no steps of its own: each instance runs
 * the steps its start message lists.
 */
export const postedSagas: SagaDefinition = Object.freeze({
  name: POSTED_SAGA,
  version: 1,
  startedBy: POSTED_MESSAGES.requested,
  steps: Object.freeze([]),
  pivot: null,
  services: Object.freeze([POSTED_RUNNER]),
  messages: new Map([[POSTED_MESSAGES.requested, { kind: 'start' as const }]]),
  stepMessages: Object.freeze({ succeeded: POSTED_MESSAGES.succeeded, failed: POSTED_MESSAGES.failed, compensated: POSTED_MESSAGES.compensated }),
  perInstance: postedDefinition,
});

/** Services of the request that the registry does not know (asked once each); a registry that cannot answer throws a TransientError. */
export async function unknownServices(request: PostedSagaRequest, services: ServiceRegistry): Promise<RequestProblem[]> {
  const problems: RequestProblem[] = [];
  for (const service of new Set(request.steps.map((s) => s.service))) {
    if ((await services.resolve(service)) === undefined) problems.push({ path: `service ${service}`, message: `not known to ${services.description}` });
  }
  return problems;
}

export interface PostedRunnerOptions {
  /** Default `sagaline_posted`. */
  database?: string;
  /** Where the services answer; default: the configured registry (SAGALINE_SERVICES, SAGALINE_SERVICES_FILE, SAGALINE_CONSUL_URL). */
  services?: ServiceRegistry;
  config?: Pick<Config, 'http'>;
}

const stepOfRequest = (saga: InstanceState, step: string): PostedStep | undefined => (saga.start.payload as PostedSagaRequest | undefined)?.steps?.find((s) => s.name === step);

function parsedPayload(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The outcome with the step named in its payload, as the shared step messages carry it. */
const naming = (step: string, outcome: StepOutcome): StepOutcome => ({ ...outcome, payload: { step, ...(outcome.payload as object) } });

/**
 * The participant that runs every step of every posted saga as an HTTP call: the action's body is
 * the step's `payload`; the compensation's `{ step_id, original_payload, result }`, `step_id` being
 * the step's id in `GET /sagas/{id}` (`<saga id>-step-<i>`).
 */
export function postedSagaRunner(options: PostedRunnerOptions = {}): Participant {
  let config = options.config;
  const settings = (): Pick<Config, 'http'> => (config ??= loadConfig());
  let registry = options.services;
  const services = (): ServiceRegistry => (registry ??= configuredServices(settings()));
  const specOf = (input: StepInput) => {
    const posted = stepOfRequest(input.saga, input.step);
    if (!posted) throw new SagalineError('POSTED_STEP_UNKNOWN', `saga ${input.saga.sagaId} lists no step ${input.step}`);
    const spec = { action: posted.action, ...(posted.compensation ? { compensation: posted.compensation } : {}), payload: () => parsedPayload(posted.payload) };
    return { posted, spec, timeoutMs: posted.timeoutMs ?? settings().http.callTimeoutMs };
  };
  const act: StepHandlers['act'] = async (input) => {
    const { posted, spec, timeoutMs } = specOf(input);
    return naming(input.step, await callAction(posted.service, services(), spec, timeoutMs, input));
  };
  const compensate: NonNullable<StepHandlers['compensate']> = async (input) => {
    const { posted, spec, timeoutMs } = specOf(input);
    const index = (input.saga.start.payload as PostedSagaRequest).steps.findIndex((s) => s.name === input.step);
    return naming(input.step, await callCompensation(posted.service, services(), spec, timeoutMs, input, `${input.saga.sagaId}-step-${index}`));
  };
  const step = 'step_0';
  return Object.freeze({
    saga: postedSagas,
    service: POSTED_RUNNER,
    database: options.database ?? 'sagaline_posted',
    ddl: [],
    steps: {},
    runsEveryStep: true,
    effectsOutsideTransaction: true,
    handlersFor: (s: DefinedStep): StepHandlers => ({
      act,
      ...(s.compensatedBy !== null && !s.forwardOnly ? { compensate } : {}),
      // The engine writes a failure itself when retries run out: it names the step too.
      failurePayload: (reason: string) => ({ step: s.name, reason, status: null, body: null }),
    }),
    replyExamples: new Map<string, readonly unknown[]>([
      [POSTED_MESSAGES.succeeded, [{ step, ...HTTP_MESSAGE_SHAPES.succeeded }]],
      [POSTED_MESSAGES.failed, [{ step, ...HTTP_MESSAGE_SHAPES.failed }, { step, ...HTTP_MESSAGE_SHAPES.failedWithoutAnswer }]],
      [POSTED_MESSAGES.compensated, [{ step, ...HTTP_MESSAGE_SHAPES.succeeded }]],
    ]),
  });
}

/** The name a posted saga's requester gave it (its definition's name is always `posted-sagas`). */
export function postedName(state: InstanceState): string | undefined {
  const name = (state.start.payload as Partial<PostedSagaRequest> | undefined)?.name;
  return typeof name === 'string' ? name : undefined;
}
