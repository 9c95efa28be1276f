import { describe, expect, it } from 'vitest';
import { SagalineError } from '../core/errors.ts';
import { encodeCursor } from '../processors/engine/saga-list.ts';
import { parseListQuery } from './requests.ts';

const SAGAS = ['order-fulfilment', 'room-booking'];

describe('the query of GET /sagas', () => {
  it('given no parameters, then 100 sagas of any definition in any status', () => {
    expect(parseListQuery({}, SAGAS)).toEqual({ limit: 100 });
  });

  it('given a saga, a status in any case, a tenant and a limit, then each is taken', () => {
    expect(parseListQuery({ saga: 'room-booking', status: 'compensated', tenant: 'acme', limit: '5' }, SAGAS)).toEqual({ saga: 'room-booking', status: 'Compensated', tenantId: 'acme', limit: 5 });
  });

  it('given a time range and the cursor of a page, then the range is taken as times and the cursor as given', () => {
    const after = encodeCursor('2026-12-05T09:59:59.123456Z', 'saga-1');
    expect(parseListQuery({ from: '2026-12-05T09:00:00Z', to: '2026-12-05T12:00:00+02:00', after }, SAGAS)).toEqual({
      startedFrom: new Date('2026-12-05T09:00:00Z'),
      startedBefore: new Date('2026-12-05T10:00:00Z'),
      after,
      limit: 100,
    });
  });

  it.each([
    [{ status: 'bogus' }, /status must be one of Running, Compensating, Completed, Compensated, Parked, Failed \(got "bogus"\)/],
    [{ status: ['Completed', 'Failed'] }, /status must be one of/],
    [{ saga: 'payroll' }, /saga must be one of order-fulfilment, room-booking \(got "payroll"\)/],
    [{ tenant: '' }, /tenant must be a non-empty string/],
    [{ limit: '0' }, /limit must be an integer from 1 to 1000 \(got "0"\)/],
    [{ limit: '1001' }, /limit must be an integer from 1 to 1000/],
    [{ limit: 'ten' }, /limit must be an integer/],
    [{ sort: 'asc' }, /unknown query parameter sort \(known: saga, status, tenant, from, to, after, limit\)/],
    [{ from: 'yesterday' }, /from must be a time in ISO 8601 with its offset, like 2026-12-05T10:00:00Z \(got "yesterday"\)/],
    [{ to: '2026-12-05T10:00' }, /to must be a time in ISO 8601 with its offset/],
    [{ to: '2026-13-45T10:00:00Z' }, /to must be a time in ISO 8601/],
    [{ from: '2026-02-31T10:00Z' }, /from must be a time in ISO 8601/],
    [{ from: '2026-12-05T10:00:00Z', to: '2026-12-05T09:00:00Z' }, /from must be before to/],
    [{ after: 'bm90LWEtY3Vyc29y' }, /cursor "bm90LWEtY3Vyc29y" is not one a page of sagas gave/],
    [{ after: ['a', 'b'] }, /after must be given once/],
  ])('given %o, then REQUEST_INVALID names the parameter', (query, message) => {
    expect(() => parseListQuery(query, SAGAS)).toThrow(message);
    try {
      parseListQuery(query, SAGAS);
    } catch (err) {
      expect((err as SagalineError).code).toBe('REQUEST_INVALID');
    }
  });
});
