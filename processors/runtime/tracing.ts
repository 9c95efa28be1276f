/** A handled message's spans: the CDC hop it took (from its outbox row's write to this consumer), then its handling. */
import { inSpan, recordSpan, SpanKind, tracingOn } from '../../core/tracing.ts';
import type { DecodedMessage } from './decode.ts';

/** Runs `work` (handling `message` at `service`) inside its spans; with tracing off, just runs it. */
export async function inHandlingSpans<T>(service: string, message: DecodedMessage, work: () => Promise<T>): Promise<T> {
  if (!tracingOn()) return work();
  const { kafka, metadata } = message;
  const attributes = {
    'messaging.system': 'kafka',
    'messaging.destination.name': kafka.topic,
    'messaging.destination.partition.id': String(kafka.partition),
    'messaging.kafka.offset': Number(kafka.offset),
    'messaging.message.id': metadata.messageId,
    'sagaline.saga_id': metadata.sagaId,
    'sagaline.message_type': message.type,
    'sagaline.service': service,
  };
  const cdc = recordSpan(`cdc ${kafka.topic}`, { kind: SpanKind.CONSUMER, traceparent: metadata.traceparent, messageFirst: true, startTime: kafka.occurredAt ?? kafka.timestamp, attributes }, metadata.traceparent);
  return inSpan(`handle ${message.type}`, { traceparent: cdc, messageFirst: true, attributes }, () => work());
}
