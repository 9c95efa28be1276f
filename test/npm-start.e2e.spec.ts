/**
 * The main job, short: `npm start` (the training example's demo) on the stack this run shares — it
 * reuses it, starts the example's processes, runs four sagas (two through, two compensated) and
 * summarizes them; `status` and the HTTP API report the same outcomes. The same demo from no stack
 * at all, on a stack of its own, is test/demo.e2e.spec.ts in `npm run test:long`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePortRange, npmStart, sagaline, type CliResult } from './support/cli.ts';

interface DemoJson {
  sagas: number;
  api: string;
  token: string | null;
  results: { sagaId: string; scenario: string; status: string; expected: string; reason: string | null }[];
}

const CONFIG = ['--config', 'examples/ml-training/sagaline.config.ts'];
let env: Record<string, string>;
let run: CliResult;
let demo: DemoJson;

describe('npm start on a running stack', () => {
  beforeAll(async () => {
    // The API port and the processes' metrics ports (base + 1 … base + 5) below the ephemeral range
    const base = await freePortRange(7);
    env = { SAGALINE_API_PORT: String(base), SAGALINE_METRICS_PORT_BASE: String(base + 1) };
    // Given the stack runs, when the demo runs four sagas
    run = await npmStart(['--sagas', '4', '--json'], env, 300_000);
    expect(run.code, run.stderr).toBe(0);
    demo = JSON.parse(run.stdout) as DemoJson;
  });

  afterAll(async () => {
    if (env) await sagaline(['processors', 'down', ...CONFIG], env);
  });

  it('given the stack runs, when npm start runs, then it reuses the stack, runs the batch and each saga ends as its scenario says', () => {
    expect(run.stderr).toContain('HTTP API on http://127.0.0.1:');
    expect(demo.sagas).toBe(4);
    // ok, fail ALLOCATE, ok, fail TRAIN
    for (const r of demo.results) expect(r.status, `${r.sagaId}: ${r.scenario}, ${r.reason ?? 'no reason'}`).toBe(r.expected);
    expect(demo.results.map((r) => r.status).sort()).toEqual(['Compensated', 'Compensated', 'Completed', 'Completed']);
  });

  it('given the demo ran, then it made an operator token for the API, and the API refuses a request without it', async () => {
    expect(demo.token).toMatch(/^sgl_[0-9a-f]{12}_/);
    const anonymous = await fetch(`${demo.api}/sagas/${demo.results[0]!.sagaId}`);
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { error: { code: string } }).error.code).toBe('UNAUTHENTICATED');
  });

  it('given the demo ran, then `status` and the HTTP API report each saga as the demo did', async () => {
    for (const r of demo.results) {
      const status = await sagaline(['status', r.sagaId, '--json', ...CONFIG], env);
      expect(status.code, status.stderr).toBe(0);
      expect(JSON.parse(status.stdout).status).toBe(r.status);
      const response = await fetch(`${demo.api}/sagas/${r.sagaId}`, { headers: { authorization: `Bearer ${demo.token}` } });
      expect(response.status).toBe(200);
      expect(((await response.json()) as { status: string }).status).toBe(r.status);
    }
  });
});
