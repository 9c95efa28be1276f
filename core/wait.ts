import { SagalineError, TimeoutError } from './errors.ts';

export interface WaitOptions {
  timeoutMs: number;
  /** Pause between two checks of the condition. */
  intervalMs?: number;
  /** Called between checks; throwing from it aborts the wait (e.g. the process being waited on died). */
  abortIf?: () => void | Promise<void>;
}

/**
 * Waits until `check` returns a value other than `undefined`/`false` (or stops throwing), and
 * returns that value. Fails with a TimeoutError naming `condition` once the deadline passes, or at
 * once when `check` throws a non-retriable SagalineError.
 */
export async function waitFor<T>(
  condition: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  options: WaitOptions,
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  const intervalMs = options.intervalMs ?? 250;
  let lastError: unknown;
  for (;;) {
    if (options.abortIf) await options.abortIf();
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
      lastError = undefined;
    } catch (err) {
      // A non-retriable error means the condition can never hold: stop waiting.
      if (err instanceof SagalineError && !err.retriable) throw err;
      lastError = err;
    }
    if (Date.now() >= deadline) throw new TimeoutError(condition, options.timeoutMs, { cause: lastError });
    await new Promise((resolve) => setTimeout(resolve, Math.min(intervalMs, Math.max(0, deadline - Date.now()))));
  }
}
