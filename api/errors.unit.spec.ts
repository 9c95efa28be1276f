import { describe, expect, it } from 'vitest';
import { SagalineError, TimeoutError } from '../core/errors.ts';
import { describeValidation, errorResponse, statusOf } from './errors.ts';

describe('error status', () => {
  it.each([
    ['REQUEST_INVALID', false, 400],
    ['SAGA_NOT_FOUND', false, 404],
    ['SAGA_ID_TAKEN', false, 409],
    ['CONFIG_INVALID', false, 500],
    ['NOT_READY', true, 503],
  ])('%s (retriable %s) is %i', (code, retriable, status) => {
    expect(statusOf(new SagalineError(code, 'x', { retriable }))).toBe(status);
  });
});

describe('error responses', () => {
  it('carries our own errors as code and message', () => {
    expect(errorResponse(new SagalineError('SAGA_NOT_FOUND', 'no saga s1'))).toEqual({ status: 404, body: { error: { code: 'SAGA_NOT_FOUND', message: 'no saga s1' } }, serverFault: false });
    expect(errorResponse(new TimeoutError('the log', 10))).toMatchObject({ status: 503, body: { error: { code: 'TIMEOUT' } }, serverFault: true });
  });

  it('names the field of a schema violation', () => {
    const err = { statusCode: 400, code: 'FST_ERR_VALIDATION', message: 'body must…', validationContext: 'body', validation: [{ keyword: 'required', instancePath: '', params: { missingProperty: 'tenantId' } }] };
    expect(errorResponse(err)).toEqual({ status: 400, body: { error: { code: 'REQUEST_INVALID', message: 'tenantId is required' } }, serverFault: false });
  });

  it('says the body is not JSON, or is empty', () => {
    expect(errorResponse({ code: 'FST_ERR_CTP_INVALID_JSON_BODY', statusCode: 400, message: "Body is not valid JSON but content-type is set to 'application/json'" }).body.error).toEqual({ code: 'REQUEST_INVALID', message: 'the request body is not valid JSON' });
    expect(errorResponse({ code: 'FST_ERR_CTP_EMPTY_JSON_BODY', statusCode: 400, message: 'empty' }).body.error.message).toMatch(/empty/);
  });

  it('hides what an unexpected error says (it goes to the log)', () => {
    const err = new TypeError("Cannot read properties of undefined (reading 'rows')");
    const response = errorResponse(err);
    expect(response).toEqual({ status: 500, body: { error: { code: 'INTERNAL', message: 'internal error; the API log has the details' } }, serverFault: true });
    expect(JSON.stringify(response)).not.toContain('rows');
  });

  it('given text Postgres refuses to store (a NUL), then 400: the request is the client\'s to fix', () => {
    for (const code of ['22021', '22P05']) {
      const pgError = Object.assign(new Error('invalid byte sequence for encoding "UTF8": 0x00'), { code });
      expect(errorResponse(pgError)).toMatchObject({ status: 400, serverFault: false, body: { error: { code: 'REQUEST_INVALID' } } });
    }
  });

  it('answers 503 when a backing service is unreachable', () => {
    expect(errorResponse(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }))).toMatchObject({ status: 503, body: { error: { code: 'UNAVAILABLE' } } });
  });
});

describe('schema violations in words', () => {
  it.each([
    [{ keyword: 'type', instancePath: '/tenantId', params: { type: 'string' }, data: 42 }, 'tenantId must be a string (got 42)'],
    [{ keyword: 'type', instancePath: '/config/resources/cpuCores', params: { type: 'integer' }, data: 'x' }, 'config.resources.cpuCores must be an integer (got "x")'],
    [{ keyword: 'type', instancePath: '', params: { type: 'object' }, data: [] }, 'body must be an object (got [])'],
    [{ keyword: 'required', instancePath: '/config', params: { missingProperty: 'algorithm' } }, 'config.algorithm is required'],
    [
      { keyword: 'additionalProperties', instancePath: '', params: { additionalProperty: 'extra' }, parentSchema: { properties: { tenantId: {}, modelId: {} } } },
      'extra is not a known field (known: tenantId, modelId)',
    ],
    [{ keyword: 'enum', instancePath: '/failAt', params: { allowedValues: ['charge', 'ship', 'CHARGE', 'SHIP'] }, data: 'bogus' }, 'failAt must be one of charge, ship (got "bogus")'],
    [{ keyword: 'enum', instancePath: '/transientFailures', params: { allowedValues: ['reserve'] }, data: 'X', propertyName: 'X' }, 'transientFailures keys must be one of reserve (got "X")'],
    [{ keyword: 'minLength', instancePath: '/modelId', params: { limit: 1 }, data: '' }, 'modelId must not be empty'],
    [{ keyword: 'maximum', instancePath: '/config/validationSplit', params: { limit: 1 }, message: 'must be <= 1', data: 2 }, 'config.validationSplit must be <= 1 (got 2)'],
  ])('%o → %s', (problem, message) => {
    expect(describeValidation([problem])).toBe(message);
  });
});
