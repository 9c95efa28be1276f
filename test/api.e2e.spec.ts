/**
 * The HTTP API against the real stack, as a client sees it: the training example's processes run
 * as their own OS processes and the API as a `sagaline serve --config` process; everything goes
 * over HTTP.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../core/config.ts';
import { SagalineError } from '../core/errors.ts';
import { pgPool } from '../core/clients.ts';
import { newId } from '../core/ids.ts';
import { waitFor } from '../core/wait.ts';
import type { SagaRecord } from '../processors/engine/client.ts';
import { SAGAS_DATABASE } from '../processors/engine/monitor.ts';
import { freePorts, sagaline } from './support/cli.ts';
import { logFiles, secretsIn } from './support/logs.ts';
import { apiToken, bearer } from './support/tokens.ts';
import { config, uniqueName } from './support/fixtures.ts';
import { addTestModel, PROCESSOR_ENV, startProcessors, stopProcessors, TERMINAL, TRAINING_CONFIG } from './support/saga.ts';
import { trainingRequested } from '../examples/ml-training/request.ts';

const PROCESSES = ['model-service', 'resource-service', 'training-service', 'audit-service', 'saga-monitor'];
const tenant = uniqueName('api');
const modelId = uniqueName('model');
let api: ChildProcess;
let apiStderr = '';
let base = '';
let completed = '';
let compensated = '';
/** An operator's token: what every request of this file sends unless a test says otherwise. */
let operator = '';

interface ErrorBody {
  error: { code: string; message: string };
}

const post = (path: string, body: string, token = operator) => fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? bearer(token) : {}) }, body });
const get = (path: string, token = operator) => fetch(`${base}${path}`, { headers: token ? bearer(token) : {} });

/** Polls the saga's own resource until it reaches a terminal state. */
async function untilTerminal(location: string): Promise<SagaRecord> {
  return waitFor(
    `saga ${location} to reach a terminal status`,
    async () => {
      const res = await get(location);
      if (res.status !== 200) return false;
      const saga = (await res.json()) as SagaRecord;
      return TERMINAL.includes(saga.status) ? saga : false;
    },
    { timeoutMs: 120_000, intervalMs: 500 },
  );
}

/** Starts a saga over HTTP; returns its Location. */
async function startSaga(levers: { failAt?: string } = {}): Promise<string> {
  const sagaId = newId();
  const payload = trainingRequested(sagaId, { tenantId: tenant, modelId, trainingDurationMs: 300, ...levers });
  const res = await post('/sagas/model-training', JSON.stringify({ tenantId: tenant, sagaId, payload }));
  expect(res.status, await res.clone().text()).toBe(201);
  expect(await res.json()).toEqual({ sagaId, saga: 'model-training', version: 1 });
  expect(res.headers.get('location')).toBe(`/sagas/${sagaId}`);
  return `/sagas/${sagaId}`;
}

/** Prometheus text as samples; fails on any line that is neither a comment nor `name{labels} value`. */
function parsePrometheus(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  const samples = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.eE+-]+|NaN|[+-]Inf)$/.exec(line);
    expect(match, `not a Prometheus sample: ${line}`).not.toBeNull();
    const labels = Object.fromEntries([...(match![2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    samples.push({ name: match![1]!, labels, value: Number(match![3]) });
  }
  return samples;
}

describe('the HTTP API', () => {
  beforeAll(async () => {
    await startProcessors();
    await addTestModel(modelId, tenant);
    operator = await apiToken();
    // The API as its own process, on a free port
    const [port] = await freePorts(1);
    base = `http://127.0.0.1:${port}`;
    api = spawn(process.execPath, [join(PROJECT_ROOT, 'bin', 'sagaline.js'), 'serve', '--config', TRAINING_CONFIG, '--port', String(port)], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, ...PROCESSOR_ENV },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    // All of the API's log is kept: the tenancy test greps it for tokens.
    api.stderr!.setEncoding('utf8').on('data', (chunk: string) => (apiStderr += chunk));
    await waitFor('the HTTP API to answer GET /health', async () => (await get('/health')).status > 0, {
      timeoutMs: 60_000,
      abortIf: () => {
        if (api.exitCode !== null) throw new SagalineError('API_EXITED', `sagaline serve exited with ${api.exitCode}:\n${apiStderr}`);
      },
    });
  });

  afterAll(async () => {
    if (api && api.exitCode === null) {
      const exited = new Promise((resolve) => api.once('exit', resolve));
      api.kill('SIGTERM');
      await exited;
    }
    await stopProcessors();
  });

  it.each([
    ['a missing tenantId', '/sagas/model-training', JSON.stringify({ payload: {} }), 400, 'REQUEST_INVALID', 'tenantId'],
    ['a tenantId of the wrong type', '/sagas/model-training', JSON.stringify({ tenantId: 42, payload: {} }), 400, 'REQUEST_INVALID', 'tenantId must be a string'],
    ['a start message its schema refuses', '/sagas/model-training', JSON.stringify({ tenantId: 't', payload: { modelId: 7 } }), 400, 'REQUEST_INVALID', 'payload.modelId'],
    ['an extra property', '/sagas/model-training', JSON.stringify({ tenantId: 't', payload: {}, priority: 'high' }), 400, 'REQUEST_INVALID', 'priority'],
    ['malformed JSON', '/sagas/model-training', '{"tenantId": "t", "payload":', 400, 'REQUEST_INVALID', 'not valid JSON'],
    ['a saga the project does not define', '/sagas/payroll', JSON.stringify({ tenantId: 't', payload: {} }), 404, 'SAGA_NOT_FOUND', 'defined: model-training'],
  ])('given %s, when POST /sagas/{name}, then the error says what is wrong and nothing starts', async (_what, path, body, status, code, named) => {
    const res = await post(path, body);
    expect(res.status).toBe(status);
    const { error } = (await res.json()) as ErrorBody;
    expect(error.code).toBe(code);
    expect(error.message).toContain(named);
  });

  it('given a registered model, when POST /sagas/model-training, then the saga runs to Completed, readable at its Location', async () => {
    const location = await startSaga();
    completed = location.split('/').pop()!;
    const saga = await untilTerminal(location);
    expect(saga.status).toBe('Completed');
    expect(Object.fromEntries(Object.entries(saga.state.steps).map(([name, st]) => [name, st.status]))).toEqual({ RESERVE: 'succeeded', ALLOCATE: 'succeeded', TRAIN: 'succeeded', UPDATE: 'succeeded', AUDIT: 'succeeded' });
  });

  it('given a saga made to fail at UPDATE, then it ends Compensated, the failed step named', async () => {
    const location = await startSaga({ failAt: 'UPDATE' });
    compensated = location.split('/').pop()!;
    const saga = await untilTerminal(location);
    expect(saga.status).toBe('Compensated');
    expect(saga.state.steps.UPDATE).toMatchObject({ status: 'failed', reason: 'simulated failure at UPDATE' });
  });

  it('given finished sagas, when GET /sagas by status, then only those are listed, and an unknown status is a 400', async () => {
    const res = await get(`/sagas?saga=model-training&status=Completed&tenant=${tenant}&limit=1000`);
    expect(res.status).toBe(200);
    const { sagas } = (await res.json()) as { sagas: SagaRecord[] };
    expect(sagas.map((s) => s.sagaId)).toContain(completed);
    expect(new Set(sagas.map((s) => s.status))).toEqual(new Set(['Completed']));
    const bogus = await get('/sagas?status=bogus');
    expect(bogus.status).toBe(400);
    expect(((await bogus.json()) as ErrorBody).error).toMatchObject({ code: 'REQUEST_INVALID', message: expect.stringContaining('status must be one of') });
  });

  it('given the compensated saga, when GET /sagas/:id?shape=fluxora, then the Fluxora orchestrator\'s shape: FAILED, each step\'s service and state', async () => {
    const res = await get(`/sagas/${compensated}?shape=fluxora`);
    expect(res.status).toBe(200);
    const saga = (await res.json()) as { saga_id: string; name: string; state: string; status: string; current_step_index: number; steps: { name: string; service_name: string; state: string }[] };
    expect(saga).toMatchObject({ saga_id: compensated, name: 'model-training', state: 'FAILED', status: 'Compensated', current_step_index: 3 });
    expect(saga.steps.map((s) => [s.name, s.state])).toEqual([['RESERVE', 'COMPENSATED'], ['ALLOCATE', 'COMPENSATED'], ['TRAIN', 'COMPENSATED'], ['UPDATE', 'FAILED'], ['AUDIT', 'PENDING']]);
    expect(saga.steps.every((s) => s.service_name.length > 0)).toBe(true);
  });

  it('given an unknown saga id, when GET /sagas/:id, then 404', async () => {
    const res = await get(`/sagas/${newId()}`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as ErrorBody).error.code).toBe('SAGA_NOT_FOUND');
  });

  it('given an id an instance of another saga holds, when POST /sagas/model-training with it, then 409 naming that saga, and nothing is started', async () => {
    // Given: the projection holds the id as an instance of a saga of another project
    const sagaId = newId();
    const engine = pgPool(config, SAGAS_DATABASE, 1);
    try {
      await engine.query(
        `insert into saga_instances (saga_id, saga, version, status, tenant_id, traceparent, last_message_id, state, started_at)
         values ($1, 'parcel-delivery', 1, 'Running', $2, '', gen_random_uuid(), '{"saga":"parcel-delivery"}', now())`,
        [sagaId, tenant],
      );
      // When
      const res = await post('/sagas/model-training', JSON.stringify({ tenantId: tenant, sagaId, payload: trainingRequested(sagaId, { tenantId: tenant, modelId, trainingDurationMs: 300 }) }));
      // Then
      expect(res.status).toBe(409);
      expect(await res.json()).toEqual({ error: { code: 'SAGA_ID_TAKEN', message: `saga id "${sagaId}" is already an instance of parcel-delivery; an instance of model-training needs an id of its own` } });
      const rows = await engine.query<{ saga: string }>('select saga from saga_instances where saga_id = $1', [sagaId]);
      expect(rows.rows).toEqual([{ saga: 'parcel-delivery' }]);
    } finally {
      await engine.query('delete from saga_instances where saga_id = $1', [sagaId]);
      await engine.end();
    }
  });

  it('given the compensated saga, when GET /sagas/:id/events, then the forward steps, the failure and the compensations in causal order', async () => {
    // When its history is read from the event log
    const res = await get(`/sagas/${compensated}/events`);

    // Then forward steps come first, then the failure, then the compensations in reverse step order
    expect(res.status).toBe(200);
    const timeline = (await res.json()) as { sagaId: string; events: { type: string; service: string }[]; state: { status: string } };
    expect(timeline.sagaId).toBe(compensated);
    expect(timeline.events.map((e) => e.type).filter((t) => t !== 'SagaStarted')).toEqual([
      'TrainingRequested', 'ModelReserved', 'ResourcesAllocated', 'TrainingCompleted',
      'ModelUpdateFailed',
      'TrainingCancelled', 'ResourcesReleased', 'ModelReservationReleased',
    ]);
    expect(timeline.state.status).toBe('Compensated');

    // And a saga with nothing in the log is a 404
    const unknown = await get(`/sagas/${newId()}/events`);
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as ErrorBody).error.code).toBe('SAGA_NOT_FOUND');
  });

  it('given the stack and the project\'s processes up, when GET /health, then ok with every component and process healthy', async () => {
    const res = await get('/health');
    const health = (await res.json()) as { status: string; components: { name: string; healthy: boolean }[]; processors: { name: string; healthy: boolean }[] };
    expect(res.status, JSON.stringify(health)).toBe(200);
    expect(health.status).toBe('ok');
    expect(health.components.map((c) => [c.name, c.healthy])).toEqual([['postgres', true], ['kafka', true], ['connect', true], ['registry', true]]);
    expect(health.processors.map((p) => [p.name, p.healthy])).toEqual(PROCESSES.map((name) => [name, true]));
  });

  it('when GET /metrics, then Prometheus text with the processes\' counters, the handler, consume-delay and fetch histograms, consumer lag and instances per saga and status', async () => {
    // When the metrics are scraped
    const res = await get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const samples = parsePrometheus(await res.text());
    const named = (name: string) => samples.filter((s) => s.name === name);

    // Then every line parses, and the pipeline's metrics are all there
    const consumedByModelService = named('sagaline_messages_consumed_total').filter((s) => s.labels.service === 'model-service');
    expect(consumedByModelService.reduce((sum, s) => sum + s.value, 0)).toBeGreaterThan(0);
    expect(named('sagaline_messages_published_total').length).toBeGreaterThan(0);
    expect(named('sagaline_handler_duration_seconds_bucket').length).toBeGreaterThan(0);
    const waitedAtModelService = named('sagaline_consume_delay_seconds_count').filter((s) => s.labels.service === 'model-service');
    expect(waitedAtModelService.reduce((sum, s) => sum + s.value, 0)).toBeGreaterThan(0);
    expect(named('sagaline_fetch_duration_seconds_count').filter((s) => s.labels.service === 'model-service').reduce((sum, s) => sum + s.value, 0)).toBeGreaterThan(0);
    expect(named('sagaline_consumer_lag').map((s) => s.labels.group)).toEqual(expect.arrayContaining([...PROCESSES.slice(0, 4).map((n) => `sagaline-model-training-${n}`), 'sagaline-monitor.model-training']));
    expect(named('sagaline_sagas').find((s) => s.labels.saga === 'model-training' && s.labels.status === 'Completed')?.value).toBeGreaterThanOrEqual(1);
    expect(named('sagaline_processor_up').map((s) => [s.labels.service, s.value])).toEqual(PROCESSES.map((n) => [n, 1]));
  });

  it('given the finished sagas, when an operator acts on them over HTTP, then each refusal names why (409), an unknown saga is a 404, and nothing is written', async () => {
    const before = await (await get(`/sagas/${completed}?shape=record`)).json();
    const cancel = await post(`/sagas/${completed}/cancel`, JSON.stringify({ reason: 'customer asked', by: 'ops' }));
    expect(cancel.status).toBe(409);
    expect(((await cancel.json()) as ErrorBody).error).toEqual({ code: 'ACTION_REFUSED', message: `cannot cancel saga ${completed}: ${completed} has ended (Completed): nothing to cancel` });
    const retry = await post(`/sagas/${compensated}/retry`, JSON.stringify({ reason: 'fixed' }));
    expect(retry.status).toBe(409);
    expect(((await retry.json()) as ErrorBody).error.message).toContain(`${compensated} is Compensated: only a Failed saga's compensation can be retried`);
    const unknown = await post('/sagas/no-such-saga/cancel', JSON.stringify({ reason: 'r' }));
    expect(unknown.status).toBe(404);
    const resume = await post(`/sagas/${completed}/resume`, JSON.stringify({ service: 'model-service', reason: 'r' }));
    expect(resume.status).toBe(404);
    expect(((await resume.json()) as ErrorBody).error).toEqual({ code: 'PARKED_MESSAGE_NOT_FOUND', message: `no message of saga ${completed} is parked at model-service` });
    expect(await (await get(`/sagas/${completed}?shape=record`)).json()).toEqual(before);
  });

  it('when GET /parked, /stuck and /dead-letters, then each answers its list, and a filter it does not have is a 400', async () => {
    const parked = await get(`/parked?saga=${completed}`);
    expect(parked.status).toBe(200);
    expect(await parked.json()).toEqual({ parked: [] });
    const stuck = await get('/stuck');
    expect(stuck.status).toBe(200);
    expect(((await stuck.json()) as { stuck: { sagaId: string }[] }).stuck.map((s) => s.sagaId)).not.toContain(completed);
    const letters = await get(`/dead-letters?saga=${completed}`);
    expect(letters.status).toBe(200);
    expect(await letters.json()).toEqual({ deadLetters: [] });
    const badTopic = await get('/dead-letters?topic=nope');
    expect(badTopic.status).toBe(400);
    expect(((await badTopic.json()) as ErrorBody).error.message).toContain('"nope" is not an event log');
  });

  describe('tokens and tenants', () => {
    const other = uniqueName('other-tenant');
    let tenantA = '';
    let tenantAId = '';
    let tenantB = '';
    const errorOf = async (res: Response) => ((await res.json()) as ErrorBody).error;

    beforeAll(async () => {
      // Tenant A's token as a user makes it (printed once on stdout), tenant B's from the library
      const created = await sagaline(['tokens', 'create', '--tenant', tenant, '--label', 'api test', '--json']);
      expect(created.code, created.stderr).toBe(0);
      ({ token: tenantA, id: tenantAId } = JSON.parse(created.stdout) as { token: string; id: string });
      tenantB = await apiToken({ role: 'tenant', tenantId: other });
    });

    it('given no token, a malformed one or an unknown one, when any route but the probes and the UI is called, then 401 naming why', async () => {
      for (const path of ['/sagas', `/sagas/${completed}`, '/definitions', '/dead-letters', '/metrics', '/2pc/transactions/tx-1']) {
        const res = await get(path, '');
        expect(res.status, path).toBe(401);
        expect((await errorOf(res)).message).toContain('Authorization: Bearer');
      }
      const start = await post('/sagas/model-training', JSON.stringify({ tenantId: tenant, payload: {} }), '');
      expect(start.status).toBe(401);
      const malformed = await fetch(`${base}/sagas`, { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
      expect(malformed.status).toBe(401);
      expect((await errorOf(malformed)).message).toBe('the Authorization header is not "Bearer <token>"');
      const unknown = await get('/sagas', `sgl_000000000000_${'A'.repeat(43)}`);
      expect(unknown.status).toBe(401);
      expect(await errorOf(unknown)).toEqual({ code: 'UNAUTHENTICATED', message: 'the bearer token is unknown or revoked' });
      for (const path of ['/health/live', '/health', '/ui/']) expect((await get(path, '')).status, path).not.toBe(401);
    });

    it("given tenant A's sagas, when tenant B reads, lists, exports or acts on them, then each is a 404 exactly as a missing saga, and a list shows none of them", async () => {
      for (const id of [completed, compensated]) {
        for (const path of [`/sagas/${id}`, `/sagas/${id}?shape=fluxora`, `/sagas/model-training/${id}`, `/sagas/${id}/definition`, `/sagas/${id}/events`]) {
          const res = await get(path, tenantB);
          expect(res.status, path).toBe(404);
          expect((await errorOf(res)).code, path).toBe('SAGA_NOT_FOUND');
        }
        for (const action of ['cancel', 'retry']) {
          const res = await post(`/sagas/${id}/${action}`, JSON.stringify({ reason: 'not mine' }), tenantB);
          expect(res.status, action).toBe(404);
        }
        // …and the same answer for an id nobody has
        const missing = await get(`/sagas/${id}-nobody`, tenantB);
        expect(missing.status).toBe(404);
      }
      const listed = (await (await get('/sagas?saga=model-training&limit=200', tenantB)).json()) as { sagas: { sagaId: string; tenantId: string }[] };
      expect(listed.sagas.map((s) => s.sagaId)).not.toContain(completed);
      expect(listed.sagas.every((s) => s.tenantId === other)).toBe(true);
      const letters = (await (await get('/dead-letters', tenantB)).json()) as { deadLetters: { saga: { tenantId: string } | null }[] };
      expect(letters.deadLetters.every((d) => d.saga?.tenantId === other)).toBe(true);
    });

    it("given tenant B's token, when it lists or starts a saga as tenant A, then 403 naming its own tenant, and nothing is started", async () => {
      const list = await get(`/sagas?tenant=${tenant}`, tenantB);
      expect(list.status).toBe(403);
      expect(await errorOf(list)).toEqual({ code: 'FORBIDDEN', message: `this token is for tenant ${JSON.stringify(other)}; it cannot act for tenant ${JSON.stringify(tenant)}` });
      const sagaId = newId();
      const start = await post('/sagas/model-training', JSON.stringify({ tenantId: tenant, sagaId, payload: trainingRequested(sagaId, { tenantId: tenant, modelId, trainingDurationMs: 300 }) }), tenantB);
      expect(start.status).toBe(403);
      // Refused before anything was written: the engine's outbox has no row of that saga
      const pool = pgPool(config, SAGAS_DATABASE, 1);
      try {
        expect((await pool.query('select 1 from outbox where saga_id = $1', [sagaId])).rowCount).toBe(0);
      } finally {
        await pool.end();
      }
    });

    it("given tenant B's token, when it calls an operator route, then 403: operator actions, two-phase commit and /metrics need the operator", async () => {
      const calls: [string, string, string?][] = [
        ['GET', '/metrics'],
        ['GET', '/stuck'],
        ['GET', '/parked'],
        ['GET', '/2pc/transactions/tx-1'],
        ['POST', '/2pc/transactions', JSON.stringify({ operation: 'o', participants: [] })],
        ['POST', `/sagas/${completed}/resume`, JSON.stringify({ service: 'model-service', reason: 'r' })],
        ['POST', `/sagas/${completed}/skip`, JSON.stringify({ service: 'model-service', reason: 'r' })],
        ['POST', '/dead-letters/redrive', JSON.stringify({ positions: ['x:0:0'], reason: 'r' })],
      ];
      for (const [method, path, body] of calls) {
        const res = method === 'GET' ? await get(path, tenantB) : await post(path, body!, tenantB);
        expect(res.status, `${method} ${path}`).toBe(403);
        expect((await errorOf(res)).message, path).toContain('needs an operator token');
      }
      expect((await get('/metrics')).status).toBe(200);
    });

    it("given tenant A's token, then it reads, lists and exports its own sagas, acts on them, and starts one without naming its tenant", async () => {
      expect(((await (await get(`/sagas/${completed}`, tenantA)).json()) as SagaRecord).status).toBe('Completed');
      expect((await get(`/sagas/${compensated}/events`, tenantA)).status).toBe(200);
      const mine = (await (await get('/sagas?saga=model-training&limit=200', tenantA)).json()) as { sagas: { sagaId: string; tenantId: string }[] };
      expect(mine.sagas.map((s) => s.sagaId)).toEqual(expect.arrayContaining([completed, compensated]));
      expect(mine.sagas.every((s) => s.tenantId === tenant)).toBe(true);
      // Reaching the action: refused for the saga's state (409), not for the caller
      expect((await post(`/sagas/${completed}/cancel`, JSON.stringify({ reason: 'r' }), tenantA)).status).toBe(409);
      const sagaId = newId();
      const start = await post('/sagas/model-training', JSON.stringify({ sagaId, payload: trainingRequested(sagaId, { tenantId: tenant, modelId, trainingDurationMs: 300 }) }), tenantA);
      expect(start.status, await start.clone().text()).toBe(201);
      const saga = await untilTerminal(`/sagas/${sagaId}`);
      expect(saga).toMatchObject({ status: 'Completed', tenantId: tenant });
    });

    it("given tenant A's token revoked with the CLI, then its next request is a 401, and no token appears in the API's log nor in any log of the stack or its processes", async () => {
      expect((await get(`/sagas/${completed}`, tenantA)).status).toBe(200);
      const revoked = await sagaline(['tokens', 'revoke', tenantAId]);
      expect(revoked.code, revoked.stderr).toBe(0);
      expect(revoked.stdout).toContain(`token ${tenantAId} revoked at`);
      const after = await get(`/sagas/${completed}`, tenantA);
      expect(after.status).toBe(401);
      const listed = JSON.parse((await sagaline(['tokens', 'list', '--json'])).stdout) as { tokens: { id: string; revokedAt: string | null }[] };
      expect(listed.tokens.find((t) => t.id === tenantAId)?.revokedAt).not.toBeNull();
      expect(JSON.stringify(listed)).not.toContain(tenantA);
      expect(apiStderr).toContain('"status":401');
      for (const token of [operator, tenantA, tenantB]) expect(apiStderr.includes(token)).toBe(false);
      // The secret part whole: it is base64url, so it may itself hold an underscore
      const secret = /^sgl_[0-9a-f]{12}_(.+)$/.exec(tenantA)![1]!;
      expect(secret).toHaveLength(43);
      expect(apiStderr.includes(secret)).toBe(false);
      const logs = logFiles(config.stack.stateDir);
      expect(logs.some((f) => f.endsWith('postgres.log'))).toBe(true);
      expect(secretsIn(logs, { 'operator token': operator, "tenant A's token": tenantA, "tenant B's token": tenantB })).toEqual([]);
    });
  });
});
