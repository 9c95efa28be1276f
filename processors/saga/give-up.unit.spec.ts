import { describe, expect, it } from 'vitest';
import { attemptsAllowed, giveUp, retryTarget, targetKey } from './give-up.ts';
import { initialState } from './state.ts';

const ctx = { now: 0, newId: () => 'id' };
const cause = { type: 'ModelReserved' as const, payload: {}, metadata: { messageId: 'm', traceparent: 't' } };
const state = { ...initialState('s1'), modelId: 'm1', tenantId: 't1' };

describe('giving up after retries', () => {
  it('knows what a decision was doing from the messages it would write', () => {
    expect(retryTarget([{ type: 'ResourcesAllocated' }])).toEqual({ step: 'ALLOCATE', compensation: false });
    expect(retryTarget([{ type: 'ModelReservationReleased' }])).toEqual({ step: 'RESERVE', compensation: true });
    expect(retryTarget([{ type: 'TrainingStarted' }])).toBeUndefined();
    expect(targetKey({ step: 'RESERVE', compensation: true })).toBe('RESERVE_COMPENSATION');
  });

  it('allows the first attempt plus the step retry limits of the design (reserve 3, allocate 2, train 1, update 3, audit 3)', () => {
    expect((['RESERVE', 'ALLOCATE', 'TRAIN', 'UPDATE', 'AUDIT'] as const).map((step) => attemptsAllowed({ step, compensation: false }))).toEqual([4, 3, 2, 4, 4]);
  });

  it('a forward step reports its failure; a compensation reports CompensationFailed', () => {
    const failed = giveUp(state, cause, { step: 'ALLOCATE', compensation: false }, 3, 'deadlock detected', ctx);
    expect([failed.type, failed.payload]).toEqual(['ResourceAllocationFailed', { sagaId: 's1', reason: 'gave up after 3 attempts: deadlock detected' }]);
    const parked = giveUp(state, cause, { step: 'RESERVE', compensation: true }, 4, 'connection lost', ctx);
    expect([parked.type, parked.payload]).toEqual(['CompensationFailed', { sagaId: 's1', step: 'RESERVE', reason: 'gave up after 4 attempts: connection lost', attempts: 4 }]);
  });
});
