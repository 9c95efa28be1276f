/**
 * The HTTP API against the real stack, as a client sees it: the processors run as their own OS
 * processes and the API as a `sagaline serve` process; everything goes over HTTP.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../core/config.ts';
import { SagalineError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import { waitFor } from '../core/wait.ts';
import { PROCESSOR_NAMES } from '../processors/index.ts';
import type { SagaSummary } from '../processors/saga-state/queries.ts';
import { TERMINAL } from '../processors/saga/state.ts';
import { freePorts } from './support/cli.ts';
import { uniqueName } from './support/fixtures.ts';
import { addTestModel, PROCESSOR_ENV, startProcessors, stopProcessors } from './support/saga.ts';

const tenant = uniqueName('api');
const modelId = uniqueName('model');
let api: ChildProcess;
let apiStderr = '';
let base = '';
let completed = '';
let compensated = '';

interface ErrorBody {
  error: { code: string; message: string };
}

const post = (path: string, body: string) => fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
const get = (path: string) => fetch(`${base}${path}`);

/** Polls the saga's own resource until it reaches a terminal state. */
async function untilTerminal(location: string): Promise<SagaSummary> {
  return waitFor(
    `saga ${location} to reach a terminal state`,
    async () => {
      const res = await get(location);
      if (res.status !== 200) return false;
      const saga = (await res.json()) as SagaSummary;
      return TERMINAL.includes(saga.state) ? saga : false;
    },
    { timeoutMs: 120_000, intervalMs: 500 },
  );
}

/** Starts a saga over HTTP; returns its Location. */
async function startSaga(body: Record<string, unknown>): Promise<string> {
  const res = await post('/sagas', JSON.stringify({ tenantId: tenant, modelId, trainingDurationMs: 300, ...body }));
  expect(res.status, await res.clone().text()).toBe(201);
  const { sagaId } = (await res.json()) as { sagaId: string };
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
    // The API as its own process, on a free port
    const [port] = await freePorts(1);
    base = `http://127.0.0.1:${port}`;
    api = spawn(process.execPath, [join(PROJECT_ROOT, 'bin', 'sagaline.js'), 'serve', '--port', String(port)], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, ...PROCESSOR_ENV },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    api.stderr!.setEncoding('utf8').on('data', (chunk: string) => (apiStderr = (apiStderr + chunk).slice(-5_000)));
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
    ['a missing tenantId', JSON.stringify({ modelId: 'm' }), 'tenantId'],
    ['a tenantId of the wrong type', JSON.stringify({ tenantId: 42, modelId: 'm' }), 'tenantId must be a string'],
    ['an unknown failAt step', JSON.stringify({ tenantId: 't', modelId: 'm', failAt: 'deploy' }), 'failAt must be one of'],
    ['an extra property', JSON.stringify({ tenantId: 't', modelId: 'm', priority: 'high' }), 'priority'],
    ['malformed JSON', '{"tenantId": "t", "modelId":', 'not valid JSON'],
    ['an unknown model', JSON.stringify({ tenantId: 't', modelId: 'no-such-model' }), 'model no-such-model is not registered'],
  ])('POST /sagas with %s is a 400 that says what is wrong', async (_what, body, named) => {
    // When the bad request is sent
    const res = await post('/sagas', body);

    // Then it is refused with a JSON error naming the field or model
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as ErrorBody;
    expect(error.code).toBe('REQUEST_INVALID');
    expect(error.message).toContain(named);
  });

  it('POST /sagas starts a saga that runs to Completed, readable at its Location', async () => {
    // Given a registered model; when a training is requested over HTTP
    const location = await startSaga({});
    completed = location.split('/').pop()!;

    // Then polling its Location shows it Completed with every step succeeded
    const saga = await untilTerminal(location);
    expect(saga.state).toBe('Completed');
    expect(saga.steps.map((s) => s.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded', 'succeeded']);
  });

  it('a saga made to fail at a step ends Compensated', async () => {
    // When a training is requested that fails at the model update
    const location = await startSaga({ failAt: 'update' });
    compensated = location.split('/').pop()!;

    // Then it ends Compensated, the failed step named
    const saga = await untilTerminal(location);
    expect(saga.state).toBe('Compensated');
    expect(saga.failedStep).toBe('UPDATE');
  });

  it('GET /sagas lists sagas by state, and refuses an unknown state', async () => {
    // When the completed sagas are listed
    const res = await get('/sagas?state=Completed&limit=1000');

    // Then the completed saga is among them, and only completed ones are
    expect(res.status).toBe(200);
    const { sagas } = (await res.json()) as { sagas: SagaSummary[] };
    expect(sagas.map((s) => s.sagaId)).toContain(completed);
    expect(new Set(sagas.map((s) => s.state))).toEqual(new Set(['Completed']));

    // And a state that does not exist is a 400
    const bogus = await get('/sagas?state=bogus');
    expect(bogus.status).toBe(400);
    expect(((await bogus.json()) as ErrorBody).error).toMatchObject({ code: 'REQUEST_INVALID', message: expect.stringContaining('state must be one of') });
  });

  it('GET /sagas/:id of an unknown saga is a 404', async () => {
    const res = await get(`/sagas/${newId()}`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as ErrorBody).error.code).toBe('SAGA_NOT_FOUND');
  });

  it('GET /sagas/:id/events of the compensated saga lists the forward steps, the failure and the compensations in causal order', async () => {
    // When its history is read from the event log
    const res = await get(`/sagas/${compensated}/events`);

    // Then forward steps come first, then the failure, then the compensations in reverse step order
    expect(res.status).toBe(200);
    const timeline = (await res.json()) as { sagaId: string; events: { type: string; service: string }[]; state: SagaSummary };
    expect(timeline.sagaId).toBe(compensated);
    expect(timeline.events.map((e) => e.type)).toEqual([
      'TrainingRequested', 'ModelReserved', 'ResourcesAllocated', 'TrainingStarted', 'TrainingCompleted',
      'ModelUpdateFailed',
      'TrainingCancelled', 'ResourcesReleased', 'ModelReservationReleased',
    ]);
    expect(timeline.state.state).toBe('Compensated');

    // And a saga with nothing in the log is a 404
    const unknown = await get(`/sagas/${newId()}/events`);
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as ErrorBody).error.code).toBe('SAGA_NOT_FOUND');
  });

  it('GET /health is ok with all four components and all five processors healthy', async () => {
    const res = await get('/health');
    const health = (await res.json()) as { status: string; components: { name: string; healthy: boolean }[]; processors: { name: string; healthy: boolean }[] };
    expect(res.status, JSON.stringify(health)).toBe(200);
    expect(health.status).toBe('ok');
    expect(health.components.map((c) => [c.name, c.healthy])).toEqual([['postgres', true], ['kafka', true], ['connect', true], ['registry', true]]);
    expect(health.processors.map((p) => [p.name, p.healthy])).toEqual(PROCESSOR_NAMES.map((name) => [name, true]));
  });

  it('GET /metrics is Prometheus text with the processors\' counters, the handler histogram, consumer lag and sagas per state', async () => {
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
    expect(named('sagaline_consumer_lag').map((s) => s.labels.group)).toEqual(expect.arrayContaining(PROCESSOR_NAMES.map((n) => `sagaline-${n}`)));
    expect(named('sagaline_sagas').find((s) => s.labels.state === 'Completed')?.value).toBeGreaterThanOrEqual(1);
    expect(named('sagaline_processor_up').map((s) => [s.labels.service, s.value])).toEqual(PROCESSOR_NAMES.map((n) => [n, 1]));
  });
});
