/**
 * Brings the real stack up once per test run (one shared server per run; each test file makes its
 * own databases and names, and provisions the sagas it uses from their definitions — there is no
 * built-in catalogue to provision here). Stops the stack afterwards only if this run started it.
 */
import { loadConfig } from '../../core/config.ts';
import { Stack } from '../../infra/stack/stack.ts';

export default async function setup(): Promise<() => Promise<void>> {
  const config = loadConfig();
  const stack = new Stack(config);
  const log = (line: string) => process.stderr.write(`[stack] ${line}\n`);
  const result = await stack.up(log);
  return async () => {
    if (result.mode === 'local' && result.started.length > 0 && !process.env.SAGALINE_KEEP_STACK) await stack.down(log);
  };
}
