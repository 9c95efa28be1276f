import { describe, expect, it } from 'vitest';
import { SagalineError, TimeoutError } from './errors.ts';
import { waitFor } from './wait.ts';

describe('waitFor', () => {
  it('returns the first value the condition yields', async () => {
    let calls = 0;
    const value = await waitFor('third call', () => (++calls >= 3 ? `call ${calls}` : undefined), { timeoutMs: 1_000, intervalMs: 1 });
    expect(value).toBe('call 3');
  });

  it('keeps trying through errors and names the condition and last error at the deadline', async () => {
    const attempt = waitFor('the moon to rise', () => {
      throw new Error('still daytime');
    }, { timeoutMs: 30, intervalMs: 5 });
    await expect(attempt).rejects.toBeInstanceOf(TimeoutError);
    await expect(attempt).rejects.toThrow('timed out after 30 ms waiting for the moon to rise (last error: still daytime)');
  });

  it('stops at once on a non-retriable error', async () => {
    let calls = 0;
    const attempt = waitFor('never', () => {
      calls += 1;
      throw new SagalineError('BROKEN', 'cannot ever succeed');
    }, { timeoutMs: 5_000, intervalMs: 1 });
    await expect(attempt).rejects.toThrow('cannot ever succeed');
    expect(calls).toBe(1);
  });

  it('aborts when abortIf throws', async () => {
    const attempt = waitFor('x', () => false, { timeoutMs: 5_000, intervalMs: 1, abortIf: () => { throw new Error('process died'); } });
    await expect(attempt).rejects.toThrow('process died');
  });
});
