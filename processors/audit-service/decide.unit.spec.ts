import { describe, expect, it } from 'vitest';
import type { MessagePayloads } from '../../schemas/generated.ts';
import { fold, type SagaEvent } from '../saga/state.ts';
import { decide } from './decide.ts';

let n = 0;
const ev = <T extends keyof MessagePayloads>(type: T, payload: Partial<MessagePayloads[T]>): SagaEvent<T> => ({ type, payload: { sagaId: 's1', ...payload } as MessagePayloads[T], messageId: `m${++n}`, at: n });
const ctx = { now: 0, newId: () => 'audit-2' };
const request = ev('TrainingRequested', { modelId: 'm1', tenantId: 't1', config: { algorithm: 'a', hyperparameters: {}, datasetUri: 'd', validationSplit: 0, simulation: null }, resources: { cpuCores: 1, memoryGb: 1, gpuCount: 0, storageGb: 1 } });
const updated = ev('ModelUpdated', { modelId: 'm1', previousVersion: 'v1', newVersion: 'v2' });
const path = [request, ev('ModelReserved', { reservationId: 'r' }), ev('ResourcesAllocated', { allocationId: 'a', computeNodes: [] }), ev('TrainingCompleted', { jobId: 'j', artifacts: { modelBinaryUri: 'u', metadata: {}, metrics: {} } }), updated];
const incoming = (e: SagaEvent) => ({ type: e.type, payload: e.payload, metadata: { messageId: e.messageId, traceparent: 't' } });

describe('audit-service', () => {
  it('given the model was updated, when ModelUpdated arrives, then it appends one completed entry', () => {
    const d = decide(fold('s1', path), incoming(updated), { entries: [] }, ctx);
    expect(d.commands).toEqual([{ kind: 'append', entry: 'completed', auditId: 'audit-2', sagaId: 's1', tenantId: 't1', modelId: 'm1', version: 'v2' }]);
    expect(d.messages.map((m) => m.type)).toEqual(['AuditLogged']);
  });

  it('given its entry was written after the AUDIT deadline fired, when the saga compensates, then it appends the reversal (entries are never changed)', () => {
    const timeout = ev('StepTimedOut', { step: 'AUDIT', deadlineAt: 1 });
    const d = decide(fold('s1', [...path, timeout]), incoming(timeout), { entries: ['completed'] }, ctx);
    expect(d.commands).toEqual([{ kind: 'append', entry: 'reverted', auditId: 'audit-2', sagaId: 's1', tenantId: 't1', modelId: 'm1', version: 'v1' }]);
    expect(decide(fold('s1', [...path, timeout]), incoming(timeout), { entries: ['completed', 'reverted'] }, ctx).commands).toEqual([]);
  });

  it('given a duplicate ModelUpdated after the entry exists, then it appends nothing', () => {
    expect(decide(fold('s1', path), incoming(updated), { entries: ['completed'] }, ctx)).toEqual({ commands: [], messages: [] });
  });
});
