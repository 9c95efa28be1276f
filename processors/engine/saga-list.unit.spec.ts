import { describe, expect, it } from 'vitest';
import { SagalineError } from '../../core/errors.ts';
import { decodeCursor, encodeCursor, isRealTime, sagaListQuery } from './saga-list.ts';

const NAMES = ['order-fulfilment', 'room-booking', 'order-fulfilment'];

describe('a page of the saga list', () => {
  it('given no filter, then the newest first, one row more than the page, among the project sagas only', () => {
    const q = sagaListQuery({}, NAMES);
    expect(q.text).toMatch(/ where saga = any\(\$1\) order by started_at desc, saga_id desc limit \$2$/);
    expect(q.values).toEqual([['order-fulfilment', 'room-booking'], 101]);
    expect(q.limit).toBe(100);
  });

  it('given every filter and a cursor, then each is one parameter and the page continues strictly after the cursor', () => {
    const from = new Date('2026-12-05T09:00:00Z');
    const before = new Date('2026-12-05T10:00:00Z');
    const q = sagaListQuery({ saga: 'room-booking', status: 'Failed', tenantId: 'acme', startedFrom: from, startedBefore: before, after: encodeCursor('2026-12-05T09:30:00.000001Z', 'b|1'), limit: 20 }, NAMES);
    expect(q.text).toContain(
      'where saga = any($1) and saga = $2 and status = $3 and tenant_id = $4 and started_at >= $5 and started_at < $6 and (started_at, saga_id) < ($7::timestamptz, $8) order by started_at desc, saga_id desc limit $9',
    );
    expect(q.values.slice(1)).toEqual(['room-booking', 'Failed', 'acme', from, before, '2026-12-05T09:30:00.000001Z', 'b|1', 21]);
  });

  it('given a saga id with a newline, then its cursor still decodes to it', () => {
    expect(decodeCursor(encodeCursor('2026-12-05T09:30:00.000001Z', 'a\nb'))).toEqual({ startedAt: '2026-12-05T09:30:00.000001Z', sagaId: 'a\nb' });
  });

  it.each([
    ['not base64url', 'a+b/c='],
    ['no saga id', encodeCursor('2026-12-05T09:30:00.000001Z', '')],
    ['a time without microseconds', Buffer.from('2026-12-05T09:30:00Z\nsaga').toString('base64url')],
    ['a month that does not exist', encodeCursor('2026-13-45T99:99:99.000000Z', 'saga')],
    ['year 0', encodeCursor('0000-01-01T00:00:00.000000Z', 'saga')],
    ['SQL in the time', Buffer.from("2026-12-05'; drop table x;--\nsaga").toString('base64url')],
  ])('given a cursor with %s, then REQUEST_INVALID before any query', (_what, cursor) => {
    const err = (() => {
      try {
        sagaListQuery({ after: cursor }, NAMES);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(SagalineError);
    expect(err).toMatchObject({ code: 'REQUEST_INVALID', message: expect.stringContaining('is not one a page of sagas gave') });
  });
});

describe('a real time', () => {
  it.each([
    ['2026-12-05T10:00:00Z', true],
    ['2026-12-05T10:00Z', true],
    ['2024-02-29T23:59:59.999+02:00', true],
    ['2026-02-29T10:00:00Z', false],
    ['2026-02-31T10:00Z', false],
    ['2026-12-05T24:00:00Z', false],
    ['2026-12-05T10:60:00Z', false],
    ['2026-12-05T10:00:00', false],
    ['2026-12-05', false],
  ])('given %s, then %s', (text, real) => {
    expect(isRealTime(text)).toBe(real);
  });
});
