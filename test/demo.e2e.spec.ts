/**
 * The main job as a new user meets it: `npm start` (the training example's demo) on a stack of its
 * own (nothing else writes to it), then the sagas it reports checked against `status`, `list` and
 * the HTTP API.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePortRange, isolatedStackEnv, npmStart, sagaline, type CliResult } from './support/cli.ts';

interface DemoJson {
  sagas: number;
  byStatus: Record<string, number>;
  steps: { step: string; n: number; p50Ms: number | null; p95Ms: number | null }[];
  api: string;
  token: string | null;
  results: { sagaId: string; scenario: string; status: string; expected: string; reason: string | null }[];
}

const CONFIG = ['--config', 'examples/ml-training/sagaline.config.ts'];
const stateDir = mkdtempSync(join(tmpdir(), 'sagaline-demo-'));
chmodSync(stateDir, 0o755); // the postgres system user must be able to traverse it
let env: Record<string, string>;
let run: CliResult;
let demo: DemoJson;

describe('npm start: the demo', () => {
  beforeAll(async () => {
    // The API port and the processes' metrics ports (base + 1 … base + 5) below the ephemeral range
    const base = await freePortRange(7);
    env = { ...(await isolatedStackEnv(stateDir)), SAGALINE_API_PORT: String(base), SAGALINE_METRICS_PORT_BASE: String(base + 1) };
    // Given a stack that is not running, when the demo runs six sagas
    run = await npmStart(['--sagas', '6', '--json'], env, 600_000);
    expect(run.code, run.stderr).toBe(0);
    demo = JSON.parse(run.stdout) as DemoJson;
  });

  afterAll(async () => {
    if (env) {
      await sagaline(['processors', 'down', ...CONFIG], env);
      await sagaline(['stack', 'down'], env);
    }
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('given no stack, when npm start runs, then it brings everything up, runs the batch and summarizes it', () => {
    expect(run.stderr).toContain('started: model-service, resource-service, training-service, audit-service, saga-monitor');
    expect(run.stderr).toContain('HTTP API on http://127.0.0.1:');
    expect(demo.sagas).toBe(6);
    // ok, fail ALLOCATE, ok, fail TRAIN, ok, hang RESERVE (times out)
    const outcomes = demo.results.map((r) => `${r.scenario}: ${r.status} (${r.reason ?? 'no reason'})`).join('; ');
    expect(demo.byStatus, outcomes).toEqual({ Completed: 3, Compensated: 3 });
    for (const r of demo.results) expect(r.status, `${r.sagaId}: ${r.scenario}, ${r.reason ?? 'no reason'}`).toBe(r.expected);
    expect(demo.results.find((r) => r.scenario.startsWith('hangs'))?.reason).toBe('RESERVE failed: RESERVE did not answer within 5000 ms');
    expect(demo.steps.map((s) => s.step)).toEqual(['RESERVE', 'ALLOCATE', 'TRAIN', 'UPDATE', 'AUDIT', 'saga']);
    // Latency counts steps whose success stood: the three completed sagas' (a compensated step is undone)
    const reserve = demo.steps[0]!;
    expect(reserve.n).toBe(3);
    expect(reserve.p95Ms).toBeGreaterThanOrEqual(reserve.p50Ms!);
    expect(demo.steps.find((s) => s.step === 'saga')!.n).toBe(3);
  });

  it('given the demo ran, then `status`, `list` and the HTTP API report the same sagas', async () => {
    const listed = JSON.parse((await sagaline(['list', '--json', ...CONFIG], env)).stdout) as { sagas: { sagaId: string; status: string }[] };
    for (const r of demo.results) {
      const status = await sagaline(['status', r.sagaId, '--json', ...CONFIG], env);
      expect(status.code, status.stderr).toBe(0);
      expect(JSON.parse(status.stdout).status).toBe(r.status);
      expect(listed.sagas.find((s) => s.sagaId === r.sagaId)?.status).toBe(r.status);
      const response = await fetch(`${demo.api}/sagas/${r.sagaId}`, { headers: { authorization: `Bearer ${demo.token}` } });
      expect(response.status).toBe(200);
      expect(((await response.json()) as { status: string }).status).toBe(r.status);
    }
    const compensated = (await (await fetch(`${demo.api}/sagas?status=Compensated`, { headers: { authorization: `Bearer ${demo.token}` } })).json()) as { sagas: { sagaId: string }[] };
    expect(compensated.sagas.map((s) => s.sagaId).sort()).toEqual(demo.results.filter((r) => r.status === 'Compensated').map((r) => r.sagaId).sort());
  });

  it('given the stack runs, when npm start runs again, then it reuses it and prints a readable summary', async () => {
    const again = await npmStart(['--sagas', '2'], env, 300_000);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('all processes already running');
    expect(again.stdout).toContain('2 sagas by final status');
    // ok + fail at ALLOCATE: one RESERVE success stood (the other was compensated)
    expect(again.stdout).toMatch(/RESERVE\s+1\s+\d+ ms\s+\d+ ms/);
    expect(again.stdout).toContain('npx sagaline audit ');
    expect(again.stdout).toContain('npx sagaline stack down');
  });
});
