/**
 * The API's request checks, through Fastify's own request injection: every request here is refused
 * before anything would reach Postgres or Kafka, so nothing needs to run.
 */
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../core/config.ts';
import { buildApi } from './server.ts';

const app = buildApi(loadConfig({}), { logger: pino({ level: 'silent' }) });
afterAll(async () => {
  await app.close();
});

const post = (payload: string) => app.inject({ method: 'POST', url: '/sagas', headers: { 'content-type': 'application/json' }, payload });

describe('POST /sagas refuses a bad request with 400 naming the field', () => {
  it.each([
    ['a missing tenantId', { modelId: 'm' }, 'tenantId is required'],
    ['a tenantId of the wrong type', { tenantId: 7, modelId: 'm' }, 'tenantId must be a string (got 7)'],
    ['an unknown failAt step', { tenantId: 't', modelId: 'm', failAt: 'deploy' }, 'failAt must be one of reserve, allocate, train, update, audit (got "deploy")'],
    ['an extra property', { tenantId: 't', modelId: 'm', priority: 1 }, 'priority is not a known field (known: tenantId, modelId, config, failAt, hangAt, trainingDurationMs, transientFailures)'],
    ['an extra property inside config', { tenantId: 't', modelId: 'm', config: { epochs: 3 } }, 'config.epochs is not a known field'],
    ['a string where a number goes (no coercion)', { tenantId: 't', modelId: 'm', trainingDurationMs: '100' }, 'trainingDurationMs must be an integer (got "100")'],
    ['an unknown transient-failure key', { tenantId: 't', modelId: 'm', transientFailures: { DEPLOY: 1 } }, 'transientFailures keys must be one of'],
    ['a body that is not an object', ['t', 'm'], 'body must be an object'],
  ])('%s', async (_what, body, message) => {
    // When the request is sent
    const res = await post(JSON.stringify(body));

    // Then it is refused with a JSON error naming the field
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('REQUEST_INVALID');
    expect(res.json().error.message).toContain(message);
  });

  it('malformed JSON', async () => {
    const res = await post('{"tenantId": "t",');
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: { code: 'REQUEST_INVALID', message: 'the request body is not valid JSON' } });
  });
});

describe('other routes', () => {
  it('GET /sagas with an unknown state is 400', async () => {
    const res = await app.inject({ method: 'GET', url: '/sagas?state=bogus' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'REQUEST_INVALID', message: expect.stringContaining('state must be one of') });
  });

  it('an unknown route is a JSON 404', async () => {
    const res = await app.inject({ method: 'DELETE', url: '/sagas?x=1' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'no route DELETE /sagas' } });
  });
});
