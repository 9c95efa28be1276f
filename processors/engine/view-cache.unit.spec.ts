import { describe, expect, it } from 'vitest';
import type { InstanceState } from '../saga/instance.ts';
import { ViewCache } from './run-participant.ts';
import type { StoredInstance } from './tables.ts';

const view = (status: string, rev = 1): StoredInstance => ({ state: { status } as unknown as InstanceState, version: 1, tenantId: 't', traceparent: '', rev });

describe('views kept in memory', () => {
  it('given a running saga written, when it is looked up, then the view and its revision come back', () => {
    const cache = new ViewCache();
    cache.set('a', view('Running', 3));
    expect(cache.get('a')?.rev).toBe(3);
  });

  it('given a saga that ended, when its view is set, then it is not kept (a late message reads it again)', () => {
    const cache = new ViewCache();
    cache.set('a', view('Running'));
    cache.set('a', view('Completed', 2));
    expect(cache.get('a')).toBeUndefined();
  });

  it('given more sagas than it holds, when one more is set, then the one written longest ago goes', () => {
    const cache = new ViewCache(2);
    cache.set('a', view('Running'));
    cache.set('b', view('Running'));
    cache.set('a', view('Running', 2));
    cache.set('c', view('Running'));
    expect([cache.get('a')?.rev, cache.get('b'), cache.get('c')?.rev]).toEqual([2, undefined, 1]);
    expect(cache.size).toBe(2);
  });

  it('given sagas forgotten, when they are looked up, then they are gone', () => {
    const cache = new ViewCache();
    cache.set('a', view('Running'));
    cache.forget(['a']);
    expect(cache.get('a')).toBeUndefined();
  });
});
