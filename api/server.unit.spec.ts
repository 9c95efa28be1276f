/**
 * The API's request checks, through Fastify's own request injection: every request here is refused
 * before anything would reach Postgres or Kafka, so nothing needs to run.
 */
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../core/config.ts';
import { defineSaga } from '../processors/saga/define-saga.ts';
import { postedSagas } from '../processors/engine/posted-sagas.ts';
import { buildApi } from './server.ts';

const saga = defineSaga({
  name: 'ledger-transfer',
  version: 1,
  startedBy: 'TransferRequested',
  steps: { DEBIT: { owner: 'ledger', succeeded: 'Debited', failed: 'DebitRefused' } },
});
const project = { file: '/project/sagaline.config.mjs', schemas: '/project/schemas', sagas: [saga], participants: [], streams: {} };
const app = buildApi(loadConfig({ SAGALINE_API_AUTH: 'none' }), { project, client: () => Promise.reject(new Error('no client in this test: nothing may reach the stack')) }, { logger: pino({ level: 'silent' }) });
afterAll(async () => {
  await app.close();
});

const post = (payload: string, name = 'ledger-transfer') => app.inject({ method: 'POST', url: `/sagas/${name}`, headers: { 'content-type': 'application/json' }, payload });

describe('GET /sagas/{id}', () => {
  it('given a shape it does not know, then 400 names it, before the projection is read', async () => {
    const res = await app.inject({ method: 'GET', url: '/sagas/s-1?shape=xml' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toEqual({ code: 'REQUEST_INVALID', message: 'shape must be fluxora or record (or left out), got "xml"' });
  });
});

describe('requests refused before any route runs', () => {
  it('given a path that is not valid percent-encoding, then 400 in the API\'s error shape', async () => {
    const res = await app.inject({ method: 'GET', url: '/sagas/%ZZ' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('REQUEST_INVALID');
    expect(res.json().error.message).toContain('/sagas/%ZZ');
  });

  it('given a NUL character in a path or query parameter, then 400 names the parameter', async () => {
    const path = await app.inject({ method: 'GET', url: '/sagas/a%00b' });
    expect(path.statusCode).toBe(400);
    expect(path.json().error).toEqual({ code: 'REQUEST_INVALID', message: 'path parameter id contains a NUL character (\\u0000), which cannot be stored' });
    const query = await app.inject({ method: 'GET', url: '/sagas?tenant=a%00' });
    expect(query.statusCode).toBe(400);
    expect(query.json().error.message).toBe('query parameter tenant contains a NUL character (\\u0000), which cannot be stored');
  });

  it('given a saga id of 200 characters (the longest a start accepts), then the route is reached, not refused for its length', async () => {
    const res = await app.inject({ method: 'GET', url: `/sagas/${'s'.repeat(200)}` });
    // The route ran and asked for the client, which this test does not have.
    expect(res.statusCode).toBe(500);
    expect(res.json().error.code).toBe('INTERNAL');
  });
});

describe('POST /sagas (a saga posted as data)', () => {
  const body = { name: 'trip', steps: [{ service_name: 'flights', action_endpoint: '/book', compensation_endpoint: null, payload: {} }] };
  const postSaga = (api: typeof app, payload: unknown) => api.inject({ method: 'POST', url: '/sagas', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(payload) });

  it('given a config module without posted sagas, then 404 says how to add them', async () => {
    const res = await postSaga(app, body);
    expect(res.statusCode).toBe(404);
    expect(res.json().error.message).toContain('add postedSagas to its sagas and postedSagaRunner() to its participants');
  });

  describe('given a config module with posted sagas', () => {
    const withPosted = buildApi(loadConfig({ SAGALINE_API_AUTH: 'none', SAGALINE_SERVICES: '{"flights":"http://127.0.0.1:9"}' }), { project: { ...project, sagas: [saga, postedSagas] }, client: () => Promise.reject(new Error('no client in this test: nothing may reach the stack')) }, { logger: pino({ level: 'silent' }) });
    afterAll(async () => {
      await withPosted.close();
    });

    it.each([
      ['no steps', { name: 'trip', steps: [] }, 'steps: a saga needs at least one step'],
      ['an unknown service', { name: 'trip', steps: [{ ...body.steps[0], service_name: 'boats' }] }, 'service boats: not known to the configured services (flights)'],
      ['a tenant that is not a string', { ...body, tenantId: 7 }, 'tenantId must be a non-empty string'],
      ['a body that is a list', [body], 'body: expected a JSON object'],
    ])('when it has %s, then 400 names the problem before anything reaches the stack', async (_what, payload, message) => {
      const res = await postSaga(withPosted, payload);
      expect(res.statusCode).toBe(400);
      expect(res.json().error.code).toBe('REQUEST_INVALID');
      expect(res.json().error.message).toContain(message);
    });
  });
});

describe('POST /sagas/{name} refuses a bad request with 400 naming the field', () => {
  it.each([
    ['a missing tenantId', { payload: {} }, 'tenantId is required'],
    ['a tenantId of the wrong type', { tenantId: 7, payload: {} }, 'tenantId must be a string (got 7)'],
    ['a missing payload', { tenantId: 't' }, 'payload is required'],
    ['an extra property', { tenantId: 't', payload: {}, priority: 1 }, 'priority is not a known field (known: tenantId, sagaId, payload)'],
    ['a payload that is not an object', { tenantId: 't', payload: 'x' }, 'payload must be an object'],
    ['a body that is not an object', ['t', 'm'], 'body must be an object'],
  ])('given %s, when it is posted, then it is refused before anything is written', async (_what, body, message) => {
    const res = await post(JSON.stringify(body));
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('REQUEST_INVALID');
    expect(res.json().error.message).toContain(message);
  });

  it('given malformed JSON, then 400 says so', async () => {
    const res = await post('{"tenantId": "t",');
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: { code: 'REQUEST_INVALID', message: 'the request body is not valid JSON' } });
  });

  it('given a saga the project does not define, then 404 names the ones it does', async () => {
    const res = await post(JSON.stringify({ tenantId: 't', payload: {} }), 'payroll');
    expect(res.statusCode).toBe(404);
    expect(res.json().error).toEqual({ code: 'SAGA_NOT_FOUND', message: 'no saga definition "payroll" (defined: ledger-transfer)' });
  });
});

describe('other routes', () => {
  it('given an unknown status, when GET /sagas, then 400', async () => {
    const res = await app.inject({ method: 'GET', url: '/sagas?status=bogus' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'REQUEST_INVALID', message: expect.stringContaining('status must be one of') });
  });

  it('given a cursor the API did not give, when GET /sagas, then 400 before the projection is read', async () => {
    const res = await app.inject({ method: 'GET', url: '/sagas?after=b3JkZXJz' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'REQUEST_INVALID', message: expect.stringContaining('is not one a page of sagas gave') });
  });

  it('given the project, when GET /definitions, then each definition with its steps and levels', async () => {
    const res = await app.inject({ method: 'GET', url: '/definitions' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      definitions: [
        {
          name: 'ledger-transfer', version: 1, startedBy: 'TransferRequested', pivot: null, services: ['ledger'], perInstance: false,
          steps: [{ name: 'DEBIT', owner: 'ledger', after: [], level: 0, pivot: false, forwardOnly: false, succeeded: 'Debited', failed: 'DebitRefused', compensatedBy: null, deadlineMs: 30_000, retryLimit: 3 }],
        },
      ],
    });
  });

  it.each([
    ['/ui', 'text/html', '<script type="module" src="/ui/app.js">'],
    ['/ui/app.js', 'text/javascript', "fetch(path"],
    ['/ui/style.css', 'text/css', '.badge'],
  ])('given the web UI, when GET %s, then it is served as %s', async (url, type, content) => {
    const res = await app.inject({ method: 'GET', url });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain(type);
    expect(res.body).toContain(content);
  });

  it('given an unknown route, then a JSON 404', async () => {
    const res = await app.inject({ method: 'DELETE', url: '/sagas?x=1' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'no route DELETE /sagas' } });
  });
});

describe('dead letters', () => {
  const redrive = (payload: unknown) => app.inject({ method: 'POST', url: '/dead-letters/redrive', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(payload) });

  it.each([
    ['no reason', { positions: ['orders/0@1'] }, 'reason is required'],
    ['no position', { positions: [], reason: 'fixed' }, 'positions'],
    ['an unknown field', { positions: ['orders/0@1'], reason: 'fixed', everything: true }, 'everything is not a known field'],
  ])('given a redrive with %s, then 400 names it before anything is read or written', async (_what, payload, message) => {
    const res = await redrive(payload);
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('REQUEST_INVALID');
    expect(res.json().error.message).toContain(message);
  });

  it('given a filter the listing does not have, then 400 names the filters it has', async () => {
    const res = await app.inject({ method: 'GET', url: '/dead-letters?group=x' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toBe('group is not a filter of /dead-letters (filters: topic, saga, error)');
  });
});

describe('operator actions', () => {
  it.each([
    ['cancel', {}, 'reason is required'],
    ['retry', { reason: 'fixed', force: true }, 'force is not a known field'],
    ['cancel', { reason: '' }, 'reason'],
  ])('given POST /sagas/{id}/%s with a bad body, then 400 names it before anything is read or written', async (action, payload, message) => {
    const res = await app.inject({ method: 'POST', url: `/sagas/s-1/${action}`, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(payload) });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('REQUEST_INVALID');
    expect(res.json().error.message).toContain(message);
  });
});

describe('parked messages', () => {
  it.each([
    ['resume', { reason: 'fixed' }, 'service is required'],
    ['skip', { service: 'payments' }, 'reason is required'],
  ])('given POST /sagas/{id}/%s with a bad body, then 400 names it before anything is read or written', async (action, payload, message) => {
    const res = await app.inject({ method: 'POST', url: `/sagas/s-1/${action}`, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(payload) });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toContain(message);
  });

  it('given a filter /parked does not have, then 400 names the filters it has', async () => {
    const res = await app.inject({ method: 'GET', url: '/parked?tenant=x' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toBe('tenant is not a filter of /parked (filters: service, saga)');
  });
});
