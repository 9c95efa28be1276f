/** A background round that repeats every `intervalMs` until stopped (durable timers, due jobs, retries). */
import type { Logger } from './log.ts';

export interface Poller {
  stop(): Promise<void>;
}

export function startPoller(what: string, intervalMs: number, log: Logger, round: () => Promise<unknown>): Poller {
  let running = true;
  let wake: (() => void) | undefined;
  const loop = (async () => {
    while (running) {
      try {
        await round();
      } catch (err) {
        log.warn({ err: (err as Error).message }, `${what} round failed; trying again`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, intervalMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  })();
  return {
    async stop() {
      running = false;
      wake?.();
      await loop;
    },
  };
}
