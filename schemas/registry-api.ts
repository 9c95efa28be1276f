/**
 * The few Confluent-compatible registry calls where we must tell "not there" (404) from a failure;
 * the client library folds 404s into an error without a status.
 */
import { SagalineError } from '../core/errors.ts';

const JSON_TYPE = 'application/vnd.schemaregistry.v1+json';

export class RegistryError extends SagalineError {
  constructor(message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super('REGISTRY_FAILED', message, options);
  }
}

async function call(registryUrl: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  let res: Response;
  try {
    res = await fetch(`${registryUrl}${path}`, {
      method,
      headers: { 'content-type': JSON_TYPE, accept: JSON_TYPE },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    throw new RegistryError(`schema registry at ${registryUrl} is unreachable: ${(err as Error).message}`, { retriable: true, cause: err });
  }
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    json = { message: text };
  }
  if (res.status >= 500) throw new RegistryError(`schema registry ${method} ${path}: HTTP ${res.status} ${String(json.message ?? '')}`, { retriable: true });
  return { status: res.status, json };
}

/** The id under which `schema` is registered in `subject`, or undefined when it is not. */
export async function lookupSchemaId(registryUrl: string, subject: string, schema: string): Promise<number | undefined> {
  const { status, json } = await call(registryUrl, 'POST', `/subjects/${encodeURIComponent(subject)}`, { schema });
  if (status === 404) return undefined;
  if (status !== 200) throw new RegistryError(`looking up schema in ${subject}: HTTP ${status} ${String(json.message ?? '')}`);
  return Number(json.id);
}

/** The latest version registered under `subject`, or undefined when the subject does not exist. */
export async function latestSchema(registryUrl: string, subject: string): Promise<{ id: number; schema: string } | undefined> {
  const { status, json } = await call(registryUrl, 'GET', `/subjects/${encodeURIComponent(subject)}/versions/latest`);
  if (status === 404) return undefined;
  if (status !== 200) throw new RegistryError(`latest version of ${subject}: HTTP ${status} ${String(json.message ?? '')}`);
  return { id: Number(json.id), schema: String(json.schema) };
}

export async function setCompatibility(registryUrl: string, subject: string, compatibility: string): Promise<void> {
  const { status, json } = await call(registryUrl, 'PUT', `/config/${encodeURIComponent(subject)}`, { compatibility });
  if (status !== 200) throw new RegistryError(`setting ${compatibility} compatibility on ${subject}: HTTP ${status} ${String(json.message ?? '')}`);
}

/** Registers `schema` in `subject`; a 409 comes back as `{ conflict }` with the registry's reason. */
export async function registerSchema(registryUrl: string, subject: string, schema: string): Promise<{ id: number } | { conflict: string }> {
  const { status, json } = await call(registryUrl, 'POST', `/subjects/${encodeURIComponent(subject)}/versions`, { schema });
  if (status === 409) return { conflict: String(json.message ?? 'incompatible') };
  if (status !== 200) throw new RegistryError(`registering schema in ${subject}: HTTP ${status} ${String(json.message ?? '')}`);
  return { id: Number(json.id) };
}
