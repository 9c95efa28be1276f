/**
 * How the HTTP API reports errors: always `{"error":{"code","message"}}`, with a status that
 * follows the error's code. Messages of our own errors name the cause; anything unexpected is
 * reported without its details (they go to the log, never to the client).
 */
import { SagalineError } from '../core/errors.ts';
import { isTransient } from '../processors/runtime/transient.ts';

export interface ErrorBody {
  error: { code: string; message: string };
}

export interface ErrorResponse {
  status: number;
  body: ErrorBody;
  /** Whether this is the server's fault (logged as an error). */
  serverFault: boolean;
}

/** The subset of an ajv error the API describes. */
export interface ValidationProblem {
  keyword: string;
  instancePath: string;
  message?: string;
  params: Record<string, unknown>;
  data?: unknown;
  /** Set when a property name (not its value) broke the rule. */
  propertyName?: string;
  parentSchema?: { properties?: Record<string, unknown> };
}

export function statusOf(err: SagalineError): number {
  if (err.code === 'REQUEST_INVALID' || err.code === 'TOKEN_INVALID') return 400;
  if (err.code === 'UNAUTHENTICATED') return 401;
  if (err.code === 'FORBIDDEN') return 403;
  if (err.code === 'TOKEN_NOT_FOUND') return 404;
  if (err.code === 'SAGA_NOT_FOUND' || err.code === 'DEAD_LETTER_NOT_FOUND' || err.code === 'PARKED_MESSAGE_NOT_FOUND') return 404;
  if (err.code === 'SAGA_ENDED' || err.code === 'ALREADY_REDRIVEN' || err.code === 'GROUPS_UNKNOWN' || err.code === 'ACTION_REFUSED') return 409;
  if (err.code === 'SAGA_ID_TAKEN') return 409;
  return err.retriable ? 503 : 500;
}

const field = (parent: string, name: string) => (parent ? `${parent}.${name}` : name);
const got = (data: unknown) => (data === undefined ? '' : ` (got ${JSON.stringify(data)})`);

/** One sentence naming the field, for the first schema violation of a request's `context` (body, querystring…). */
export function describeValidation(problems: readonly ValidationProblem[], context = 'body'): string {
  const p = problems[0];
  if (!p) return `invalid request ${context}`;
  const path = p.instancePath.split('/').filter(Boolean).join('.');
  const subject = path || context;
  switch (p.keyword) {
    case 'required':
      return `${field(path, String(p.params.missingProperty))} is required`;
    case 'additionalProperties': {
      const known = Object.keys(p.parentSchema?.properties ?? {});
      return `${field(path, String(p.params.additionalProperty))} is not a known field${known.length ? ` (known: ${known.join(', ')})` : ''}`;
    }
    case 'type': {
      const type = String(p.params.type);
      return `${subject} must be ${/^[aeiou]/.test(type) ? 'an' : 'a'} ${type}${got(p.data)}`;
    }
    case 'enum': {
      // Names are accepted in either case; list each once.
      const allowed = [...new Set((p.params.allowedValues as unknown[]).map((v) => String(v).toLowerCase()))];
      return `${subject}${p.propertyName === undefined ? '' : ' keys'} must be one of ${allowed.join(', ')}${got(p.data)}`;
    }
    case 'minLength':
      if (p.params.limit === 1) return `${subject} must not be empty`;
      return `${subject} ${p.message ?? 'is too short'}${got(p.data)}`;
    default:
      return `${subject} ${p.message ?? 'is invalid'}${got(p.data)}`;
  }
}

interface FrameworkError {
  code?: string;
  statusCode?: number;
  message: string;
  validation?: ValidationProblem[];
  validationContext?: string;
}

const invalid = (status: number, message: string): ErrorResponse => ({ status, body: { error: { code: 'REQUEST_INVALID', message } }, serverFault: false });

/** Maps anything a route or the framework throws to the response the client gets. */
export function errorResponse(err: unknown): ErrorResponse {
  if (err instanceof SagalineError) {
    const status = statusOf(err);
    return { status, body: { error: { code: err.code, message: err.message } }, serverFault: status >= 500 };
  }
  const e = (err ?? {}) as FrameworkError;
  if (e.validation) return invalid(400, describeValidation(e.validation, e.validationContext));
  switch (e.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return invalid(400, 'the request body is not valid JSON');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return invalid(400, 'the request body is empty; send a JSON object');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return invalid(415, 'unsupported content-type; send application/json');
    default:
      break;
  }
  // Text Postgres cannot store (a NUL character, in a column or in JSON it keeps): the request's to fix.
  if (e.code === '22021' || e.code === '22P05') return invalid(400, 'a value in the request contains a character Postgres cannot store (a NUL, \\u0000)');
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) return invalid(e.statusCode, e.message);
  if (isTransient(err)) {
    return { status: 503, body: { error: { code: 'UNAVAILABLE', message: 'a backing service (Postgres, Kafka or the registry) is unavailable; try again' } }, serverFault: true };
  }
  return { status: 500, body: { error: { code: 'INTERNAL', message: 'internal error; the API log has the details' } }, serverFault: true };
}
