/** What a participant's pure decision returns, and how it phrases its messages. */
import type { MessageMetadata, OutgoingMessage } from '../../outbox-connector/outbox-writer.ts';
import type { MessagePayloads, MessageType } from '../../schemas/generated.ts';
import type { SagaState } from './state.ts';

/** Time and fresh ids come in from the shell; decision code reads no clock and makes no randomness. */
export interface DecisionContext {
  now: number;
  newId: () => string;
}

/** The message being handled, as the decision needs it. */
export interface Incoming {
  type: MessageType;
  payload: unknown;
  metadata: Pick<MessageMetadata, 'messageId' | 'traceparent'>;
}

export interface Decision<C> {
  commands: C[];
  messages: OutgoingMessage[];
}

export const nothing = <C>(): Decision<C> => ({ commands: [], messages: [] });

/** A message of this saga caused by `cause`: same saga, tenant and trace; causation = the cause's id. */
export function reply<T extends MessageType>(state: SagaState, cause: Incoming, type: T, payload: MessagePayloads[T], ctx: DecisionContext, messageId = ctx.newId()): OutgoingMessage<T> {
  return {
    type,
    payload,
    metadata: {
      messageId,
      sagaId: state.sagaId,
      tenantId: state.tenantId ?? 'unknown',
      correlationId: state.sagaId,
      causationId: cause.metadata.messageId,
      traceparent: cause.metadata.traceparent,
    },
  };
}

export function simulation(state: SagaState) {
  return state.request?.config.simulation ?? null;
}
