/** Valid messages of every type, made from the schemas themselves (avsc's random values), reproducibly. */
import { newTraceparent } from '../../core/ids.ts';
import type { OutgoingMessage } from '../../outbox-connector/outbox-writer.ts';
import { loadContracts, messageRecord } from '../../schemas/contracts.ts';
import { MESSAGE_TYPES, type MessagePayloads, type MessageType } from '../../schemas/generated.ts';
import { randomUUID } from 'node:crypto';

/** Deterministic pseudo-random numbers (mulberry32), so a failing run can be replayed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function anyMessage<T extends MessageType>(type: T, sagaId: string, tenantId = 'tenant-test'): OutgoingMessage<T> {
  const record = messageRecord(loadContracts(), type);
  const payload = record.random() as unknown as MessagePayloads[T] & Record<string, unknown>;
  // Saga messages carry the saga id; two-phase commit messages carry their transaction id, which is the key.
  const keyField = record.fields.some((f) => f.name === 'sagaId') ? 'sagaId' : 'transactionId';
  (payload as Record<string, unknown>)[keyField] = sagaId;
  return {
    type,
    payload,
    metadata: { messageId: randomUUID(), sagaId, tenantId, correlationId: sagaId, causationId: randomUUID(), traceparent: newTraceparent() },
  };
}

export function messageTypeAt(index: number): MessageType {
  return MESSAGE_TYPES[index % MESSAGE_TYPES.length] as MessageType;
}
