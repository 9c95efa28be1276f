import { describe, expect, it } from 'vitest';
import { SagalineError } from '../core/errors.ts';
import { parseListQuery } from './requests.ts';

const SAGAS = ['order-fulfilment', 'room-booking'];

describe('the query of GET /sagas', () => {
  it('given no parameters, then 100 sagas of any definition in any status', () => {
    expect(parseListQuery({}, SAGAS)).toEqual({ limit: 100 });
  });

  it('given a saga, a status in any case, a tenant and a limit, then each is taken', () => {
    expect(parseListQuery({ saga: 'room-booking', status: 'compensated', tenant: 'acme', limit: '5' }, SAGAS)).toEqual({ saga: 'room-booking', status: 'Compensated', tenantId: 'acme', limit: 5 });
  });

  it.each([
    [{ status: 'bogus' }, /status must be one of Running, Compensating, Completed, Compensated, Parked, Failed \(got "bogus"\)/],
    [{ status: ['Completed', 'Failed'] }, /status must be one of/],
    [{ saga: 'payroll' }, /saga must be one of order-fulfilment, room-booking \(got "payroll"\)/],
    [{ tenant: '' }, /tenant must be a non-empty string/],
    [{ limit: '0' }, /limit must be an integer from 1 to 1000 \(got "0"\)/],
    [{ limit: '1001' }, /limit must be an integer from 1 to 1000/],
    [{ limit: 'ten' }, /limit must be an integer/],
    [{ sort: 'asc' }, /unknown query parameter sort \(known: saga, status, tenant, limit\)/],
  ])('given %o, then REQUEST_INVALID names the parameter', (query, message) => {
    expect(() => parseListQuery(query, SAGAS)).toThrow(message);
    try {
      parseListQuery(query, SAGAS);
    } catch (err) {
      expect((err as SagalineError).code).toBe('REQUEST_INVALID');
    }
  });
});
