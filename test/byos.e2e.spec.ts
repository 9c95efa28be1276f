/**
 * Bring your own stack, as a user configures it: the four variables set against a running stack,
 * DATABASE_URL naming the server's `postgres` database. DATABASE_URL names the server; every part
 * of sagaline uses its own database on it (sagaline, model_service, …), so the demo runs to its
 * summary; a setting that cannot work is one line naming the variable, before anything starts.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseUrlFor } from '../core/config.ts';
import { freePortRange, sagaline } from './support/cli.ts';
import { config, uniqueName } from './support/fixtures.ts';
import { query, startGroupsAtEnd } from './support/saga.ts';

interface DemoJson {
  sagas: number;
  byState: Record<string, number>;
  results: { sagaId: string; scenario: string; state: string; expected: string }[];
}

const stateDir = mkdtempSync(join(tmpdir(), 'sagaline-byos-'));
chmodSync(stateDir, 0o755);
let env: Record<string, string>;

/** Background processes of sagaline running with this state directory (processors and API). */
async function running(e: Record<string, string>): Promise<string[]> {
  const status = await sagaline(['processors', 'status', '--json'], e);
  const parsed = JSON.parse(status.stdout) as { processors: { name: string; running: boolean }[]; api: { running: boolean } };
  return [...parsed.processors.filter((p) => p.running).map((p) => p.name), ...(parsed.api.running ? ['api'] : [])];
}

describe('bring your own stack', () => {
  beforeAll(async () => {
    const base = await freePortRange(7);
    env = {
      SAGALINE_STATE_DIR: stateDir,
      KAFKA_BROKERS: config.kafkaBrokers.join(','),
      DATABASE_URL: databaseUrlFor(config, 'postgres'),
      SCHEMA_REGISTRY_URL: config.schemaRegistryUrl,
      CONNECT_URL: config.connectUrl,
      SAGALINE_API_PORT: String(base),
      SAGALINE_METRICS_PORT_BASE: String(base + 1),
    };
    // The processors' groups start where the log ends now (other suites wrote much to it).
    await startGroupsAtEnd();
  });

  afterAll(async () => {
    if (env) await sagaline(['processors', 'down'], env);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('given DATABASE_URL naming the postgres database, the demo runs to its summary and writes only to sagaline\'s databases', async () => {
    // When the demo runs on the stack the four variables name
    const run = await sagaline(['demo', '--sagas', '4', '--json'], env, 600_000);

    // Then it starts nothing of the stack, and every saga ends as its scenario expects
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('using that stack, starting nothing');
    const demo = JSON.parse(run.stdout) as DemoJson;
    expect(demo.sagas).toBe(4);
    for (const r of demo.results) expect(r.state, `${r.sagaId}: ${r.scenario}`).toBe(r.expected);

    // And the requests went to sagaline's own database, where the projection found them; the postgres database got no table
    const projected = await query<{ n: number }>('sagaline', 'select count(*)::int as n from saga_state where saga_id = any($1)', [demo.results.map((r) => r.sagaId)]);
    expect(projected[0]!.n).toBe(4);
    const stray = await query<{ t: string | null }>('postgres', "select to_regclass('public.outbox')::text as t");
    expect(stray[0]!.t).toBeNull();
  });

  it.each([
    ['DATABASE_URL naming a database that does not exist', () => ({ DATABASE_URL: databaseUrlFor(config, uniqueName('nope')) }), /DATABASE_URL=postgres:\/\/sagaline:\*\*\*@[^ ]+: database "nope_[^"]+" does not exist .*end the URL with \/postgres/],
    ['DATABASE_URL with a wrong password', () => ({ DATABASE_URL: databaseUrlFor(config, 'postgres').replace(':sagaline@', ':wrong@') }), /DATABASE_URL=postgres:\/\/sagaline:\*\*\*@.*password authentication failed/],
    ['CONNECT_URL where nothing listens', () => ({ CONNECT_URL: 'http://127.0.0.1:9' }), /CONNECT_URL=http:\/\/127\.0\.0\.1:9: /],
  ])('given %s, it fails in one line naming the variable and starts nothing', async (_what, override, message) => {
    const dir = mkdtempSync(join(tmpdir(), 'sagaline-byos-bad-'));
    const bad = { ...env, SAGALINE_STATE_DIR: dir, ...override() };
    try {
      // When the demo is started with it
      const run = await sagaline(['demo', '--sagas', '1'], bad, 120_000);

      // Then one error line names the variable and why, no password is shown, and nothing was started
      expect(run.code).toBe(1);
      const errors = run.stderr.split('\n').filter((l) => l.startsWith('sagaline: error:'));
      expect(errors, run.stderr).toHaveLength(1);
      expect(errors[0]).toMatch(message);
      expect(run.stderr).not.toMatch(/:(sagaline|wrong)@/);
      expect(run.stderr).not.toContain('started processors');
      expect(await running(bad)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('given a processor that cannot start, the demo fails and stops the processors it had started', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sagaline-byos-stop-'));
    const base = await freePortRange(7);
    const bad = { ...env, SAGALINE_STATE_DIR: dir, SAGALINE_API_PORT: String(base), SAGALINE_METRICS_PORT_BASE: String(base + 1) };
    // Given no processor of the first demo running (its groups have no member), and model-service's metrics port taken by another process
    await sagaline(['processors', 'down'], env);
    const squatter = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => squatter.listen(base + 2, '127.0.0.1', resolve));
    try {
      // When the demo starts the processors
      const run = await sagaline(['demo', '--sagas', '1'], bad, 180_000);

      // Then it fails naming the processor, and leaves none of what it started running
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('started processors');
      expect(run.stderr).toMatch(/sagaline: error: processor model-service exited while starting/);
      expect(run.stderr).toMatch(/stopped what this run had started: [a-z-, ]*resource-service/);
      expect(await running(bad)).toEqual([]);
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
      await sagaline(['processors', 'down'], bad);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
