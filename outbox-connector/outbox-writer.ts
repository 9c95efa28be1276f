/**
 * Publishing a domain message = one outbox row written in the caller's own transaction.
 *
 * `publish(client, message)` validates the message against its Avro schema, encodes it in the
 * Confluent wire format with the topic's schema id (resolved once, when the writer is created: no
 * registry round trip per message) and inserts the row. An invalid message throws a
 * MessageValidationError before any SQL runs, so the caller's transaction stays usable.
 */
import type { RegistryEndpoint } from '../core/config.ts';
import avsc from 'avsc';
import type pg from 'pg';
import { ConfigError, MessageValidationError, SagalineError } from '../core/errors.ts';
import { TRACEPARENT_PATTERN } from '../core/ids.ts';
import { messageRecord, topicValueSchema, toUnionValue, type Contracts } from '../schemas/contracts.ts';
import { subjectFor } from '../schemas/registration.ts';
import { lookupSchemaId } from '../schemas/registry-api.ts';
import { frame } from '../schemas/wire-format.ts';
import type { CatalogueTopic } from '../topics/catalogue.ts';
import { DEFAULT_OUTBOX_TABLE, insertOutboxRow, type OutboxRow } from './outbox-table.ts';
import { recordSpan, SpanKind } from '../core/tracing.ts';

export interface MessageMetadata {
  /** Unique id of this message (the `id` header; consumers deduplicate on it). */
  messageId: string;
  sagaId: string;
  tenantId: string;
  /** Ties every message of one business process together (the saga id, for sagas). */
  correlationId: string;
  /** The id of the message that caused this one (the request id for the first message). */
  causationId: string;
  /** W3C trace context. */
  traceparent: string;
}

/** A message to write: its type (the Avro record's name), its payload and its metadata. */
export interface OutgoingMessage<T extends string = string, P = unknown> {
  type: T;
  payload: P;
  metadata: MessageMetadata;
}

export interface TopicCodec {
  topic: CatalogueTopic;
  schemaId: number;
  union: avsc.Type;
}

export class OutboxWriter {
  private constructor(
    private readonly contracts: Contracts,
    private readonly codecs: Map<string, TopicCodec>,
    private readonly table: string,
  ) {}

  /** Resolves every topic's schema id once; fails naming the subject if one is not registered. */
  static async create(registry: RegistryEndpoint | string, contracts: Contracts, options: { table?: string; topics: readonly CatalogueTopic[] }): Promise<OutboxWriter> {
    const codecs = new Map<string, TopicCodec>();
    for (const topic of options.topics) {
      const schema = topicValueSchema(contracts, topic.messages);
      const schemaId = await lookupSchemaId(registry, subjectFor(topic.name), JSON.stringify(schema));
      if (schemaId === undefined) {
        throw new SagalineError('SCHEMA_NOT_REGISTERED', `the schema of ${subjectFor(topic.name)} in schemas/ is not registered: run \`npx sagaline provision\``);
      }
      codecs.set(topic.name, { topic, schemaId, union: avsc.Type.forSchema(schema as avsc.Schema) });
    }
    return new OutboxWriter(contracts, codecs, options.table ?? DEFAULT_OUTBOX_TABLE);
  }

  /**
   * The topic this writer routes a message type to: `topic` when given (it must carry the type),
   * else the one of its topics that carries it. A type several of its topics carry (the engine's
   * own messages are on every saga's topic) needs `topic`: guessing would send it to another saga.
   */
  private topicOf(type: string, topic?: string): TopicCodec | undefined {
    if (topic !== undefined) {
      const codec = this.codecs.get(topic);
      if (!codec) throw new ConfigError(`this outbox writer does not write to ${topic} (it writes to ${[...this.codecs.keys()].join(', ')})`);
      return (codec.topic.messages as readonly string[]).includes(type) ? codec : undefined;
    }
    const carriers = [...this.codecs.values()].filter((codec) => (codec.topic.messages as readonly string[]).includes(type));
    if (carriers.length > 1) throw new ConfigError(`message type ${type} is carried by ${carriers.map((c) => c.topic.name).join(' and ')}: say which topic to write it to`);
    return carriers[0];
  }

  /** Checks the message against its schema and metadata rules; throws MessageValidationError listing every problem. */
  validate(message: OutgoingMessage, topic?: string): void {
    const type = message.type as string;
    if (!this.topicOf(type, topic)) {
      throw new MessageValidationError(type, [`unknown message type "${type}"${topic ? ` on ${topic}` : ''} (this writer knows ${[...new Set([...this.codecs.values()].flatMap((c) => c.topic.messages))].join(', ')})`]);
    }
    const problems: string[] = [];
    const record = messageRecord(this.contracts, type);
    record.isValid(message.payload, {
      errorHook: (path, value, expected) => {
        problems.push(`payload.${path.join('.') || '(root)'}: expected ${JSON.stringify(expected.schema())}, got ${JSON.stringify(value) ?? 'undefined'}`);
      },
    });
    const m = message.metadata ?? ({} as MessageMetadata);
    for (const key of ['messageId', 'sagaId', 'tenantId', 'correlationId', 'causationId', 'traceparent'] as const) {
      if (typeof m[key] !== 'string' || m[key] === '') problems.push(`metadata.${key}: expected a non-empty string, got ${JSON.stringify(m[key])}`);
    }
    if (typeof m.messageId === 'string' && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(m.messageId)) {
      problems.push(`metadata.messageId: expected a UUID, got ${JSON.stringify(m.messageId)}`);
    }
    if (typeof m.traceparent === 'string' && m.traceparent !== '' && !TRACEPARENT_PATTERN.test(m.traceparent)) {
      problems.push(`metadata.traceparent: expected W3C format 00-<32 hex>-<16 hex>-<2 hex>, got ${JSON.stringify(m.traceparent)}`);
    }
    const payloadSaga = (message.payload as { sagaId?: unknown } | undefined)?.sagaId;
    if (typeof payloadSaga === 'string' && typeof m.sagaId === 'string' && payloadSaga !== m.sagaId) {
      problems.push(`metadata.sagaId "${m.sagaId}" differs from payload.sagaId "${payloadSaga}"`);
    }
    if (problems.length > 0) throw new MessageValidationError(type, problems);
  }

  /** Validates and encodes: the exact bytes that will travel through Kafka. */
  encode(message: OutgoingMessage, topic?: string): { topic: CatalogueTopic; bytes: Buffer } {
    this.validate(message, topic);
    const codec = this.topicOf(message.type, topic) as TopicCodec;
    const avro = codec.union.toBuffer(toUnionValue(codec.union, message.type, message.payload));
    return { topic: codec.topic, bytes: frame(codec.schemaId, avro) };
  }

  /** The outbox table this writer writes to. */
  get outboxTable(): string {
    return this.table;
  }

  /** Validates and encodes a message into the outbox row that carries it (nothing is written). */
  row(message: OutgoingMessage, topic?: string): OutboxRow {
    const { topic: target, bytes } = this.encode(message, topic);
    const m = message.metadata;
    // The outbox write's span (tracing on): the row carries its traceparent, so whoever handles the
    // message continues the trace from here. It commits with the caller's transaction.
    const traceparent = recordSpan(`outbox ${message.type}`, {
      kind: SpanKind.PRODUCER,
      traceparent: m.traceparent,
      attributes: { 'messaging.system': 'kafka', 'messaging.destination.name': target.name, 'messaging.message.id': m.messageId, 'sagaline.saga_id': m.sagaId, 'sagaline.message_type': message.type },
    }, m.traceparent);
    return {
      id: m.messageId,
      aggregateType: target.aggregateType as string,
      aggregateId: m.sagaId,
      type: message.type,
      payload: bytes,
      tenantId: m.tenantId,
      sagaId: m.sagaId,
      correlationId: m.correlationId,
      causationId: m.causationId,
      traceparent,
    };
  }

  /** Writes the message to the outbox with `client`, inside the caller's transaction. Returns the message id. */
  async publish(client: pg.ClientBase, message: OutgoingMessage, topic?: string): Promise<string> {
    await insertOutboxRow(client, this.row(message, topic), this.table);
    return message.metadata.messageId;
  }
}
