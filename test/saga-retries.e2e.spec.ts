/**
 * Transient failures on the real stack, injected through the request (so they travel the real
 * path): retried with backoff up to the step's limit; past it the step fails and the saga
 * compensates; a compensation that keeps failing parks the saga as Failed with its reason.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueName } from './support/fixtures.ts';
import { businessSnapshot, trainNewModel, query, startProcessors, stopProcessors, waitForTerminal } from './support/saga.ts';

const tenant = uniqueName('retry');

function train(transientFailures: Record<string, number>, failAt?: 'ALLOCATE'): Promise<{ sagaId: string; modelId: string }> {
  return trainNewModel(tenant, { trainingDurationMs: 300, transientFailures, ...(failAt ? { failAt } : {}) });
}

describe('transient failures', () => {
  beforeAll(async () => {
    await startProcessors();
  });

  afterAll(async () => {
    await stopProcessors();
  });

  it('are retried within the step limit and the saga completes (reserve: 2 failures, limit 3)', async () => {
    const { sagaId, modelId } = await train({ RESERVE: 2 });
    const saga = (await waitForTerminal([sagaId], 90_000)).get(sagaId)!;
    expect(saga.state).toBe('Completed');
    expect((await businessSnapshot(sagaId, modelId)).model).toEqual([expect.objectContaining({ version: 'v2' })]);
    expect(await query('model_service', 'select 1 from deferred_messages where saga_id = $1', [sagaId])).toEqual([]);
  });

  it('past the step limit the step fails and the saga compensates (allocate: 5 failures, limit 2)', async () => {
    const { sagaId, modelId } = await train({ ALLOCATE: 5 });
    const saga = (await waitForTerminal([sagaId], 90_000)).get(sagaId)!;
    expect(saga.state).toBe('Compensated');
    expect(saga.failedStep).toBe('ALLOCATE');
    expect(saga.reason).toMatch(/^ALLOCATE failed: gave up after 3 attempts: simulated transient failure at ALLOCATE/);
    const snap = await businessSnapshot(sagaId, modelId);
    expect(snap.model).toEqual([{ version: 'v1', reserved_by: null }]);
    expect(snap.allocations).toEqual([]);
  });

  it('a compensation that keeps failing parks the saga as Failed, its reason visible and nothing else undone', async () => {
    const { sagaId, modelId } = await train({ RESERVE_COMPENSATION: 99 }, 'ALLOCATE');
    const saga = (await waitForTerminal([sagaId], 90_000)).get(sagaId)!;
    expect(saga.state).toBe('Failed');
    expect(saga.reason).toMatch(/^compensation of RESERVE failed: gave up after 4 attempts: simulated transient failure at RESERVE_COMPENSATION/);
    expect(saga.steps.find((s) => s.name === 'RESERVE')!.status).toBe('compensation_failed');
    // Parked: the reservation is still held, for an operator to resolve
    expect((await businessSnapshot(sagaId, modelId)).reservations).toEqual([{ status: 'held' }]);
  });
});
