/**
 * A kafkajs consumer that hands typed messages to a handler, one at a time (`handle`) or a
 * partition's run of them at once (`handleBatch`, which handles them in one transaction). A record
 * that can never be decoded goes to its topic's dead-letter topic — with the error and its origin
 * in headers, acknowledged by the broker before the offset moves on — and consumption goes on.
 * Nothing is dropped: an offset is resolved only after its handler returned, and committed after that.
 */
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { Partitioners, type Consumer, type Kafka, type KafkaMessage, type Producer } from 'kafkajs';
import { PoisonMessageError, SagalineError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import { deadLetterTopicFor } from '../../topics/catalogue.ts';
import type { ProcessorMetrics } from './metrics.ts';
import { decodeMessage, headerStrings, type DecodedMessage, type TopicMessages } from './decode.ts';

export interface DecodingConsumerOptions {
  kafka: Kafka;
  registry: SchemaRegistry;
  groupId: string;
  topics: string[];
  fromBeginning?: boolean;
  /** One message at a time. Give this or `handleBatch`. */
  handle?: (message: DecodedMessage) => Promise<void>;
  /**
   * Messages of one partition, in their order (at most `batchMaxMessages`). When it returns, all of
   * them are done and their offsets resolved; when it throws, none is, and they come again.
   */
  handleBatch?: (messages: DecodedMessage[]) => Promise<void>;
  batchMaxMessages?: number;
  /**
   * How long the broker may hold a fetch to gather `fetchMinBytes` (default: answer as soon as one
   * record is there). Gathering a little lets a busy consumer handle more per transaction.
   */
  fetchMaxWaitMs?: number;
  fetchMinBytes?: number;
  /**
   * Commit handled offsets at most this often (default: after every batch). What a crash makes come
   * again must be recognised by the handler (an inbox): only `handleBatch` consumers take this.
   */
  commitIntervalMs?: number;
  /** Partitions handled at once in this process (default 1). */
  partitionsConcurrently?: number;
  log: Logger;
  sessionTimeoutMs?: number;
  /** What each topic may carry (default: the built-in catalogue). */
  catalogue: TopicMessages;
  /** Where each fetch's duration is observed; none by default. */
  metrics?: Pick<ProcessorMetrics, 'fetchDuration'>;
}

export interface RunningConsumer {
  consumer: Consumer;
  /** Records sent to a dead-letter topic since start. */
  deadLettered(): number;
  stop(): Promise<void>;
}

/**
 * What a dead letter says besides the record itself: the error, where the record is, and the
 * consumer group that could not handle it (each group that reads the topic sends its own).
 */
export function deadLetterHeaders(error: Error, topic: string, partition: number, message: KafkaMessage, now: Date, groupId: string): Record<string, string> {
  return {
    'dlq.group': groupId,
    'dlq.error': error.message,
    'dlq.error.code': (error as { code?: string }).code ?? error.name,
    'dlq.source.topic': topic,
    'dlq.source.partition': String(partition),
    'dlq.source.offset': message.offset,
    'dlq.failed.at': now.toISOString(),
  };
}

export async function sendToDeadLetter(producer: Producer, error: PoisonMessageError, topic: string, partition: number, message: KafkaMessage, groupId: string): Promise<void> {
  const original: Record<string, Buffer | string> = {};
  for (const [k, v] of Object.entries(message.headers ?? {})) {
    const first = Array.isArray(v) ? v[0] : v;
    if (first !== undefined) original[k] = first;
  }
  await producer.send({
    topic: deadLetterTopicFor(topic),
    acks: -1,
    messages: [{ key: message.key, value: message.value, headers: { ...original, ...deadLetterHeaders(error, topic, partition, message, new Date(), groupId) } }],
  });
}

/**
 * A redriven copy of a record (audit/dead-letters.ts) names the groups that could not handle the
 * original; every other group passes over it. Records without the header are for every group.
 */
export function addressedTo(message: KafkaMessage, groupId: string): boolean {
  const v = message.headers?.[REDRIVE_HEADERS.groups];
  const first = Array.isArray(v) ? v[0] : v;
  if (first === undefined || first === null) return true;
  return String(first).split(',').includes(groupId);
}

/** Headers of a redriven copy on the event log: the groups it is for, and who sent it, when and why. */
export const REDRIVE_HEADERS = {
  groups: 'sagaline.redrive.groups',
  of: 'sagaline.redrive.of',
  by: 'sagaline.redrive.by',
  reason: 'sagaline.redrive.reason',
  at: 'sagaline.redrive.at',
} as const;

/** What a log line about an undecodable record can say about it: where it is, and its ids if its headers have them. */
export function poisonLogFields(topic: string, partition: number, message: KafkaMessage): Record<string, string | number | null> {
  const headers = headerStrings(message.headers);
  return { topic, partition, offset: message.offset, messageId: headers.id ?? null, sagaId: headers.sagaId ?? message.key?.toString() ?? null };
}

/**
 * A handler's error as kafkajs must see it: retriable. kafkajs gives up for good on a TypeError (or
 * any error marked not retriable) thrown by a handler: the consumer stops while the process lives on,
 * and nothing is consumed any more — a stall nobody is told about. Wrapped, the batch is tried again
 * with backoff and, after kafkajs's retries, the consumer restarts, as for any transient failure.
 */
export class HandlerFailedError extends SagalineError {
  constructor(cause: unknown) {
    super('HANDLER_FAILED', `handling failed: ${(cause as Error)?.message ?? String(cause)}`, { cause, retriable: true });
  }
}

export async function runDecodingConsumer(options: DecodingConsumerOptions): Promise<RunningConsumer> {
  const consumer = options.kafka.consumer({
    groupId: options.groupId,
    allowAutoTopicCreation: false,
    ...(options.fetchMinBytes ? { minBytes: options.fetchMinBytes, maxWaitTimeInMs: options.fetchMaxWaitMs ?? 5_000 } : {}),
    // A restarted processor rejoins its group; the rebalance waits for the crashed member only this long.
    ...(options.sessionTimeoutMs
      ? { sessionTimeout: options.sessionTimeoutMs, rebalanceTimeout: 2 * options.sessionTimeoutMs, heartbeatInterval: Math.max(1_000, Math.floor(options.sessionTimeoutMs / 10)) }
      : {}),
  });
  const producer = options.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
  let deadLettered = 0;
  await producer.connect();
  await consumer.connect();
  for (const topic of options.topics) await consumer.subscribe({ topic, fromBeginning: options.fromBeginning ?? true });
  const deadLetter = async (err: PoisonMessageError, topic: string, partition: number, message: KafkaMessage): Promise<void> => {
    await sendToDeadLetter(producer, err, topic, partition, message, options.groupId);
    deadLettered += 1;
    options.log.warn({ ...poisonLogFields(topic, partition, message), err: err.message }, 'poison message sent to dead-letter topic');
  };
  const decodeOrPoison = async (topic: string, partition: number, message: KafkaMessage): Promise<DecodedMessage | PoisonMessageError> => {
    try {
      return await decodeMessage(options.registry, topic, partition, message, options.catalogue);
    } catch (err) {
      if (err instanceof PoisonMessageError) return err;
      throw err;
    }
  };
  // Every failure is logged where it happens; what kafkajs then does is logged from its events.
  const failed = (err: unknown, topic: string, partition: number, count: number): HandlerFailedError => {
    options.log.error({ err: (err as Error)?.message ?? String(err), stack: (err as Error)?.stack, topic, partition, messages: count }, 'handling failed; the messages come again after a backoff');
    return err instanceof HandlerFailedError ? err : new HandlerFailedError(err);
  };
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    options.log.error({ err: payload.error.message, restart: payload.restart, group: payload.groupId }, payload.restart ? 'consumer crashed; kafkajs restarts it' : 'consumer crashed and is not restarted');
  });
  const fetchDuration = options.metrics?.fetchDuration;
  if (fetchDuration) consumer.on(consumer.events.FETCH, ({ payload }) => fetchDuration.observe(payload.duration / 1000));
  const { handle, handleBatch } = options;
  if ((handle === undefined) === (handleBatch === undefined)) throw new Error('runDecodingConsumer: give exactly one of handle and handleBatch');
  if (handle) {
    await consumer.run({
      partitionsConsumedConcurrently: options.partitionsConcurrently ?? 1,
      eachMessage: async ({ topic, partition, message }) => {
        if (!addressedTo(message, options.groupId)) return;
        const decoded = await decodeOrPoison(topic, partition, message);
        if (decoded instanceof PoisonMessageError) return deadLetter(decoded, topic, partition, message);
        try {
          await handle(decoded);
        } catch (err) {
          throw failed(err, topic, partition, 1);
        }
      },
    });
  } else if (handleBatch) {
    const max = options.batchMaxMessages ?? 500;
    await consumer.run({
      partitionsConsumedConcurrently: options.partitionsConcurrently ?? 1,
      ...(options.commitIntervalMs ? { autoCommitInterval: options.commitIntervalMs } : {}),
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        const { topic, partition } = batch;
        let chunk: DecodedMessage[] = [];
        let last: string | undefined;
        // Handles what has been gathered, then moves the partition's position past it.
        const flush = async (): Promise<void> => {
          if (chunk.length > 0) {
            try {
              await handleBatch(chunk);
            } catch (err) {
              throw failed(err, topic, partition, chunk.length);
            }
          }
          if (last !== undefined) resolveOffset(last);
          chunk = [];
          last = undefined;
          await heartbeat();
        };
        for (const message of batch.messages) {
          // Partitions taken away in a rebalance: stop here; the new owner starts after the last resolved offset.
          if (!isRunning() || isStale()) break;
          // A copy redriven to other groups: passed over, its offset moves on with the rest.
          if (!addressedTo(message, options.groupId)) {
            if (chunk.length === 0) resolveOffset(message.offset);
            else last = message.offset;
            continue;
          }
          const decoded = await decodeOrPoison(topic, partition, message);
          if (decoded instanceof PoisonMessageError) {
            // What came before it is handled first, so the dead letter is sent once, after them.
            await flush();
            await deadLetter(decoded, topic, partition, message);
            resolveOffset(message.offset);
            continue;
          }
          chunk.push(decoded);
          last = message.offset;
          if (chunk.length >= max) await flush();
        }
        if (isRunning() && !isStale()) await flush();
      },
    });
  }
  return {
    consumer,
    deadLettered: () => deadLettered,
    async stop() {
      await consumer.disconnect();
      await producer.disconnect();
    },
  };
}
