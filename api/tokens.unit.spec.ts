import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../core/config.ts';
import { ConfigError } from '../core/errors.ts';
import { defineSaga } from '../processors/saga/define-saga.ts';
import { buildApi } from './server.ts';
import { bearerToken, checkGrant, mintToken, TokenError } from './tokens.ts';

describe('API tokens', () => {
  it('given two minted tokens, then each is sgl_<12 hex id>_<43 base64url> and they differ', () => {
    const a = mintToken();
    const b = mintToken();
    expect(a.token).toMatch(/^sgl_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    expect(a.token.startsWith(`sgl_${a.id}_`)).toBe(true);
    expect(a.token).not.toBe(b.token);
  });

  it('given an Authorization header, then its bearer token, or a reason that never repeats the header', () => {
    const { token } = mintToken();
    expect(bearerToken(`Bearer ${token}`)).toEqual({ token });
    expect(bearerToken(`bearer  ${token}`)).toEqual({ token });
    expect(bearerToken(undefined)).toEqual({ refused: expect.stringContaining('no Authorization header') });
    expect(bearerToken(['a', 'b'])).toEqual({ refused: 'more than one Authorization header' });
    expect(bearerToken('Basic dXNlcjpwYXNz')).toEqual({ refused: 'the Authorization header is not "Bearer <token>"' });
    const wrong = bearerToken('Bearer secret-of-another-system');
    expect(wrong).toEqual({ refused: 'the bearer token is not a sagaline token (sgl_…)' });
    expect(JSON.stringify(wrong)).not.toContain('secret-of-another-system');
  });

  it('given a tenant grant without a tenant, or a label too long, then TOKEN_INVALID before anything is written', () => {
    expect(() => checkGrant({ role: 'tenant', tenantId: '' })).toThrow(TokenError);
    expect(() => checkGrant({ role: 'tenant', tenantId: 'x'.repeat(201) })).toThrow(/1 to 200 characters/);
    expect(() => checkGrant({ role: 'operator', label: 'l'.repeat(201) })).toThrow(/at most 200/);
    expect(() => checkGrant({ role: 'tenant', tenantId: 'acme', label: 'ci' })).not.toThrow();
  });

  it('given SAGALINE_API_AUTH, then tokens by default, none when asked, anything else a ConfigError', () => {
    expect(loadConfig({}).api.auth).toBe('tokens');
    expect(loadConfig({ SAGALINE_API_AUTH: 'none' }).api.auth).toBe('none');
    expect(() => loadConfig({ SAGALINE_API_AUTH: 'off' })).toThrow(ConfigError);
  });
});

describe('the API with tokens on', () => {
  const saga = defineSaga({ name: 'ledger-transfer', version: 1, startedBy: 'TransferRequested', steps: { DEBIT: { owner: 'ledger', succeeded: 'Debited', failed: 'DebitRefused' } } });
  const project = { file: '/project/sagaline.config.mjs', schemas: '/project/schemas', sagas: [saga], participants: [], streams: {} };
  // Postgres is never reached here: a request without a well-formed token is refused before the lookup.
  const app = buildApi(loadConfig({ SAGALINE_PG_PORT: '9' }), { project, client: () => Promise.reject(new Error('nothing may reach the stack')) }, { logger: pino({ level: 'silent' }) });
  afterAll(async () => {
    await app.close();
  });

  it.each([
    ['GET', '/sagas'],
    ['GET', '/sagas/s-1'],
    ['POST', '/sagas/ledger-transfer'],
    ['POST', '/sagas/s-1/cancel'],
    ['GET', '/metrics'],
    ['GET', '/definitions'],
    ['POST', '/2pc/transactions'],
  ])('given no token, when %s %s, then 401 UNAUTHENTICATED', async (method, url) => {
    const res = await app.inject({ method: method as 'GET', url, ...(method === 'POST' ? { payload: {} } : {}) });
    expect(res.statusCode).toBe(401);
    expect(res.json().error.code).toBe('UNAUTHENTICATED');
  });

  it('given no token, when the liveness probe or the UI is asked, then it answers', async () => {
    expect((await app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/ui/app.js' })).statusCode).toBe(200);
  });

  it('given no token, when a route that does not exist is asked, then 404 as without tokens', async () => {
    expect((await app.inject({ method: 'GET', url: '/nope' })).statusCode).toBe(404);
  });
});
