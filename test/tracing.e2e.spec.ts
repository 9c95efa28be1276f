/**
 * OpenTelemetry across the pipeline: the training example's four services and saga monitor run as
 * their own OS processes and the API as `sagaline serve`, each exporting spans over OTLP/HTTP
 * (JSON) to a receiver this test starts, configured only by the standard OTEL_* variables. One saga
 * started over HTTP arrives as one trace: the start, each outbox write, each CDC hop and each
 * service's handling, every span's parent in the same trace.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../core/config.ts';
import { SagalineError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import { waitFor } from '../core/wait.ts';
import { trainingRequested } from '../examples/ml-training/request.ts';
import type { SagaRecord } from '../processors/engine/client.ts';
import { freePorts } from './support/cli.ts';
import { uniqueName } from './support/fixtures.ts';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './support/otlp-receiver.ts';
import { addTestModel, PROCESSOR_ENV, startProcessors, stopProcessors, TRAINING_CONFIG } from './support/saga.ts';
import { apiToken, bearer } from './support/tokens.ts';
import { startServices, type TestServices } from './support/http-services.ts';
import { SagaHttpClient } from '../api/saga-http-client.ts';
import { fileURLToPath } from 'node:url';

const POSTED_CONFIG = fileURLToPath(new URL('./fixtures/posted-sagas/sagaline.config.ts', import.meta.url));

const SERVICES = ['model-service', 'resource-service', 'training-service', 'audit-service'];
const SPAN_KIND = { INTERNAL: 1, CLIENT: 3, PRODUCER: 4, CONSUMER: 5 };
const tenant = uniqueName('traced');
const modelId = uniqueName('model');
let receiver: OtlpReceiver;
let api: ChildProcess | undefined;
let apiStderr = '';
let base = '';
let token = '';
let services: TestServices | undefined;
const otel = (receiverUrl: string) => ({ OTEL_EXPORTER_OTLP_ENDPOINT: receiverUrl, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '200' });

/** `sagaline serve --config file` with these variables, until `stop`. */
async function serve(file: string, env: Record<string, string>): Promise<{ base: string; stop(): Promise<void> }> {
  const [port] = await freePorts(1);
  let stderr = '';
  const child = spawn(process.execPath, [join(PROJECT_ROOT, 'bin', 'sagaline.js'), 'serve', '--config', file, '--port', String(port)], { cwd: PROJECT_ROOT, env: { ...process.env, ...PROCESSOR_ENV, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-5_000)));
  const url = `http://127.0.0.1:${port}`;
  await waitFor('sagaline serve to answer GET /health/live', async () => (await fetch(`${url}/health/live`).catch(() => undefined))?.ok, {
    timeoutMs: 60_000,
    abortIf: () => {
      if (child.exitCode !== null) throw new SagalineError('API_EXITED', `sagaline serve exited with ${child.exitCode}:\n${stderr}`);
    },
  });
  return {
    base: url,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
describe('OpenTelemetry traces of a saga', () => {
  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    const otel = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '200' };
    await startProcessors(otel);
    await addTestModel(modelId, tenant);
    token = await apiToken();
    const [port] = await freePorts(1);
    base = `http://127.0.0.1:${port}`;
    api = spawn(process.execPath, [join(PROJECT_ROOT, 'bin', 'sagaline.js'), 'serve', '--config', TRAINING_CONFIG, '--port', String(port)], { cwd: PROJECT_ROOT, env: { ...process.env, ...PROCESSOR_ENV, ...otel }, stdio: ['ignore', 'ignore', 'pipe'] });
    api.stderr!.setEncoding('utf8').on('data', (chunk: string) => (apiStderr = (apiStderr + chunk).slice(-5_000)));
    await waitFor('sagaline serve to answer GET /health/live', async () => (await fetch(`${base}/health/live`).catch(() => undefined))?.ok, {
      timeoutMs: 60_000,
      abortIf: () => {
        if (api!.exitCode !== null) throw new SagalineError('API_EXITED', `sagaline serve exited with ${api!.exitCode}:\n${apiStderr}`);
      },
    });
  });

  afterAll(async () => {
    if (api && api.exitCode === null) {
      const exited = new Promise((resolve) => api!.once('exit', resolve));
      api.kill('SIGTERM');
      await exited;
    }
    await stopProcessors();
    await stopProcessors(POSTED_CONFIG);
    await services?.close();
    await receiver?.close();
  });

  it('given every process exports to an OTLP receiver, when a saga is started over HTTP and completes, then its spans arrive as one trace covering the API and every service it crossed', async () => {
    // When a saga is started over HTTP and runs to its end
    const sagaId = newId();
    const res = await fetch(`${base}/sagas/model-training`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...bearer(token) },
      body: JSON.stringify({ tenantId: tenant, sagaId, payload: trainingRequested(sagaId, { tenantId: tenant, modelId, trainingDurationMs: 300 }) }),
    });
    expect(res.status, await res.clone().text()).toBe(201);
    await waitFor(`saga ${sagaId} to complete`, async () => {
      const r = await fetch(`${base}/sagas/${sagaId}`, { headers: bearer(token) });
      return r.ok && ((await r.json()) as SagaRecord).status === 'Completed';
    }, { timeoutMs: 120_000, intervalMs: 300 });

    // Then its spans arrive: from the API and each of the four services, each span's parent among them
    const ofSaga = (): ReceivedSpan[] => receiver.spans.filter((s) => s.attributes['sagaline.saga_id'] === sagaId);
    const trace = await waitFor('the saga\'s spans from the API and every service, with every parent received', async () => {
      const spans = ofSaga();
      const traceIds = new Set(spans.map((s) => s.traceId));
      if (traceIds.size !== 1) return undefined;
      const all = receiver.spans.filter((s) => traceIds.has(s.traceId));
      const ids = new Set(all.map((s) => s.spanId));
      const services = new Set(all.map((s) => s.service));
      const complete = ['sagaline-api', ...SERVICES.map((s) => `sagaline-${s}`)].every((s) => services.has(s)) && all.every((s) => s.parentSpanId === '' || ids.has(s.parentSpanId));
      return complete ? all : undefined;
    }, { timeoutMs: 60_000, intervalMs: 250 });

    expect(receiver.refused).toEqual([]);
    // One root: the start, in the API's process
    const roots = trace.filter((s) => s.parentSpanId === '');
    expect(roots.map((s) => [s.service, s.name, s.kind])).toEqual([['sagaline-api', 'start model-training', SPAN_KIND.PRODUCER]]);
    // Every service handled the saga's messages, each handling under a CDC hop from an outbox write
    const byId = new Map(trace.map((s) => [s.spanId, s]));
    for (const service of SERVICES) {
      const handled = trace.filter((s) => s.service === `sagaline-${service}` && s.name.startsWith('handle '));
      expect(handled.length, service).toBeGreaterThan(0);
      for (const h of handled) {
        const cdc = byId.get(h.parentSpanId)!;
        expect([cdc.name, cdc.kind, cdc.service], `${service} ${h.name}`).toEqual([`cdc ${String(h.attributes['messaging.destination.name'])}`, SPAN_KIND.CONSUMER, h.service]);
        const written = byId.get(cdc.parentSpanId)!;
        expect([written.name.startsWith('outbox '), written.kind], `${service} ${h.name}`).toEqual([true, SPAN_KIND.PRODUCER]);
        // The hop starts when the row was written and ends when this service got it
        expect(cdc.startMs).toBeGreaterThanOrEqual(written.startMs - 1_000);
        expect(cdc.endMs).toBeGreaterThanOrEqual(cdc.startMs);
        expect(h.attributes['sagaline.message_type']).toBe(h.name.slice('handle '.length));
      }
    }
    // Each reply a service wrote is a child of its handling, or of the report of a step that finished later (training)
    const replies = trace.filter((s) => s.name.startsWith('outbox ') && SERVICES.some((x) => s.service === `sagaline-${x}`));
    expect(replies.length).toBeGreaterThanOrEqual(SERVICES.length);
    for (const r of replies) expect(byId.get(r.parentSpanId)?.name, r.name).toMatch(/^(handle |complete )/);
    expect(trace.filter((s) => s.name.startsWith('complete ')).map((s) => [s.service, s.name])).toEqual([['sagaline-training-service', 'complete TRAIN']]);
  });

  it('given a saga posted as data with two HTTP steps, when it runs, then each call is a client span of the trace and the service received that span as its traceparent', async () => {
    // Given the posted-saga runner and monitor as processes, and two plain HTTP services
    services = await startServices(['flights', 'hotels']);
    // (the training example's processes are done: these take their metrics ports)
    await stopProcessors();
    const env = { ...otel(receiver.url), SAGALINE_SERVICES: JSON.stringify(services.urls) };
    await startProcessors(env, POSTED_CONFIG);
    const postedApi = await serve(POSTED_CONFIG, env);
    try {
      // When a trip is posted and runs
      const client = new SagaHttpClient(postedApi.base, { token: await apiToken({ role: 'tenant', tenantId: tenant }) });
      const tripId = uniqueName('trip');
      const step = (service: string) => ({ service_name: service, action_endpoint: `/${service}/book`, compensation_endpoint: `/${service}/cancel`, payload: { tripId } });
      const { saga_id: sagaId } = await client.startSaga('trip', [step('flights'), step('hotels')]);
      await waitFor(`posted saga ${sagaId} to complete`, async () => (await client.getSagaStatus(sagaId))?.state === 'COMPLETED', { timeoutMs: 60_000, intervalMs: 300 });

      // Then each call is a CLIENT span in the saga's one trace, and the service got that span as its parent
      const calls = services.calls.filter((c) => c.sagaId === sagaId);
      expect(calls.map((c) => c.path)).toEqual(['/flights/book', '/hotels/book']);
      const spans = await waitFor('the client span of each call, and the trace\'s root', async () => {
        const ofSaga = receiver.spans.filter((s) => s.attributes['sagaline.saga_id'] === sagaId);
        const clientSpans = ofSaga.filter((s) => s.kind === SPAN_KIND.CLIENT);
        const root = ofSaga.find((s) => s.parentSpanId === '');
        return clientSpans.length === 2 && root ? { clientSpans, root, ofSaga } : undefined;
      }, { timeoutMs: 30_000, intervalMs: 250 });
      expect(new Set(spans.ofSaga.map((s) => s.traceId)).size).toBe(1);
      expect([spans.root.service, spans.root.kind]).toEqual(['sagaline-api', SPAN_KIND.PRODUCER]);
      expect(spans.root.name).toMatch(/^start /);
      for (const call of calls) {
        const service = call.path.split('/')[1]!;
        const span = spans.clientSpans.find((s) => s.name === `POST ${service}`);
        expect(span, service).toBeDefined();
        expect(call.traceparent, service).toBe(`00-${span!.traceId}-${span!.spanId}-01`);
        expect(span!.attributes['http.response.status_code']).toBe(200);
      }
      expect(receiver.refused).toEqual([]);
    } finally {
      await postedApi.stop();
    }
  });
});
