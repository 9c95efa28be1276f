/**
 * Where an HTTP participant's service answers: a fixed mapping (from the configuration, or given),
 * and Consul's catalogue (`GET /v1/catalog/service/{name}`) for the names the mapping lacks.
 * `resolve` answers undefined for a service nobody knows — the step fails with that reason — and
 * throws a TransientError when Consul itself cannot be asked, so the step is retried.
 */
import type { Config } from '../../core/config.ts';
import { TransientError } from './participant.ts';

export interface ServiceRegistry {
  /** The service's base URL (no trailing slash), or undefined when no instance of it is known. */
  resolve(service: string): Promise<string | undefined>;
  /** Where services are looked up, for error messages. */
  readonly description: string;
}

/** A fixed mapping of service name to base URL. */
export function staticServices(services: Readonly<Record<string, string>>): ServiceRegistry {
  const known = Object.fromEntries(Object.entries(services).map(([name, url]) => [name, url.replace(/\/+$/, '')]));
  return {
    description: Object.keys(known).length ? `the configured services (${Object.keys(known).sort().join(', ')})` : 'the configured services (none: set SAGALINE_SERVICES)',
    async resolve(service) {
      return Object.hasOwn(known, service) ? known[service] : undefined;
    },
  };
}

interface CatalogEntry {
  Address?: string;
  ServiceAddress?: string;
  ServicePort?: number;
}

/** Consul's catalogue: the first registered instance of the service (its ServiceAddress, else the node's Address). */
export function consulServices(consulUrl: string, timeoutMs = 5_000): ServiceRegistry {
  const base = consulUrl.replace(/\/+$/, '');
  return {
    description: `Consul's catalogue at ${base}`,
    async resolve(service) {
      let res: Response;
      try {
        res = await fetch(`${base}/v1/catalog/service/${encodeURIComponent(service)}`, { signal: AbortSignal.timeout(timeoutMs) });
      } catch (err) {
        throw new TransientError(`Consul at ${base} did not answer for service ${service}: ${describeFetchError(err)}`, { cause: err });
      }
      if (!res.ok) throw new TransientError(`Consul at ${base} answered HTTP ${res.status} for service ${service}`);
      const entries = (await res.json().catch(() => undefined)) as CatalogEntry[] | undefined;
      if (!Array.isArray(entries)) throw new TransientError(`Consul at ${base} answered for service ${service} with something other than a list of catalogue entries`);
      const entry = entries.find((e) => (e.ServiceAddress || e.Address) && Number.isInteger(e.ServicePort));
      return entry ? `http://${entry.ServiceAddress || entry.Address}:${entry.ServicePort}` : undefined;
    },
  };
}

/** Several registries asked in turn: the first that knows the service answers. */
export function firstOf(...registries: ServiceRegistry[]): ServiceRegistry {
  return {
    description: registries.map((r) => r.description).join(', then '),
    async resolve(service) {
      for (const registry of registries) {
        const found = await registry.resolve(service);
        if (found !== undefined) return found;
      }
      return undefined;
    },
  };
}

/** The configured registry: SAGALINE_SERVICES / SAGALINE_SERVICES_FILE, then Consul when SAGALINE_CONSUL_URL is set. */
export function configuredServices(config: Pick<Config, 'http'>): ServiceRegistry {
  const fixed = staticServices(config.http.services);
  return config.http.consulUrl ? firstOf(fixed, consulServices(config.http.consulUrl)) : fixed;
}

/** `fetch failed` says little: the cause (ECONNREFUSED, a timeout) says what happened. */
export function describeFetchError(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return 'timed out';
  return e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
}
