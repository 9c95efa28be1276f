import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, SagalineError } from '../../core/errors.ts';
import { defineSaga } from '../saga/define-saga.ts';
import type { InstanceState } from '../saga/instance.ts';
import { HTTP_MESSAGE_SHAPES, httpParticipant, idempotencyKey } from './http-participant.ts';
import type { StepInput } from './participant.ts';
import { consulServices, firstOf, staticServices } from './service-registry.ts';
import { loadConfig } from '../../core/config.ts';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runParticipant } from './run-participant.ts';

const saga = defineSaga({
  name: 'booking',
  version: 1,
  startedBy: 'Requested',
  steps: {
    BOOK: { owner: 'rooms', succeeded: 'Booked', failed: 'Refused', compensatedBy: 'Cancelled' },
    NOTE: { owner: 'rooms', after: ['BOOK'], succeeded: 'Noted', failed: 'NotNoted' },
  },
});

interface Seen { path: string; headers: IncomingHttpHeaders; body: unknown }

/** A real HTTP server on this machine answering each path as `answers` says. */
async function server(answers: Record<string, { status: number; body?: string; delayMs?: number }>): Promise<{ url: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const s: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      seen.push({ path, headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString() || 'null') });
      const a = answers[path] ?? { status: 404, body: 'no such path' };
      setTimeout(() => {
        res.writeHead(a.status, { 'content-type': 'application/json' });
        res.end(a.body ?? '');
      }, a.delayMs ?? 0);
    });
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise<void>((r) => { s.closeAllConnections(); s.close(() => r()); }),
  };
}

const state: InstanceState = {
  sagaId: 's-1',
  saga: 'booking',
  version: 1,
  status: 'Running',
  start: { type: 'Requested', payload: { room: 12 } },
  startedAt: '2026-12-04T10:00:00.000Z',
  steps: { BOOK: { status: 'running', attempts: 0 }, NOTE: { status: 'pending', attempts: 0 } },
  succeededInOrder: [],
} as InstanceState;

const input = (step: string, attempt = 1): StepInput => ({
  saga: state,
  step,
  message: { type: 'Requested', payload: { room: 12 }, metadata: { messageId: 'm-1', sagaId: 's-1', tenantId: 't', correlationId: 's-1', causationId: 's-1', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } },
  tx: undefined as never,
  attempt,
});

describe('HTTP participant', () => {
  let svc: Awaited<ReturnType<typeof server>>;
  beforeAll(async () => {
    svc = await server({
      '/ok': { status: 201, body: '{"ref":"r-1"}' },
      '/refuse': { status: 409, body: '{"error":"full"}' },
      '/busy': { status: 503, body: 'try later' },
      '/slow': { status: 200, delayMs: 2_000 },
      '/declared': { status: 200, body: '{"error":"full"}' },
      '/undo': { status: 200, body: '{}' },
      '/undo-refused': { status: 409, body: '{}' },
    });
  });
  afterAll(() => svc.close());

  const rooms = (steps: Record<string, { action: string; compensation?: string; timeoutMs?: number; failure?: (r: { status: number; body: unknown }) => string | undefined }>, services = staticServices({ rooms: svc.url })) =>
    httpParticipant(saga, 'rooms', { steps: { NOTE: { action: '/ok' }, ...steps } as never, services });

  it('given a 2xx, then the step succeeds with the status, the body and the attempt, and the call carries the key, the saga and the trace', async () => {
    const p = rooms({ BOOK: { action: '/ok', compensation: '/undo' } });
    const outcome = await p.steps.BOOK!.act(input('BOOK', 2));
    expect(outcome).toEqual({ outcome: 'succeeded', payload: { status: 201, body: '{"ref":"r-1"}', attempt: 2 } });
    const call = svc.seen.at(-1)!;
    expect(call.path).toBe('/ok');
    expect(call.body).toEqual({ room: 12 });
    expect(call.headers['idempotency-key']).toBe(idempotencyKey('s-1', 'BOOK', 'action'));
    expect(call.headers['x-saga-id']).toBe('s-1');
    expect(call.headers.traceparent).toBe('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
  });

  it('given a 4xx, then the step fails for a business reason naming the call and the answer', async () => {
    const outcome = await rooms({ BOOK: { action: '/refuse', compensation: '/undo' } }).steps.BOOK!.act(input('BOOK'));
    const reason = `POST ${svc.url}/refuse answered 409: {"error":"full"}`;
    expect(outcome).toEqual({ outcome: 'failed', reason, payload: { reason, status: 409, body: '{"error":"full"}' } });
  });

  it('given a 2xx the step declares a failure, then the step fails with the declared reason', async () => {
    const p = rooms({ BOOK: { action: '/declared', compensation: '/undo', failure: ({ body }) => (body as { error?: string }).error } });
    expect(await p.steps.BOOK!.act(input('BOOK'))).toMatchObject({ outcome: 'failed', reason: 'full', payload: { status: 200 } });
  });

  it('given a 5xx, a refused connection or no answer in time, then the call throws a retriable error', async () => {
    const busy = rooms({ BOOK: { action: '/busy', compensation: '/undo' } }).steps.BOOK!.act(input('BOOK'));
    await expect(busy).rejects.toMatchObject({ retriable: true, message: `POST ${svc.url}/busy answered 503: try later` });
    const closed = await server({});
    await closed.close();
    const refused = rooms({ BOOK: { action: '/ok', compensation: '/undo' } }, staticServices({ rooms: closed.url })).steps.BOOK!.act(input('BOOK'));
    await expect(refused).rejects.toMatchObject({ retriable: true, message: `POST ${closed.url}/ok: ECONNREFUSED` });
    const slow = rooms({ BOOK: { action: '/slow', compensation: '/undo', timeoutMs: 200 } }).steps.BOOK!.act(input('BOOK'));
    await expect(slow).rejects.toMatchObject({ retriable: true, message: `POST ${svc.url}/slow: no answer within 200 ms` });
  });

  it('given settings of its own, then their services and call timeout are used, not the environment', async () => {
    const config = loadConfig({ SAGALINE_SERVICES: `rooms=${svc.url}`, SAGALINE_HTTP_TIMEOUT_MS: '150' });
    const p = httpParticipant(saga, 'rooms', { steps: { BOOK: { action: '/slow', compensation: '/undo' }, NOTE: { action: '/ok' } }, config });
    await expect(p.steps.NOTE!.act(input('NOTE'))).resolves.toMatchObject({ outcome: 'succeeded', payload: { status: 201 } });
    await expect(p.steps.BOOK!.act(input('BOOK'))).rejects.toMatchObject({ retriable: true, message: `POST ${svc.url}/slow: no answer within 150 ms` });
  });

  it('given a service no registry knows, then the action fails naming it and the compensation is retried', async () => {
    const p = rooms({ BOOK: { action: '/ok', compensation: '/undo' } }, staticServices({ other: svc.url }));
    const outcome = await p.steps.BOOK!.act(input('BOOK'));
    expect(outcome).toMatchObject({ outcome: 'failed', reason: 'service rooms is not known to the configured services (other)', payload: { status: null, body: null } });
    await expect(p.steps.BOOK!.compensate!({ ...input('BOOK'), result: undefined })).rejects.toMatchObject({ retriable: true });
  });

  it('given a compensation, then it posts the step id, the original payload and the action result; anything but 2xx is retried', async () => {
    const p = rooms({ BOOK: { action: '/ok', compensation: '/undo' } });
    const done = await p.steps.BOOK!.compensate!({ ...input('BOOK'), result: { status: 201, body: '{"ref":"r-1"}', attempt: 1 } });
    expect(done).toEqual({ outcome: 'succeeded', payload: { status: 200, body: '{}', attempt: 1 } });
    const call = svc.seen.at(-1)!;
    expect(call.body).toEqual({ step_id: 's-1-BOOK', original_payload: { room: 12 }, result: { ref: 'r-1' } });
    expect(call.headers['idempotency-key']).toBe(idempotencyKey('s-1', 'BOOK', 'compensation'));
    const refused = rooms({ BOOK: { action: '/ok', compensation: '/undo-refused' } }).steps.BOOK!.compensate!({ ...input('BOOK'), result: undefined });
    await expect(refused).rejects.toMatchObject({ retriable: true, message: `POST ${svc.url}/undo-refused answered 409: {}` });
  });

  it('given endpoints that are missing or malformed, then building it throws one error naming each', () => {
    expect(() => httpParticipant(saga, 'rooms', { steps: { BOOK: { action: 'ok' }, NOTE: { action: '/ok', timeoutMs: 0 } }, services: staticServices({}) })).toThrow(ConfigError);
    try {
      httpParticipant(saga, 'rooms', { steps: { BOOK: { action: 'ok' }, NOTE: { action: '/ok', timeoutMs: 0 } }, services: staticServices({}) });
    } catch (err) {
      expect((err as Error).message).toContain('step BOOK: action must be a path starting with / or an http(s) URL, got "ok"');
      expect((err as Error).message).toContain('step BOOK: no compensation endpoint, but the step is compensated by Cancelled');
      expect((err as Error).message).toContain('step NOTE: timeoutMs must be a positive number of milliseconds, got 0');
    }
    expect(() => httpParticipant(saga, 'rooms', { steps: { BOOK: { action: '/ok', compensation: '/undo' } }, services: staticServices({}) })).toThrow(/step NOTE: no act\(\) handler/);
  });

  it('given the participant, then it names the payloads its messages carry, for the records to be checked at start', () => {
    const p = rooms({ BOOK: { action: '/ok', compensation: '/undo' } });
    expect(p.database).toBe('http_rooms');
    expect(p.replyExamples?.get('Booked')).toEqual([HTTP_MESSAGE_SHAPES.succeeded]);
    expect(p.replyExamples?.get('Refused')).toEqual([HTTP_MESSAGE_SHAPES.failed, HTTP_MESSAGE_SHAPES.failedWithoutAnswer]);
    expect(p.replyExamples?.get('Cancelled')).toEqual([HTTP_MESSAGE_SHAPES.succeeded]);
    expect(p.steps.BOOK!.failurePayload!('gave up', state)).toEqual({ reason: 'gave up', status: null, body: null });
  });
});

describe('HTTP participant records', () => {
  it('given a success record without the HTTP shape, when the participant starts, then it refuses naming the message, before connecting anywhere', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sagaline-http-schemas-'));
    try {
      mkdirSync(join(dir, 'messages'));
      const record = (name: string, fields: unknown[]) => writeFileSync(join(dir, 'messages', `${name}.avsc`), JSON.stringify({ type: 'record', name, namespace: 'test.rooms', fields }));
      const answer = [{ name: 'status', type: 'int' }, { name: 'body', type: 'string' }, { name: 'attempt', type: 'int' }];
      const failure = [{ name: 'reason', type: 'string' }, { name: 'status', type: ['null', 'int'], default: null }, { name: 'body', type: ['null', 'string'], default: null }];
      record('Requested', [{ name: 'room', type: 'int' }]);
      record('Booked', [{ name: 'bookingId', type: 'string' }]);
      record('Refused', failure);
      record('Cancelled', answer);
      record('Noted', answer);
      record('NotNoted', failure);
      const p = httpParticipant(saga, 'rooms', { steps: { BOOK: { action: '/ok', compensation: '/undo' }, NOTE: { action: '/ok' } }, services: staticServices({}) });
      // Nothing listens on these ports: a refusal that came after connecting would be another error.
      const config = loadConfig({ KAFKA_BROKERS: '127.0.0.1:1', DATABASE_URL: 'postgres://x:y@127.0.0.1:1/x', SCHEMA_REGISTRY_URL: 'http://127.0.0.1:1', CONNECT_URL: 'http://127.0.0.1:1' });
      await expect(runParticipant(p, { config, schemas: dir })).rejects.toThrow(/message Booked: its record must accept \{"status":200,"body":"\{\}","attempt":1\}, which this participant writes \(fields: bookingId\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('service registries', () => {
  it('given a Consul catalogue answer, then the first instance with an address and port is used; an empty one is unknown', async () => {
    const consul = await server({
      '/v1/catalog/service/rooms': { status: 200, body: JSON.stringify([{ Node: 'n1', Address: '10.0.0.5', ServiceAddress: '', ServicePort: 8080 }]) },
      '/v1/catalog/service/none': { status: 200, body: '[]' },
    });
    try {
      const registry = firstOf(staticServices({ billing: 'http://billing:1/' }), consulServices(consul.url));
      expect(await registry.resolve('billing')).toBe('http://billing:1');
      expect(await registry.resolve('rooms')).toBe('http://10.0.0.5:8080');
      expect(await registry.resolve('none')).toBeUndefined();
      await expect(registry.resolve('missing')).rejects.toMatchObject({ retriable: true, message: `Consul at ${consul.url} answered HTTP 404 for service missing` });
    } finally {
      await consul.close();
    }
  });

  it('given SAGALINE_SERVICES as JSON or as pairs, then each address is read; a bad one is a ConfigError naming the service', () => {
    expect(loadConfig({ SAGALINE_SERVICES: '{"rooms":"http://127.0.0.1:9000/"}' }).http.services).toEqual({ rooms: 'http://127.0.0.1:9000' });
    expect(loadConfig({ SAGALINE_SERVICES: 'rooms=http://a:1, billing=https://b' }).http.services).toEqual({ rooms: 'http://a:1', billing: 'https://b' });
    expect(() => loadConfig({ SAGALINE_SERVICES: 'rooms=ftp://a' })).toThrow(/SAGALINE_SERVICES \(service rooms\) must use http: or https:/);
    expect(() => loadConfig({ SAGALINE_SERVICES: 'rooms' })).toThrow(SagalineError);
    expect(loadConfig({}).http).toEqual({ services: {}, consulUrl: undefined, callTimeoutMs: 10_000 });
  });
});
