import { describe, expect, it } from 'vitest';
import type { DecodedMessage } from '../processors/runtime/decode.ts';
import type { MessagePayloads, MessageType } from '../schemas/generated.ts';
import { causalOrder, emitterOf, timelineOf } from './timeline.ts';

const SAGA = 'saga-1';
const topicOf: Record<string, string> = {
  TrainingRequested: 'sagaline.training-requests', ModelReserved: 'sagaline.model-events', ModelReservationReleased: 'sagaline.model-events',
  ResourcesAllocated: 'sagaline.resource-events', ResourcesReleased: 'sagaline.resource-events',
  TrainingStarted: 'sagaline.training-events', TrainingFailed: 'sagaline.training-events', StepTimedOut: 'sagaline.saga-events',
};
let offset = 0;
function msg<T extends MessageType>(type: T, id: string, cause: string, at: number, payload: Partial<MessagePayloads[T]> = {}): DecodedMessage {
  return {
    type,
    payload: { sagaId: SAGA, ...payload } as MessagePayloads[T],
    metadata: { messageId: id, sagaId: SAGA, tenantId: 't1', correlationId: SAGA, causationId: cause, traceparent: '' },
    kafka: { topic: topicOf[type] as string, partition: 2, offset: String(offset++), timestamp: at, key: SAGA },
  };
}

/** A saga that fails at TRAIN and is compensated in reverse: what the processors write. */
function compensatedSaga(): DecodedMessage[] {
  return [
    msg('TrainingRequested', 'req', SAGA, 1_000, { modelId: 'm1', tenantId: 't1', requestedAt: 1_000, config: { algorithm: 'a', hyperparameters: {}, datasetUri: 'd', validationSplit: 0.1, simulation: null }, resources: { cpuCores: 1, memoryGb: 1, gpuCount: 0, storageGb: 1 } }),
    msg('ModelReserved', 'res', 'req', 1_010, { modelId: 'm1', reservationId: 'r1' }),
    msg('ResourcesAllocated', 'alloc', 'res', 1_020, { allocationId: 'a1', computeNodes: ['node-1'] }),
    msg('TrainingStarted', 'start', 'alloc', 1_030, { jobId: 'j1' }),
    msg('TrainingFailed', 'fail', 'alloc', 1_040, { jobId: 'j1', reason: 'diverged' }),
    msg('ResourcesReleased', 'rel', 'fail', 1_050, { allocationId: 'a1', reason: 'TRAIN failed', compensation: true }),
    msg('ModelReservationReleased', 'unres', 'rel', 1_060, { modelId: 'm1', reservationId: 'r1', reason: 'TRAIN failed', compensation: true }),
  ];
}

describe('audit timeline', () => {
  it('given messages read in any order, when ordered, then each comes after its cause', () => {
    const messages = compensatedSaga();
    for (let seed = 0; seed < 50; seed++) {
      // Given the messages shuffled (topics interleave differently on every read)
      const shuffled = [...messages].sort((a, b) => ((a.metadata.messageId.charCodeAt(0) * (seed + 7)) % 13) - ((b.metadata.messageId.charCodeAt(0) * (seed + 7)) % 13));
      // When they are put in causal order
      const ordered = causalOrder(shuffled).map((m) => m.metadata.messageId);
      // Then the order is the same every time, and no message precedes its cause
      expect(ordered).toEqual(['req', 'res', 'alloc', 'start', 'fail', 'rel', 'unres']);
    }
  });

  it('given a cause stamped later than its effect (clocks of two brokers), then causation still wins', () => {
    const [req, reserved] = compensatedSaga() as [DecodedMessage, DecodedMessage];
    const skewed = { ...reserved, kafka: { ...reserved.kafka, timestamp: 500 } };
    expect(causalOrder([skewed, req]).map((m) => m.type)).toEqual(['TrainingRequested', 'ModelReserved']);
  });

  it('given a message delivered twice, then both copies are shown and the state counts it once', () => {
    const messages = compensatedSaga();
    const again = { ...(messages[1] as DecodedMessage), kafka: { ...(messages[1] as DecodedMessage).kafka, offset: '99', timestamp: 1_070 } };
    const timeline = timelineOf(SAGA, [...messages, again]);
    expect(timeline.events.filter((e) => e.messageId === 'res')).toHaveLength(2);
    expect(timeline.state).toEqual(timelineOf(SAGA, messages).state);
  });

  it('derives the final state and who emitted each message', () => {
    const timeline = timelineOf(SAGA, compensatedSaga());
    expect(timeline.state.state).toBe('Compensated');
    expect(timeline.state.reason).toBe('TRAIN failed: diverged');
    expect(timeline.events.map((e) => e.service)).toEqual(['requester', 'model-service', 'resource-service', 'training-service', 'training-service', 'resource-service', 'model-service']);
    expect(timeline.events[4]).toMatchObject({ type: 'TrainingFailed', topic: 'sagaline.training-events', partition: 2, causationId: 'alloc', payload: { reason: 'diverged' } });
  });

  it('attributes saga events to the watchdog, and a failed compensation to the step owner', () => {
    expect(emitterOf('StepTimedOut', { step: 'TRAIN' })).toBe('saga-state');
    expect(emitterOf('SagaCompleted', {})).toBe('saga-state');
    expect(emitterOf('CompensationFailed', { step: 'ALLOCATE' })).toBe('resource-service');
    expect(emitterOf('AuditLogged', {})).toBe('audit-service');
  });
});
