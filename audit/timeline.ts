/**
 * A saga's history read back from the Kafka log (never from the projection): every message in
 * causal order — each after the message that caused it, otherwise by broker time — with where it
 * sits in the log, who emitted it, and the state the saga's fold derives from it.
 */
import type { Config } from '../core/config.ts';
import { SagalineError } from '../core/errors.ts';
import type { DecodedMessage } from '../processors/runtime/decode.ts';
import { stepDefinition, stepOfMessage } from '../processors/saga/definition.ts';
import { evolve, initialState } from '../processors/saga/state.ts';
import { summarize, type SagaSummary } from '../processors/saga-state/queries.ts';
import type { MessageType, Step } from '../schemas/generated.ts';
import { readLog } from './log-reader.ts';

export interface AuditEvent {
  at: string;
  topic: string;
  partition: number;
  offset: string;
  type: MessageType;
  service: string;
  messageId: string;
  causationId: string;
  correlationId: string;
  payload: unknown;
}

export interface AuditTimeline {
  sagaId: string;
  events: AuditEvent[];
  /** The saga's state folded from exactly these events. */
  state: SagaSummary;
}

export class SagaNotInLogError extends SagalineError {
  constructor(sagaId: string) {
    super('SAGA_NOT_FOUND', `no message of saga ${sagaId} in the event log`);
  }
}

/** Who wrote a message to its outbox: the step's owner, the requester, or the saga watchdog. */
export function emitterOf(type: MessageType, payload: unknown): string {
  const reported = stepOfMessage(type);
  if (reported) return stepDefinition(reported.step).service;
  switch (type) {
    case 'TrainingRequested':
      return 'requester';
    case 'TrainingStarted':
      return 'training-service';
    case 'StepTimedOut':
    case 'SagaCompleted':
      return 'saga-state';
    case 'CompensationFailed':
      return stepDefinition((payload as { step: Step }).step).service;
    // Written by the two-phase commit coordinator inside each participant's prepared transaction.
    case 'ModelVersionChanged':
      return 'model-service';
    case 'ModelVersionAudited':
      return 'audit-service';
    default:
      return 'unknown';
  }
}

const logPosition = (m: DecodedMessage) => [m.kafka.timestamp, m.kafka.topic, m.kafka.partition, BigInt(m.kafka.offset)] as const;

function earlier(a: DecodedMessage, b: DecodedMessage): boolean {
  const pa = logPosition(a);
  const pb = logPosition(b);
  for (let i = 0; i < pa.length; i++) if (pa[i] !== pb[i]) return (pa[i] as number | string | bigint) < (pb[i] as number | string | bigint);
  return false;
}

/**
 * Orders messages so that each comes after the one that caused it (its causationId), and otherwise
 * by broker timestamp, then topic, partition, offset. Messages whose cause is not among them (the
 * request, a deadline) start chains. Deterministic for a given set, whatever order it came in.
 */
export function causalOrder(messages: readonly DecodedMessage[]): DecodedMessage[] {
  const byId = new Map<string, DecodedMessage>();
  for (const m of [...messages].sort((a, b) => (earlier(a, b) ? -1 : earlier(b, a) ? 1 : 0))) {
    if (!byId.has(m.metadata.messageId)) byId.set(m.metadata.messageId, m);
  }
  const children = new Map<DecodedMessage, DecodedMessage[]>();
  const ready: DecodedMessage[] = [];
  for (const m of messages) {
    const cause = byId.get(m.metadata.causationId);
    if (cause && cause !== m && cause.metadata.messageId !== m.metadata.messageId) {
      children.set(cause, [...(children.get(cause) ?? []), m]);
    } else {
      ready.push(m);
    }
  }
  const ordered: DecodedMessage[] = [];
  while (ready.length > 0) {
    let next = 0;
    for (let i = 1; i < ready.length; i++) if (earlier(ready[i] as DecodedMessage, ready[next] as DecodedMessage)) next = i;
    const [m] = ready.splice(next, 1) as [DecodedMessage];
    ordered.push(m);
    ready.push(...(children.get(m) ?? []));
  }
  // A causation cycle cannot come from the processors; if the log holds one, keep those messages last, by position.
  const seen = new Set(ordered);
  ordered.push(...messages.filter((m) => !seen.has(m)).sort((a, b) => (earlier(a, b) ? -1 : 1)));
  return ordered;
}

export function timelineOf(sagaId: string, messages: readonly DecodedMessage[]): AuditTimeline {
  const ordered = causalOrder(messages);
  let state = initialState(sagaId);
  for (const m of ordered) state = evolve(state, { type: m.type, payload: m.payload, messageId: m.metadata.messageId, at: m.kafka.timestamp });
  return {
    sagaId,
    events: ordered.map((m) => ({
      at: new Date(m.kafka.timestamp).toISOString(),
      topic: m.kafka.topic,
      partition: m.kafka.partition,
      offset: m.kafka.offset,
      type: m.type,
      service: emitterOf(m.type, m.payload),
      messageId: m.metadata.messageId,
      causationId: m.metadata.causationId,
      correlationId: m.metadata.correlationId,
      payload: m.payload,
    })),
    state: summarize(state),
  };
}

/** Reads the saga's partition of every event log and returns its timeline. */
export async function auditSaga(config: Config, sagaId: string, timeoutMs = 120_000): Promise<AuditTimeline> {
  const messages: DecodedMessage[] = [];
  await readLog(config, { sagaId, timeoutMs, onMessage: (m) => void messages.push(m) });
  if (messages.length === 0) throw new SagaNotInLogError(sagaId);
  return timelineOf(sagaId, messages);
}
