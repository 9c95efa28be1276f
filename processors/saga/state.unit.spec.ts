import { describe, expect, it } from 'vitest';
import type { MessagePayloads, MessageType } from '../../schemas/generated.ts';
import * as resource from '../resource-service/decide.ts';
import { canTransition, evolve, fold, initialState, SAGA_STATUSES, SAGA_TRANSITIONS, type SagaEvent } from './state.ts';

let n = 0;
const ev = <T extends MessageType>(type: T, payload: Partial<MessagePayloads[T]>, at = 1_000 + n): SagaEvent<T> => ({
  type, payload: { sagaId: 's1', ...payload } as MessagePayloads[T], messageId: `m${String(++n).padStart(3, '0')}`, at,
});
const requested = () => ev('TrainingRequested', {
  modelId: 'm1', tenantId: 't1', requestedAt: 1,
  config: { algorithm: 'a', hyperparameters: {}, datasetUri: 'd', validationSplit: 0.1, simulation: null },
  resources: { cpuCores: 1, memoryGb: 1, gpuCount: 0, storageGb: 1 },
});

describe('saga state', () => {
  it('allows only the transitions in its table, and terminal states have none', () => {
    for (const from of SAGA_STATUSES) for (const to of SAGA_STATUSES) expect(canTransition(from, to)).toBe(SAGA_TRANSITIONS[from].includes(to));
    expect(SAGA_TRANSITIONS.Completed).toEqual([]);
    expect(SAGA_TRANSITIONS.Compensated).toEqual([]);
    expect(SAGA_TRANSITIONS.Failed).toEqual([]);
  });

  it('given a message already folded in, when it is delivered again, then nothing changes', () => {
    const reserved = ev('ModelReserved', { modelId: 'm1', reservationId: 'r1' });
    const once = fold('s1', [requested(), reserved]);
    expect(evolve(once, reserved)).toBe(once);
  });

  it('given a timeout read before the late success it outran, then the success is still compensated', () => {
    const r = requested();
    const timeout = ev('StepTimedOut', { step: 'RESERVE', deadlineAt: 5 });
    const late = ev('ModelReserved', { modelId: 'm1', reservationId: 'r1' });
    const state = fold('s1', [r, timeout, late]);
    expect(state.status).toBe('Compensating');
    expect(state.steps.RESERVE).toMatchObject({ status: 'succeeded', reason: 'succeeded after its deadline (to be compensated)' });
    // And read in the other order, the state is the same: the projection rebuilt from the log equals the live one
    expect(fold('s1', [r, late, timeout])).toEqual(state);
  });

  it('given the compensation trigger arrives before the action, then the late action is refused', () => {
    // resource-service reads the ALLOCATE timeout before the ModelReserved that would start the allocation
    const r = requested();
    const reserved = ev('ModelReserved', { modelId: 'm1', reservationId: 'r1' });
    const timeout = ev('StepTimedOut', { step: 'ALLOCATE', deadlineAt: 5 });
    const state = fold('s1', [r, timeout, reserved]);
    const decision = resource.decide(state, { type: 'ModelReserved', payload: reserved.payload, metadata: { messageId: reserved.messageId, traceparent: 't' } }, { free: { cpuCores: 9, memoryGb: 9, gpuCount: 9, storageGb: 9 } }, { now: 0, newId: () => 'x' });
    expect(decision.commands.filter((c) => c.kind === 'allocate')).toEqual([]);
    // … and answers the timeout with its (empty) compensation, so earlier steps can be undone
    expect(decision.messages.map((m) => [m.type, (m.payload as { reason: string }).reason])).toEqual([['ResourcesReleased', 'nothing allocated: ALLOCATE timed out']]);
  });

  it('names the earliest failure whatever order failures are read in', () => {
    const r = requested();
    const failed = ev('ModelReservationFailed', { modelId: 'm1', reason: 'taken' }, 10);
    const timeout = ev('StepTimedOut', { step: 'RESERVE', deadlineAt: 5 }, 20);
    expect(fold('s1', [r, failed, timeout])).toEqual(fold('s1', [r, timeout, failed]));
    expect(fold('s1', [r, timeout, failed]).reason).toBe('RESERVE failed: taken');
  });

  it('ends Failed, with the reason visible, when a compensation gives up', () => {
    const state = fold('s1', [requested(), ev('ModelReserved', { reservationId: 'r' }), ev('ResourceAllocationFailed', { reason: 'full' }), ev('CompensationFailed', { step: 'RESERVE', reason: 'db down', attempts: 3 })]);
    expect(state.status).toBe('Failed');
    expect(state.reason).toBe('compensation of RESERVE failed: db down');
    expect(state.steps.RESERVE.status).toBe('compensation_failed');
  });

  it('starts NotStarted', () => {
    expect(initialState('s9')).toMatchObject({ sagaId: 's9', status: 'NotStarted', processed: [] });
  });
});

function mulberry(seed: number): () => number {
  let a = seed * 0x9e3779b9;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Every interleaving keeps each topic's own order; only the mix between topics varies. */
function interleavings(messages: [string, SagaEvent][], count: number): SagaEvent[][] {
  const result: SagaEvent[][] = [];
  for (let seed = 1; seed <= count; seed++) {
    const rnd = mulberry(seed);
    const queues = new Map<string, SagaEvent[]>();
    for (const [topic, m] of messages) queues.set(topic, [...(queues.get(topic) ?? []), m]);
    const order: SagaEvent[] = [];
    while ([...queues.values()].some((q) => q.length)) {
      const open = [...queues.values()].filter((q) => q.length);
      order.push(open[Math.floor(rnd() * open.length)]!.shift()!);
    }
    result.push(order);
  }
  return result;
}

describe('saga state, read in any order (the projection rebuilt from the log equals the live one)', () => {
  const artifacts = { modelBinaryUri: 'u', metadata: {}, metrics: {} };

  it('a completed saga', () => {
    const messages: [string, SagaEvent][] = [
      ['req', requested()],
      ['model', ev('ModelReserved', { modelId: 'm1', reservationId: 'r1' })],
      ['res', ev('ResourcesAllocated', { allocationId: 'a1', computeNodes: ['n1'] })],
      ['train', ev('TrainingStarted', { jobId: 'j1', startedAt: 1 })],
      ['train', ev('TrainingCompleted', { jobId: 'j1', artifacts, completedAt: 2 })],
      ['model', ev('ModelUpdated', { modelId: 'm1', previousVersion: 'v1', newVersion: 'v2' })],
      ['audit', ev('AuditLogged', { auditId: 'x' })],
      ['saga', ev('SagaCompleted', { completedAt: 3 })],
      ['model', ev('ModelReservationReleased', { modelId: 'm1', reservationId: 'r1', reason: 'done', compensation: false })],
      ['res', ev('ResourcesReleased', { allocationId: 'a1', reason: 'done', compensation: false })],
    ];
    const reference = fold('s1', messages.map(([, m]) => m));
    expect(reference.status).toBe('Completed');
    interleavings(messages, 200).forEach((order, i) => expect(fold('s1', order), `interleaving ${i + 1}`).toEqual(reference));
  });

  it('a saga whose training timed out, with the late completion compensated', () => {
    const messages: [string, SagaEvent][] = [
      ['req', requested()],
      ['model', ev('ModelReserved', { modelId: 'm1', reservationId: 'r1' })],
      ['res', ev('ResourcesAllocated', { allocationId: 'a1', computeNodes: ['n1'] })],
      ['train', ev('TrainingStarted', { jobId: 'j1', startedAt: 1 })],
      ['saga', ev('StepTimedOut', { step: 'TRAIN', deadlineAt: 5 })],
      ['train', ev('TrainingCompleted', { jobId: 'j1', artifacts, completedAt: 6 })],
      ['model', ev('ModelUpdateReverted', { modelId: 'm1', restoredVersion: 'v1', reason: 'nothing to revert' })],
      ['train', ev('TrainingCancelled', { jobId: 'j1', reason: 'timed out' })],
      ['res', ev('ResourcesReleased', { allocationId: 'a1', reason: 'timed out', compensation: true })],
      ['model', ev('ModelReservationReleased', { modelId: 'm1', reservationId: 'r1', reason: 'timed out', compensation: true })],
    ];
    const reference = fold('s1', messages.map(([, m]) => m));
    expect(reference.status).toBe('Compensated');
    expect(reference.failedStep).toBe('TRAIN');
    interleavings(messages, 200).forEach((order, i) => expect(fold('s1', order), `interleaving ${i + 1}`).toEqual(reference));
  });
});

describe('stale messages', () => {
  it('a success read after the same step was compensated does not start the next step', () => {
    const state = fold('s1', [
      requested(),
      ev('ModelReserved', { modelId: 'm1', reservationId: 'r1' }),
      ev('ResourcesAllocated', { allocationId: 'a1', computeNodes: [] }),
      ev('StepTimedOut', { step: 'TRAIN', deadlineAt: 1 }),
      ev('TrainingCancelled', { jobId: null, reason: 'timed out' }),
      ev('ResourcesReleased', { allocationId: 'a1', reason: 'timed out', compensation: true }),
      ev('ModelReservationReleased', { modelId: 'm1', reservationId: 'r1', reason: 'timed out', compensation: true }),
      ev('TrainingCompleted', { jobId: 'j', artifacts: { modelBinaryUri: 'u', metadata: {}, metrics: {} }, completedAt: 9 }),
    ]);
    expect(state.status).toBe('Compensated');
    expect(state.steps.TRAIN.status).toBe('compensated');
    expect(state.steps.UPDATE.status).toBe('pending');
  });
});

describe('decisions from the view, not from the arriving message', () => {
  it('given ModelReserved read before the request it follows, when the request arrives, then resource-service allocates', () => {
    const reserved = ev('ModelReserved', { modelId: 'm1', reservationId: 'r1' });
    const request = requested();
    const state = fold('s1', [reserved, request]);
    const decision = resource.decide(state, { type: request.type, payload: request.payload, metadata: { messageId: request.messageId, traceparent: 't' } }, { free: { cpuCores: 9, memoryGb: 9, gpuCount: 9, storageGb: 9 } }, { now: 0, newId: () => 'a1' });
    expect(decision.commands.map((c) => c.kind)).toEqual(['allocate']);
    expect(decision.messages.map((m) => m.type)).toEqual(['ResourcesAllocated']);
  });
});
