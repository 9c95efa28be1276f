import { describe, expect, it } from 'vitest';
import { SagalineError } from '../core/errors.ts';
import { parseListQuery } from './requests.ts';

describe('the query of GET /sagas', () => {
  it('defaults to 100 sagas in any state', () => {
    expect(parseListQuery({})).toEqual({ limit: 100 });
  });

  it('takes a state in any case and a limit', () => {
    expect(parseListQuery({ state: 'compensated', limit: '5' })).toEqual({ state: 'Compensated', limit: 5 });
  });

  it.each([
    [{ state: 'bogus' }, /state must be one of NotStarted, InProgress, Completed, Compensating, Compensated, Failed \(got "bogus"\)/],
    [{ state: ['Completed', 'Failed'] }, /state must be one of/],
    [{ limit: '0' }, /limit must be an integer from 1 to 1000 \(got "0"\)/],
    [{ limit: '1001' }, /limit must be an integer from 1 to 1000/],
    [{ limit: 'ten' }, /limit must be an integer/],
    [{ sort: 'asc' }, /unknown query parameter sort \(known: state, limit\)/],
  ])('refuses %o with REQUEST_INVALID naming the parameter', (query, message) => {
    expect(() => parseListQuery(query)).toThrow(message);
    try {
      parseListQuery(query);
    } catch (err) {
      expect((err as SagalineError).code).toBe('REQUEST_INVALID');
    }
  });
});
