/**
 * Retrying transient failures: exponential backoff with full jitter. Which errors are transient is
 * decided here, once: Postgres serialization failures and deadlocks, lost connections, and our own
 * errors marked retriable. Programming errors and business rejections are never retried.
 */
import { SagalineError } from '../../core/errors.ts';

const TRANSIENT_PG_CODES = new Set(['40001', '40P01', '57P01', '57P02', '57P03', '08000', '08003', '08006', '53300']);

export function isTransient(err: unknown): boolean {
  if (err instanceof SagalineError) return err.retriable;
  // The same error class loaded twice (a project's config importing the built package while the CLI runs
  // the sources) is not `instanceof` the other: its shape says the same.
  if (isSagalineShaped(err)) return err.retriable;
  const code = (err as { code?: string }).code;
  if (code && TRANSIENT_PG_CODES.has(code)) return true;
  return code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'ETIMEDOUT' || /Connection terminated/i.test(String((err as Error).message));
}

function isSagalineShaped(err: unknown): err is { retriable: boolean } {
  const e = err as { retriable?: unknown; code?: unknown } | null;
  return err instanceof Error && typeof e?.retriable === 'boolean' && typeof e?.code === 'string';
}

/** Backoff before attempt `attempt` (1-based): random in [0, min(cap, base·2^(attempt-1))]. */
export function backoffMs(attempt: number, random: () => number, baseMs = 100, capMs = 5_000): number {
  return Math.floor(random() * Math.min(capMs, baseMs * 2 ** (attempt - 1)));
}

export async function withRetries<T>(what: string, attempts: number, work: () => Promise<T>, onRetry?: (err: unknown, attempt: number, delayMs: number) => void): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (err) {
      if (!isTransient(err) || attempt >= attempts) throw err;
      const delay = backoffMs(attempt, Math.random);
      onRetry?.(err, attempt, delay);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
