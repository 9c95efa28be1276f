/**
 * Sagas posted as data (`POST /sagas`, the Fluxora orchestrator's shape), on the real stack: the
 * API is `sagaline serve` in its own process, the steps are calls to three plain HTTP services
 * started here (recording every call), run by the engine's posted-saga runner — the happy path, a
 * failure with compensations in reverse, retries, a parallel group, bad requests refused before
 * anything is written, a duplicate delivery, and the calls as the audit reads them from the log.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../core/config.ts';
import { pgPool } from '../core/clients.ts';
import { SagalineError } from '../core/errors.ts';
import { createLogger } from '../core/log.ts';
import { newId } from '../core/ids.ts';
import { waitFor } from '../core/wait.ts';
import { idempotencyKey, postedSagaRunner, postedSagas, provisionSagas, runParticipant, runSagaMonitor, SagaApiError, SagaHttpClient, sagaTopic, SAGAS_DATABASE, staticServices, type FluxoraSaga, type FluxoraStep } from '../index.ts';
import { monitorGroup } from '../processors/engine/monitor.ts';
import { participantGroup } from '../processors/engine/run-participant.ts';
import { POSTED_RUNNER } from '../processors/engine/posted-sagas.ts';
import { deliverSagaAgain } from './support/redeliver.ts';
import { freePorts, sagaline } from './support/cli.ts';
import { config, uniqueName } from './support/fixtures.ts';
import { startServices, type TestServices } from './support/http-services.ts';
import { apiToken, bearer } from './support/tokens.ts';

const CONFIG_FILE = fileURLToPath(new URL('./fixtures/posted-sagas/sagaline.config.ts', import.meta.url));
const SCHEMAS = fileURLToPath(new URL('./fixtures/posted-sagas/schemas', import.meta.url));
const logger = createLogger({ logLevel: 'warn' }, 'posted-sagas');
const running: { stop(): Promise<void> }[] = [];
const tenant = uniqueName('tenant');
let services: TestServices;
let api: ChildProcess;
let apiStderr = '';
let base = '';
let client: SagaHttpClient;
/** The tenant's API token: the client below sends it, and the API takes the tenant from it. */
let token = '';

/** One step of a trip, in Fluxora's shape; every body names the trip, so the services' records can be read per trip. */
const step = (service: string, verb: string, undo: string | null, tripId: string): FluxoraStep => ({
  service_name: service,
  action_endpoint: `/${service}/${verb}`,
  compensation_endpoint: undo === null ? null : `/${service}/${undo}`,
  payload: { tripId, service },
});
const paths = (tripId: string) => services.callsFor(tripId).map((c) => c.path);

async function ended(sagaId: string): Promise<FluxoraSaga> {
  return waitFor(`posted saga ${sagaId} to end`, async () => {
    const saga = await client.getSagaStatus(sagaId);
    return saga && ['COMPLETED', 'FAILED'].includes(saga.state) ? saga : undefined;
  }, { timeoutMs: 60_000 });
}

describe('sagas posted as data, on the real stack', () => {
  beforeAll(async () => {
    services = await startServices(['flights', 'hotels', 'cars']);
    const runner = postedSagaRunner({ services: staticServices(services.urls) });
    await provisionSagas(config, { sagas: [postedSagas], participants: [runner], schemas: SCHEMAS });
    running.push(await runSagaMonitor([postedSagas], { config, schemas: SCHEMAS, logger }));
    running.push(await runParticipant(runner, { config, schemas: SCHEMAS, logger }));
    const [port] = await freePorts(1);
    base = `http://127.0.0.1:${port}`;
    api = spawn(process.execPath, [join(PROJECT_ROOT, 'bin', 'sagaline.js'), 'serve', '--config', CONFIG_FILE, '--port', String(port)], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, SAGALINE_SERVICES: JSON.stringify(services.urls) },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    api.stderr!.setEncoding('utf8').on('data', (chunk: string) => (apiStderr = (apiStderr + chunk).slice(-5_000)));
    await waitFor('the HTTP API to answer', async () => (await fetch(`${base}/health/live`).catch(() => undefined))?.ok, {
      timeoutMs: 60_000,
      abortIf: () => {
        if (api.exitCode !== null) throw new SagalineError('API_EXITED', `sagaline serve exited with ${api.exitCode}:\n${apiStderr}`);
      },
    });
    token = await apiToken({ role: 'tenant', tenantId: tenant });
    client = new SagaHttpClient(base, { token });
  });

  afterAll(async () => {
    if (api && api.exitCode === null) {
      const exited = new Promise((resolve) => api.once('exit', resolve));
      api.kill('SIGTERM');
      await exited;
    }
    for (const r of running.reverse()) await r.stop();
    await services?.close();
  });

  it('given three steps in Fluxora\'s shape, when posted, then each action is called once, in order, with its payload, and GET answers in the design\'s shape', async () => {
    const tripId = uniqueName('trip');
    const started = await client.startSaga('trip', [step('flights', 'book', 'cancel', tripId), step('hotels', 'book', 'cancel', tripId), step('cars', 'rent', 'return', tripId)]);
    expect(started.state).toBe('STARTED');
    const saga = await ended(started.saga_id);
    expect(saga).toMatchObject({ saga_id: started.saga_id, name: 'trip', state: 'COMPLETED', status: 'Completed', current_step_index: 3 });
    expect(saga.steps.map((s) => [s.id, s.service_name, s.state])).toEqual([
      [`${started.saga_id}-step-0`, 'flights', 'EXECUTED'],
      [`${started.saga_id}-step-1`, 'hotels', 'EXECUTED'],
      [`${started.saga_id}-step-2`, 'cars', 'EXECUTED'],
    ]);
    expect(saga.steps[0]?.result).toEqual({ ok: true, ref: `flights-${tripId}-1` });
    expect(paths(tripId)).toEqual(['/flights/book', '/hotels/book', '/cars/rent']);
    const calls = services.callsFor(tripId);
    expect(calls.map((c) => c.body)).toEqual([{ tripId, service: 'flights' }, { tripId, service: 'hotels' }, { tripId, service: 'cars' }]);
    expect(calls.map((c) => c.idempotencyKey)).toEqual(['step_0', 'step_1', 'step_2'].map((s) => idempotencyKey(started.saga_id, s, 'action')));
  });

  it('given the third step is refused, then the second and the first are undone once each, in reverse, and the saga ends FAILED (Compensated)', async () => {
    const tripId = uniqueName('trip');
    services.script(tripId, '/cars/rent', () => ({ status: 409, body: { error: 'no cars' } }));
    const { saga_id: id } = await client.startSaga('trip', [step('flights', 'book', 'cancel', tripId), step('hotels', 'book', 'cancel', tripId), step('cars', 'rent', 'return', tripId)]);
    const saga = await waitFor('both compensations to be recorded', async () => {
      const s = await ended(id);
      return s.steps[0]?.state === 'COMPENSATED' ? s : undefined;
    }, { timeoutMs: 60_000 });
    expect(saga).toMatchObject({ state: 'FAILED', status: 'Compensated' });
    expect(saga.steps.map((s) => s.state)).toEqual(['COMPENSATED', 'COMPENSATED', 'FAILED']);
    expect(paths(tripId)).toEqual(['/flights/book', '/hotels/book', '/cars/rent', '/hotels/cancel', '/flights/cancel']);
    const cancel = services.callsFor(tripId).at(-1);
    expect(cancel?.idempotencyKey).toBe(idempotencyKey(id, 'step_0', 'compensation'));
    expect(cancel?.body).toEqual({ step_id: `${id}-step-0`, original_payload: { tripId, service: 'flights' }, result: { ok: true, ref: `flights-${tripId}-1` } });
  });

  it('given a service that answers 503 twice, then it is called again with the same key and the saga completes; one that stays down exhausts its retries and the saga compensates', async () => {
    const flaky = uniqueName('trip');
    services.script(flaky, '/hotels/book', (n) => (n <= 2 ? { status: 503, body: { error: 'busy' } } : { status: 201, body: { ref: 'h-1' } }));
    const { saga_id: ok } = await client.startSaga('trip', [step('flights', 'book', 'cancel', flaky), step('hotels', 'book', 'cancel', flaky)]);
    const down = uniqueName('trip');
    services.script(down, '/hotels/book', () => ({ status: 503, body: { error: 'down' } }));
    const { saga_id: failed } = await client.startSaga('trip', [step('flights', 'book', 'cancel', down), { ...step('hotels', 'book', 'cancel', down), retry_limit: 1 }]);
    expect((await ended(ok)).state).toBe('COMPLETED');
    const hotel = services.callsFor(flaky).filter((c) => c.path === '/hotels/book');
    expect(hotel.map((c) => c.status)).toEqual([503, 503, 201]);
    expect(new Set(hotel.map((c) => c.idempotencyKey))).toEqual(new Set([idempotencyKey(ok, 'step_1', 'action')]));
    const gaveUp = await waitFor('the flight to be cancelled', async () => {
      const s = await ended(failed);
      return s.steps[0]?.state === 'COMPENSATED' ? s : undefined;
    }, { timeoutMs: 60_000 });
    expect(gaveUp.status).toBe('Compensated');
    // The first call and the one retry its limit allows.
    expect(paths(down)).toEqual(['/flights/book', '/hotels/book', '/hotels/book', '/flights/cancel']);
  });

  it('given a parallel group whose one branch fails after the other succeeded, then both branches were called and the other branch and the first step are undone', async () => {
    const tripId = uniqueName('trip');
    services.script(tripId, '/cars/rent', async () => {
      await waitFor('the hotel to be booked', async () => paths(tripId).includes('/hotels/book'), { timeoutMs: 20_000 });
      return { status: 422, body: { error: 'no cars' } };
    });
    const { saga_id: id } = await client.startSaga('trip', [step('flights', 'book', 'cancel', tripId), [step('hotels', 'book', 'cancel', tripId), step('cars', 'rent', 'return', tripId)]]);
    const saga = await waitFor('every compensation to be recorded', async () => {
      const s = await ended(id);
      return s.steps[0]?.state === 'COMPENSATED' ? s : undefined;
    }, { timeoutMs: 60_000 });
    expect(saga.steps.map((s) => [s.service_name, s.state])).toEqual([['flights', 'COMPENSATED'], ['hotels', 'COMPENSATED'], ['cars', 'FAILED']]);
    const called = paths(tripId);
    expect(called.slice(0, 1)).toEqual(['/flights/book']);
    expect([...called.slice(1, 3)].sort()).toEqual(['/cars/rent', '/hotels/book']);
    expect(called.slice(3)).toEqual(['/hotels/cancel', '/flights/cancel']);
  });

  it.each([
    ['a service no registry knows', { name: 'x', steps: [{ service_name: 'boats', action_endpoint: '/sail', compensation_endpoint: null, payload: {} }] }, 'service boats: not known to the configured services (cars, flights, hotels)'],
    ['a step without its compensation endpoint', { name: 'x', steps: [{ service_name: 'flights', action_endpoint: '/book', payload: {} }] }, 'steps[0].compensation_endpoint: missing'],
    ['a step without its action endpoint', { name: 'x', steps: [{ service_name: 'flights', compensation_endpoint: null }] }, 'steps[0].action_endpoint'],
    ['an empty saga', { name: 'x', steps: [] }, 'steps: a saga needs at least one step'],
    ['a field the API does not know', { name: 'x', steps: [], priority: 1 }, 'priority is not a known field'],
  ])('given %s, when posted, then a 400 names the problem and nothing is written', async (_what, body, named) => {
    const sagaId = newId();
    const res = await fetch(`${base}/sagas`, { method: 'POST', headers: { 'content-type': 'application/json', ...bearer(token) }, body: JSON.stringify({ ...body, sagaId }) });
    const answer = (await res.json()) as { error: { code: string; message: string } };
    expect(res.status).toBe(400);
    expect(answer.error.code).toBe('REQUEST_INVALID');
    expect(answer.error.message).toContain(named);
    // The start is written to the engine's outbox, in the API's transaction: nothing there for this id.
    const pool = pgPool(config, SAGAS_DATABASE, 1);
    try {
      expect((await pool.query('select count(*)::int as n from outbox where saga_id = $1', [sagaId])).rows[0].n).toBe(0);
    } finally {
      await pool.end();
    }
  });

  it("given another tenant's token, when it reads the saga, posts as this tenant, or posts without a token, then the saga reads as missing, 403 and 401; nothing is written", async () => {
    const tripId = uniqueName('trip');
    const started = await client.startSaga('trip', [step('flights', 'book', 'cancel', tripId)]);
    expect((await ended(started.saga_id)).state).toBe('COMPLETED');
    const other = new SagaHttpClient(base, { token: await apiToken({ role: 'tenant', tenantId: uniqueName('other') }) });
    expect(await other.getSagaStatus(started.saga_id)).toBeUndefined();
    const sagaId = newId();
    await expect(other.startSaga('trip', [step('flights', 'book', 'cancel', tripId)], { tenantId: tenant, sagaId })).rejects.toMatchObject({ status: 403, code: 'FORBIDDEN' });
    await expect(new SagaHttpClient(base).startSaga('trip', [step('flights', 'book', 'cancel', tripId)], { sagaId })).rejects.toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
    const pool = pgPool(config, SAGAS_DATABASE, 1);
    try {
      expect((await pool.query('select count(*)::int as n from outbox where saga_id = $1', [sagaId])).rows[0].n).toBe(0);
    } finally {
      await pool.end();
    }
    expect(paths(tripId)).toEqual(['/flights/book']);
  });

  it('given the client helper, when the API refuses, then it throws a typed error with the code; an unknown saga reads as undefined', async () => {
    await expect(client.startSaga('x', [])).rejects.toMatchObject({ status: 400, code: 'REQUEST_INVALID' });
    await expect(client.startSaga('x', [])).rejects.toBeInstanceOf(SagaApiError);
    expect(await client.getSagaStatus(newId())).toBeUndefined();
  });

  it('given every message of a completed posted saga delivered a second time, then no service is called twice with one key', async () => {
    const tripId = uniqueName('trip');
    const { saga_id: id } = await client.startSaga('trip', [step('flights', 'book', 'cancel', tripId), step('hotels', 'book', 'cancel', tripId)]);
    await ended(id);
    await deliverSagaAgain(sagaTopic(postedSagas).name, id, 4, [participantGroup({ saga: postedSagas, service: POSTED_RUNNER }), monitorGroup(postedSagas.name)]);
    const keys = services.callsFor(tripId).map((c) => c.idempotencyKey);
    expect(keys).toHaveLength(2);
    expect(new Set(keys).size).toBe(2);
    expect((await client.getSagaStatus(id))?.state).toBe('COMPLETED');
  });

  it('given a posted saga with a retried and a refused call, when it is audited, then the log shows its definition, each call and its outcome, and who was called', async () => {
    const tripId = uniqueName('trip');
    services.script(tripId, '/hotels/book', (n) => (n === 1 ? { status: 503 } : { status: 200, body: { ref: 'h-2' } }));
    services.script(tripId, '/cars/rent', () => ({ status: 409, body: { error: 'no cars' } }));
    const { saga_id: id } = await client.startSaga('trip', [step('flights', 'book', 'cancel', tripId), step('hotels', 'book', 'cancel', tripId), step('cars', 'rent', 'return', tripId)]);
    await waitFor('the saga to be compensated', async () => (await ended(id)).steps[0]?.state === 'COMPENSATED', { timeoutMs: 60_000 });
    const result = await sagaline(['audit', id, '--json', '--config', CONFIG_FILE]);
    expect(result.code, result.stderr).toBe(0);
    const timeline = JSON.parse(result.stdout) as { saga: string; events: { type: string; service: string; payload: Record<string, unknown> }[]; state: { status: string } };
    const events = timeline.events.map((e) => [e.type, e.service, e.payload.step ?? null, e.payload.status ?? null]);
    expect(events).toEqual([
      ['SagaStarted', 'requester', null, null],
      ['PostedSagaRequested', 'requester', null, null],
      ['PostedStepSucceeded', 'flights', 'step_0', 200],
      ['StepAttemptFailed', 'hotels', 'step_1', null],
      ['PostedStepSucceeded', 'hotels', 'step_1', 200],
      ['PostedStepFailed', 'cars', 'step_2', 409],
      ['PostedStepCompensated', 'hotels', 'step_1', 200],
      ['PostedStepCompensated', 'flights', 'step_0', 200],
    ]);
    // The definition the instance was asked to run is in its start message, in the log.
    const requested = timeline.events.find((e) => e.type === 'PostedSagaRequested')?.payload as { name: string; steps: { name: string; service: string; action: string }[] };
    expect(requested.name).toBe('trip');
    expect(requested.steps.map((s) => [s.name, s.service, s.action])).toEqual([['step_0', 'flights', '/flights/book'], ['step_1', 'hotels', '/hotels/book'], ['step_2', 'cars', '/cars/rent']]);
    expect(timeline.state.status).toBe('Compensated');

    // And the log folds to the projection's state (the steps read from the start message), and `status` names the service each step called
    const rebuilt = await sagaline(['replay', '--rebuild', '--saga', id, '--config', CONFIG_FILE]);
    expect(rebuilt.code, rebuilt.stdout + rebuilt.stderr).toBe(0);
    expect(rebuilt.stdout).toContain('no difference');
    const status = await sagaline(['status', id, '--config', CONFIG_FILE]);
    expect(status.stdout).toMatch(/^step_1\s+hotels\s+compensated\s+1\s/m);
    expect(status.stdout).toMatch(/^step_2\s+cars\s+failed\s+1\s/m);
  });
});
