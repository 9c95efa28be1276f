/**
 * The CLI on a saga of a user's own, from its config module: provision, run (participants and
 * monitor in one process), start, status, list; the refusals, each one line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../core/config.ts';
import { waitFor } from '../core/wait.ts';
import { completed, freePorts, sagaline } from './support/cli.ts';

const CONFIG = 'test/fixtures/order-saga/sagaline.config.ts';
let runner: ChildProcess;
let runnerErr = '';
let exited: number | null | undefined;

/** A long-running `sagaline` command; resolves once `ready` is in its stderr. */
async function background(args: string[], ready: string): Promise<{ child: ChildProcess; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [join(PROJECT_ROOT, 'bin', 'sagaline.js'), ...args], { cwd: PROJECT_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  let code: number | null | undefined;
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  child.on('exit', (c) => (code = c));
  await waitFor(`sagaline ${args[0]} to say "${ready}"`, () => {
    if (code !== undefined) throw new Error(`sagaline ${args.join(' ')} exited (${code}):\n${err}`);
    return err.includes(ready);
  }, { timeoutMs: 120_000 });
  return {
    child,
    async stop() {
      if (code !== undefined) return;
      child.kill('SIGTERM');
      await waitFor(`sagaline ${args[0]} to stop`, () => code !== undefined, { timeoutMs: 60_000 }).catch(() => child.kill('SIGKILL'));
    },
  };
}

describe('sagaline with --config: a saga of its user’s own', () => {
  beforeAll(async () => {
    const provisioned = await sagaline(['provision', '--config', CONFIG]);
    expect(provisioned.stderr).toContain('provisioned order-fulfilment from');
    expect(provisioned.code).toBe(0);
    runner = spawn(process.execPath, [join(PROJECT_ROOT, 'bin', 'sagaline.js'), 'run', '--config', CONFIG], { cwd: PROJECT_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    runner.stderr!.setEncoding('utf8').on('data', (c: string) => (runnerErr += c));
    runner.on('exit', (code) => (exited = code));
    await waitFor('sagaline run to report its participants running', () => {
      if (exited !== undefined) throw new Error(`sagaline run exited (${exited}):\n${runnerErr}`);
      return runnerErr.includes('› running the saga monitor, payments (order-fulfilment), warehouse (order-fulfilment), shipping (order-fulfilment)');
    }, { timeoutMs: 120_000 });
  });

  afterAll(async () => {
    if (runner && exited === undefined) {
      runner.kill('SIGTERM');
      await waitFor('sagaline run to stop', () => exited !== undefined, { timeoutMs: 60_000 }).catch(() => runner.kill('SIGKILL'));
    }
  });

  it('given the runner, when a saga is started from the CLI, then status shows it Completed and list finds it', async () => {
    const started = await sagaline(['start', 'order-fulfilment', '--config', CONFIG, '--tenant', 'cli-tenant', '--payload', JSON.stringify({ orderId: 'cli-1', amountCents: 999 }), '--json']);
    expect(started.code, started.stderr).toBe(0);
    const { sagaId } = JSON.parse(started.stdout) as { sagaId: string };
    const status = await completed(sagaId, CONFIG, () => runnerErr, waitFor(`saga ${sagaId} to complete`, async () => {
      const r = await sagaline(['status', sagaId, '--config', CONFIG, '--json']);
      return r.code === 0 && (JSON.parse(r.stdout) as { status: string }).status === 'Completed' ? JSON.parse(r.stdout) : undefined;
    }, { timeoutMs: 60_000, intervalMs: 500 }));
    expect(status).toMatchObject({ sagaId, saga: 'order-fulfilment', version: 1, tenantId: 'cli-tenant' });
    const human = await sagaline(['status', sagaId, '--config', CONFIG]);
    expect(human.stdout).toMatch(new RegExp(`^saga ${sagaId} \\(order-fulfilment v1, tenant cli-tenant\\): Completed\\n`));
    expect(human.stdout).toMatch(/^CHARGE\s+payments\s+succeeded\s+1\s/m);
    const listed = await sagaline(['list', '--config', CONFIG, '--saga', 'order-fulfilment', '--tenant', 'cli-tenant', '--state', 'Completed', '--json']);
    expect((JSON.parse(listed.stdout) as { sagas: { sagaId: string }[] }).sagas.map((s) => s.sagaId)).toContain(sagaId);
  });

  it('given a start message its schema refuses, an unknown saga or no config file, then each is one clear line and a non-zero exit', async () => {
    const bad = await sagaline(['start', 'order-fulfilment', '--config', CONFIG, '--tenant', 't', '--payload', '{"orderId": 7, "amountCents": 1}']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/^sagaline: error: .*payload\.orderId/m);
    const unknown = await sagaline(['start', 'order-payment', '--config', CONFIG, '--tenant', 't', '--payload', '{}']);
    expect(unknown.stderr.trim()).toMatch(/^sagaline: error: \S+sagaline\.config\.ts defines no saga "order-payment" \(it defines order-fulfilment\)$/);
    const missing = await sagaline(['list', '--config']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr.trim()).toMatch(/^sagaline: error: no config module at \S+\/sagaline\.config\.mjs \(the default, sagaline\.config\.mjs in the current folder; pass --config <file> for another\)$/);
  });

  it('given `serve --config`, then POST /sagas/{name} starts a saga over HTTP, GET /sagas/{name}/{id} reads it, and bad requests are 400 or 404 naming why', async () => {
    const [port] = await freePorts(1);
    const api = await background(['serve', '--config', CONFIG, '--port', String(port)], `HTTP API on http://127.0.0.1:${port}`);
    try {
      const base = `http://127.0.0.1:${port}/sagas/order-fulfilment`;
      // An operator's token, as the README makes one: printed once on stdout
      const minted = await sagaline(['tokens', 'create', '--operator', '--label', 'own saga over HTTP']);
      expect(minted.code, minted.stderr).toBe(0);
      const auth = { authorization: `Bearer ${minted.stdout.trim()}` };
      expect(minted.stderr).toContain('it is not shown again');
      const post = (body: unknown, url = base) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: JSON.stringify(body) });
      const created = await post({ tenantId: 'http-tenant', payload: { orderId: 'http-1', amountCents: 500 } });
      expect(created.status).toBe(201);
      const { sagaId } = (await created.json()) as { sagaId: string };
      expect(created.headers.get('location')).toBe(`/sagas/${sagaId}`);
      const saga = await completed(sagaId, CONFIG, () => runnerErr, waitFor(`saga ${sagaId} to complete`, async () => {
        const r = await fetch(`${base}/${sagaId}`, { headers: auth });
        const body = r.status === 200 ? ((await r.json()) as { status: string }) : undefined;
        return body?.status === 'Completed' ? body : undefined;
      }, { timeoutMs: 60_000, intervalMs: 300 }));
      expect(saga).toMatchObject({ sagaId, saga: 'order-fulfilment', tenantId: 'http-tenant' });
      // At its Location, the same instance
      expect(await (await fetch(`http://127.0.0.1:${port}/sagas/${sagaId}`, { headers: auth })).json()).toMatchObject({ sagaId, saga: 'order-fulfilment', status: 'Completed' });

      const badField = await post({ tenantId: 't', payload: { orderId: 'x', amountCents: 'lots' } });
      expect(badField.status).toBe(400);
      expect(((await badField.json()) as { error: { message: string } }).error.message).toMatch(/payload\.amountCents: expected "int", got "lots"/);
      const noTenant = await post({ payload: {} });
      expect(noTenant.status).toBe(400);
      expect(((await noTenant.json()) as { error: { message: string } }).error.message).toBe('tenantId is required');
      const unknown = await post({ tenantId: 't', payload: {} }, `http://127.0.0.1:${port}/sagas/order-payment`);
      expect(unknown.status).toBe(404);
      expect((await fetch(`${base}/no-such-saga`, { headers: auth })).status).toBe(404);
    } finally {
      await api.stop();
    }
  });
});
