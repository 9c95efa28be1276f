/**
 * Bring your own stack, as a user configures it: the four variables set against a running stack,
 * DATABASE_URL naming the server's `postgres` database. DATABASE_URL names the server; every part
 * of sagaline uses its own database on it (the engine's, each participant's), so a project's sagas
 * (the order fixture's, through the CLI: provision, processors up, start, status) run to their end;
 * a setting that cannot work is one line naming the variable, before anything starts.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseUrlFor } from '../core/config.ts';
import { waitFor } from '../core/wait.ts';
import { SAGAS_DATABASE } from '../processors/engine/monitor.ts';
import { freePortRange, sagaline } from './support/cli.ts';
import { config, uniqueName } from './support/fixtures.ts';
import { ORDER_CONFIG } from './support/messages.ts';
import { query, startGroupsAtEnd, testProject } from './support/saga.ts';

const stateDir = mkdtempSync(join(tmpdir(), 'sagaline-byos-'));
chmodSync(stateDir, 0o755);
let env: Record<string, string>;

/** Background processes of the project running with this state directory (processors and API). */
async function running(e: Record<string, string>): Promise<string[]> {
  const status = await sagaline(['processors', 'status', '--config', ORDER_CONFIG, '--json'], e);
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
  });

  afterAll(async () => {
    if (env) await sagaline(['processors', 'down', '--config', ORDER_CONFIG], env);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it("given DATABASE_URL naming the postgres database, when a project is provisioned, run and a saga started through the CLI, then it completes and only sagaline's databases were written", async () => {
    // When the stack the four variables name is brought up, and the project provisioned and run on it
    const up = await sagaline(['stack', 'up'], env, 120_000);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stderr).toContain('using that stack, starting nothing');
    const provisioned = await sagaline(['provision', '--config', ORDER_CONFIG], env, 300_000);
    expect(provisioned.code, provisioned.stderr).toBe(0);
    // The processes' groups start where the log ends now (other suites wrote much to it).
    await startGroupsAtEnd(await testProject(ORDER_CONFIG));
    const processes = await sagaline(['processors', 'up', '--config', ORDER_CONFIG], env, 300_000);
    expect(processes.code, processes.stderr).toBe(0);
    expect(await running(env)).toEqual(expect.arrayContaining(['saga-monitor', 'payments', 'warehouse', 'shipping']));

    // And a saga is started
    const tenant = uniqueName('byos');
    const started = await sagaline(['start', 'order-fulfilment', '--config', ORDER_CONFIG, '--tenant', tenant, '--payload', JSON.stringify({ orderId: uniqueName('order'), amountCents: 4200 }), '--json'], env);
    expect(started.code, started.stderr).toBe(0);
    const { sagaId } = JSON.parse(started.stdout) as { sagaId: string };

    // Then it completes
    const status = await waitFor(`saga ${sagaId} to complete`, async () => {
      const r = await sagaline(['status', sagaId, '--config', ORDER_CONFIG, '--json'], env);
      return r.code === 0 && (JSON.parse(r.stdout) as { status: string }).status === 'Completed' ? (JSON.parse(r.stdout) as { tenantId: string }) : undefined;
    }, { timeoutMs: 120_000, intervalMs: 1_000 });
    expect(status.tenantId).toBe(tenant);

    // And the start went through the engine's own database, where the monitor projected it; the postgres database got no table
    const projected = await query<{ n: number }>(SAGAS_DATABASE, 'select count(*)::int as n from saga_instances where saga_id = $1', [sagaId]);
    expect(projected[0]!.n).toBe(1);
    const charged = await query<{ n: number }>('orders_payments', 'select count(*)::int as n from charges where saga_id = $1', [sagaId]);
    expect(charged[0]!.n).toBe(1);
    const stray = await query<{ t: string | null }>('postgres', "select to_regclass('public.outbox')::text as t");
    expect(stray[0]!.t).toBeNull();
  });

  it.each([
    ['DATABASE_URL naming a database that does not exist', () => ({ DATABASE_URL: databaseUrlFor(config, uniqueName('nope')) }), /DATABASE_URL=postgres:\/\/sagaline:\*\*\*@[^ ]+: database "nope_[^"]+" does not exist .*end the URL with \/postgres/],
    ['DATABASE_URL with a wrong password', () => ({ DATABASE_URL: databaseUrlFor(config, 'postgres').replace(':sagaline@', ':wrong@') }), /DATABASE_URL=postgres:\/\/sagaline:\*\*\*@.*password authentication failed/],
    ['CONNECT_URL where nothing listens', () => ({ CONNECT_URL: 'http://127.0.0.1:9' }), /CONNECT_URL=http:\/\/127\.0\.0\.1:9: /],
  ])('given %s, when the stack is brought up, then it fails in one line naming the variable and starts nothing', async (_what, override, message) => {
    const dir = mkdtempSync(join(tmpdir(), 'sagaline-byos-bad-'));
    const bad = { ...env, SAGALINE_STATE_DIR: dir, ...override() };
    try {
      // When the stack it names is brought up
      const run = await sagaline(['stack', 'up'], bad, 120_000);

      // Then one error line names the variable and why, no password is shown, and nothing was started
      expect(run.code).toBe(1);
      const errors = run.stderr.split('\n').filter((l) => l.startsWith('sagaline: error:'));
      expect(errors, run.stderr).toHaveLength(1);
      expect(errors[0]).toMatch(message);
      expect(run.stderr).not.toMatch(/:(sagaline|wrong)@/);
      expect(await running(bad)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
