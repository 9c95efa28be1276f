import { describe, expect, it } from 'vitest';
import type { MessagePayloads, MessageType } from '../../schemas/generated.ts';
import { awaiting } from './awaiting.ts';
import { fold, type SagaEvent } from './state.ts';

let n = 0;
const ev = <T extends MessageType>(type: T, payload: Partial<MessagePayloads[T]>): SagaEvent<T> => ({
  type, payload: { sagaId: 's1', ...payload } as MessagePayloads[T], messageId: `m${String(++n).padStart(3, '0')}`, at: 1_000 + n,
});
const requested = () => ev('TrainingRequested', {
  modelId: 'm1', tenantId: 't1', requestedAt: 1,
  config: { algorithm: 'a', hyperparameters: {}, datasetUri: 'd', validationSplit: 0.1, simulation: null },
  resources: { cpuCores: 1, memoryGb: 1, gpuCount: 0, storageGb: 1 },
});

describe('what a saga waits for', () => {
  it('given a saga never projected, then it waits for its first step', () => {
    expect(awaiting(undefined)).toMatchObject({ step: 'RESERVE', from: 'model-service', messages: ['ModelReserved', 'ModelReservationFailed'] });
  });

  it('given a reserved model, then it waits for resource-service to answer ALLOCATE', () => {
    const state = fold('s1', [requested(), ev('ModelReserved', { modelId: 'm1', reservationId: 'r1' })]);
    const a = awaiting(state)!;
    expect(a).toMatchObject({ step: 'ALLOCATE', from: 'resource-service', messages: ['ResourcesAllocated', 'ResourceAllocationFailed', 'StepTimedOut'] });
    expect(a.summary).toContain('resource-service');
  });

  it('given a failure at ALLOCATE, then it waits for the reservation to be released', () => {
    const state = fold('s1', [requested(), ev('ModelReserved', { modelId: 'm1', reservationId: 'r1' }), ev('ResourceAllocationFailed', { reason: 'full' })]);
    expect(state.status).toBe('Compensating');
    expect(awaiting(state)).toMatchObject({ step: 'RESERVE', from: 'model-service', messages: ['ModelReservationReleased', 'CompensationFailed'] });
  });

  it('given every step succeeded, then it waits for the watchdog to complete it', () => {
    const state = fold('s1', [
      requested(),
      ev('ModelReserved', { modelId: 'm1', reservationId: 'r1' }),
      ev('ResourcesAllocated', { allocationId: 'a1', computeNodes: ['n1'] }),
      ev('TrainingCompleted', { jobId: 'j1', artifacts: { modelBinaryUri: 'u', metricsUri: 'u', logsUri: 'u' }, metrics: {} } as never),
      ev('ModelUpdated', { previousVersion: 'v1', newVersion: 'v2' }),
      ev('AuditLogged', { auditId: 'x' }),
    ]);
    expect(awaiting(state)).toMatchObject({ step: null, messages: ['SagaCompleted'] });
  });

  it('given a saga that ended, then it waits for nothing', () => {
    const state = fold('s1', [requested(), ev('ModelReservationFailed', { reason: 'taken' })]);
    expect(state.status).toBe('Compensated');
    expect(awaiting(state)).toBeUndefined();
  });
});
