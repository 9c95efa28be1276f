/**
 * Turns a Kafka record into a typed message with its metadata, or says precisely why it cannot:
 * a PoisonMessageError for records that will never decode (they go to the dead-letter topic);
 * any other error (the registry unreachable, say) is transient and propagates.
 */
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { IHeaders, KafkaMessage } from 'kafkajs';
import { PoisonMessageError } from '../../core/errors.ts';
import type { MessageMetadata } from '../../outbox-connector/outbox-writer.ts';
import { fromUnionValue } from '../../schemas/contracts.ts';
import { HEADER_LENGTH, schemaIdOf } from '../../schemas/wire-format.ts';

export interface KafkaPosition {
  topic: string;
  partition: number;
  offset: string;
  /** Broker timestamp (ms since epoch). */
  timestamp: number;
  key: string | null;
  /** When its outbox row was written (ms since epoch; the `occurredAt` header), where known. */
  occurredAt?: number;
}

export interface DecodedMessage<T extends string = string, P = unknown> {
  type: T;
  payload: P;
  metadata: MessageMetadata;
  kafka: KafkaPosition;
}

export function headerStrings(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  // A plain loop, no entries array: every record read passes through here.
  for (const k in headers) {
    const v = headers[k];
    const first = Array.isArray(v) ? v[0] : v;
    if (first !== undefined && first !== null) out[k] = typeof first === 'string' ? first : first.toString();
  }
  return out;
}

/** The messages each topic may carry: derived from the definitions (topics/derived.ts). */
export interface TopicMessages {
  /** Every message type known at all (an unknown one is refused as such). */
  known(type: string): boolean;
  /** The types a topic carries; undefined for a topic outside the catalogue (not checked). */
  messagesOf(topic: string): readonly string[] | undefined;
}

/** Header checks that need no registry: pure, so they are unit-tested on their own. */
export function checkEnvelope(topic: string, headers: Record<string, string>, value: Buffer | null, topics: TopicMessages): { type: string; schemaId: number } {
  const id = headers.id;
  const type = headers.eventType;
  if (!id) throw new PoisonMessageError(`record on ${topic} has no "id" header`);
  if (!type) throw new PoisonMessageError(`record ${id} on ${topic} has no "eventType" header`);
  if (!topics.known(type)) throw new PoisonMessageError(`record ${id} on ${topic} has unknown eventType "${type}"`);
  const catalogued = topics.messagesOf(topic);
  if (catalogued && !catalogued.includes(type)) {
    throw new PoisonMessageError(`record ${id}: ${type} does not belong on ${topic} (its saga's topic does not carry it)`);
  }
  const schemaId = schemaIdOf(value);
  if (schemaId === undefined) throw new PoisonMessageError(`record ${id} (${type}) on ${topic}: payload is not in the Confluent wire format`);
  return { type, schemaId };
}

/** Writer schemas by registry id, per registry client, once fetched: a record of a known schema decodes without waiting. */
const writerSchemas = new WeakMap<SchemaRegistry, Map<number, WriterSchema>>();
interface WriterSchema {
  fromBuffer(payload: Buffer): unknown;
}

/**
 * Decodes a record: at once (no Promise) when its writer schema was fetched before, which is
 * nearly always; otherwise once the registry has answered. Errors as in the module comment.
 */
export function decodeMessage(registry: SchemaRegistry, topic: string, partition: number, message: KafkaMessage, topics: TopicMessages): DecodedMessage | Promise<DecodedMessage> {
  const headers = headerStrings(message.headers);
  const { type, schemaId } = checkEnvelope(topic, headers, message.value, topics);
  const known = writerSchemas.get(registry)?.get(schemaId);
  if (known) {
    let decoded: unknown;
    try {
      decoded = known.fromBuffer((message.value as Buffer).subarray(HEADER_LENGTH));
    } catch (err) {
      throw payloadError(err, headers, type, topic);
    }
    return toMessage(decoded, headers, type, topic, partition, message);
  }
  return (async () => {
    let decoded: unknown;
    try {
      decoded = await registry.decode(message.value as Buffer);
    } catch (err) {
      throw payloadError(err, headers, type, topic);
    }
    const schema = (await registry.getSchema(schemaId)) as unknown as WriterSchema;
    if (!writerSchemas.has(registry)) writerSchemas.set(registry, new Map());
    writerSchemas.get(registry)!.set(schemaId, schema);
    return toMessage(decoded, headers, type, topic, partition, message);
  })();
}

/** Unknown schema id (404) or bytes that do not decode: this record never will. Anything else may be transient. */
function payloadError(err: unknown, headers: Record<string, string>, type: string, topic: string): unknown {
  const status = (err as { status?: number }).status;
  if (status === 404 || status === undefined && !(err as { code?: string }).code?.startsWith('E')) {
    return new PoisonMessageError(`record ${headers.id} (${type}) on ${topic} does not decode: ${(err as Error).message}`, { cause: err });
  }
  return err;
}

/** The row's write time from its header (ISO 8601; Debezium gives microseconds, the relay milliseconds); absent when unreadable. */
function occurredAt(header: string | undefined): { occurredAt?: number } {
  const ms = header ? Date.parse(header) : Number.NaN;
  return Number.isFinite(ms) ? { occurredAt: ms } : {};
}

function toMessage(decoded: unknown, headers: Record<string, string>, type: string, topic: string, partition: number, message: KafkaMessage): DecodedMessage {
  const payload = fromUnionValue(decoded, type);
  if (payload === undefined) {
    throw new PoisonMessageError(`record ${headers.id} on ${topic}: eventType header says ${type}, the payload is ${Object.keys(decoded as object).join(', ')}`);
  }
  return {
    type,
    payload,
    metadata: {
      messageId: headers.id as string,
      sagaId: headers.sagaId ?? message.key?.toString() ?? '',
      tenantId: headers.tenantId ?? '',
      correlationId: headers.correlationId ?? '',
      causationId: headers.causationId ?? '',
      traceparent: headers.traceparent ?? '',
    },
    kafka: { topic, partition, offset: message.offset, timestamp: Number(message.timestamp), key: message.key?.toString() ?? null, ...occurredAt(headers.occurredAt) },
  };
}
