import { describe, expect, it } from 'vitest';
import { SagalineError } from '../../core/errors.ts';
import { backoffMs, isTransient, withRetries } from './transient.ts';

describe('transient failures', () => {
  it('classifies serialization failures, deadlocks and lost connections as transient, nothing else', () => {
    expect(isTransient(Object.assign(new Error('could not serialize'), { code: '40001' }))).toBe(true);
    expect(isTransient(Object.assign(new Error('deadlock'), { code: '40P01' }))).toBe(true);
    expect(isTransient(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isTransient(Object.assign(new Error('unique violation'), { code: '23505' }))).toBe(false);
    expect(isTransient(new TypeError('x is undefined'))).toBe(false);
    expect(isTransient(new SagalineError('X', 'later', { retriable: true }))).toBe(true);
  });

  it('given a sagaline error from a second copy of the package (not instanceof), then its retriable flag still decides', () => {
    expect(isTransient(Object.assign(new Error('later'), { code: 'TRANSIENT', retriable: true }))).toBe(true);
    expect(isTransient(Object.assign(new Error('a bug'), { code: 'BAD_STEP_OUTCOME', retriable: false }))).toBe(false);
  });

  it('backs off exponentially with full jitter, capped', () => {
    expect([1, 2, 3, 4].map((a) => backoffMs(a, () => 0.999999))).toEqual([99, 199, 399, 799]);
    expect(backoffMs(20, () => 0.999999)).toBe(4999);
    expect(backoffMs(3, () => 0)).toBe(0);
  });

  it('retries a transient failure up to the limit, then gives the error back', async () => {
    let calls = 0;
    const flaky = () => { calls += 1; return Promise.reject(Object.assign(new Error('deadlock'), { code: '40P01' })); };
    await expect(withRetries('x', 3, flaky)).rejects.toThrow('deadlock');
    expect(calls).toBe(3);
    calls = 0;
    await expect(withRetries('x', 3, () => { calls += 1; return Promise.reject(new TypeError('bug')); })).rejects.toThrow('bug');
    expect(calls).toBe(1);
  });
});
