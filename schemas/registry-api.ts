/**
 * The few Confluent-compatible registry calls where we must tell "not there" (404) from a failure;
 * the client library folds 404s into an error without a status.
 */
import { readFileSync } from 'node:fs';
import { Agent, fetch, type Dispatcher } from 'undici';
import { DEFAULTS, type RegistryEndpoint } from '../core/config.ts';
import { SagalineError } from '../core/errors.ts';

const JSON_TYPE = 'application/vnd.schemaregistry.v1+json';

export class RegistryError extends SagalineError {
  constructor(message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super('REGISTRY_FAILED', message, options);
  }
}

/** One connection pool per trusted CA file (a registry over https with a CA of its own). */
const dispatchers = new Map<string, Dispatcher>();
function dispatcherFor(caFile: string): Dispatcher {
  let dispatcher = dispatchers.get(caFile);
  if (!dispatcher) {
    dispatcher = new Agent({ connect: { ca: readFileSync(caFile, 'utf8') } });
    dispatchers.set(caFile, dispatcher);
  }
  return dispatcher;
}

/**
 * An HTTP request to the registry with its basic-auth credentials and trusted CA (a plain URL:
 * neither). A 401 or 403 is an error naming the credentials, never retried.
 */
export async function registryRequest(
  registry: RegistryEndpoint | string,
  method: string,
  path: string,
  options: { body?: string; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<{ status: number; text: string }> {
  const endpoint = typeof registry === 'string' ? { url: registry } : registry;
  const auth = endpoint.username === undefined ? {} : { authorization: `Basic ${Buffer.from(`${endpoint.username}:${endpoint.password ?? ''}`).toString('base64')}` };
  let status: number;
  let text: string;
  try {
    const res = await fetch(`${endpoint.url}${path}`, {
      method,
      headers: { ...options.headers, ...auth },
      ...(options.body === undefined ? {} : { body: options.body }),
      signal: AbortSignal.timeout(options.timeoutMs ?? endpoint.timeoutMs ?? DEFAULTS.registryTimeoutMs),
      ...(endpoint.caFile ? { dispatcher: dispatcherFor(endpoint.caFile) } : {}),
    });
    status = res.status;
    text = await res.text();
  } catch (err) {
    const cause = (err as Error & { cause?: Error }).cause;
    throw new RegistryError(`schema registry at ${endpoint.url} is unreachable: ${(err as Error).message}${cause ? ` (${cause.message})` : ''}`, { retriable: true, cause: err });
  }
  if (status === 401 || status === 403) {
    throw new RegistryError(
      `schema registry at ${endpoint.url} refused the request (HTTP ${status}): ${endpoint.username === undefined ? 'it needs credentials; set SAGALINE_REGISTRY_USERNAME and SAGALINE_REGISTRY_PASSWORD' : `check the credentials of ${endpoint.username}`}`,
    );
  }
  return { status, text };
}

async function call(registry: RegistryEndpoint | string, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const { status, text } = await registryRequest(registry, method, path, {
    headers: { 'content-type': JSON_TYPE, accept: JSON_TYPE },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  let json: Record<string, unknown> = {};
  try {
    json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    json = { message: text };
  }
  if (status >= 500) throw new RegistryError(`schema registry ${method} ${path}: HTTP ${status} ${String(json.message ?? '')}`, { retriable: true });
  return { status, json };
}

/** The id under which `schema` is registered in `subject`, or undefined when it is not. */
export async function lookupSchemaId(registry: RegistryEndpoint | string, subject: string, schema: string): Promise<number | undefined> {
  const { status, json } = await call(registry, 'POST', `/subjects/${encodeURIComponent(subject)}`, { schema });
  if (status === 404) return undefined;
  if (status !== 200) throw new RegistryError(`looking up schema in ${subject}: HTTP ${status} ${String(json.message ?? '')}`);
  return Number(json.id);
}

/** The latest version registered under `subject`, or undefined when the subject does not exist. */
export async function latestSchema(registry: RegistryEndpoint | string, subject: string): Promise<{ id: number; schema: string } | undefined> {
  const { status, json } = await call(registry, 'GET', `/subjects/${encodeURIComponent(subject)}/versions/latest`);
  if (status === 404) return undefined;
  if (status !== 200) throw new RegistryError(`latest version of ${subject}: HTTP ${status} ${String(json.message ?? '')}`);
  return { id: Number(json.id), schema: String(json.schema) };
}

export async function setCompatibility(registry: RegistryEndpoint | string, subject: string, compatibility: string): Promise<void> {
  const { status, json } = await call(registry, 'PUT', `/config/${encodeURIComponent(subject)}`, { compatibility });
  if (status !== 200) throw new RegistryError(`setting ${compatibility} compatibility on ${subject}: HTTP ${status} ${String(json.message ?? '')}`);
}

/** Registers `schema` in `subject`; a 409 comes back as `{ conflict }` with the registry's reason. */
export async function registerSchema(registry: RegistryEndpoint | string, subject: string, schema: string): Promise<{ id: number } | { conflict: string }> {
  const { status, json } = await call(registry, 'POST', `/subjects/${encodeURIComponent(subject)}/versions`, { schema });
  if (status === 409) return { conflict: String(json.message ?? 'incompatible') };
  if (status !== 200) throw new RegistryError(`registering schema in ${subject}: HTTP ${status} ${String(json.message ?? '')}`);
  return { id: Number(json.id) };
}
