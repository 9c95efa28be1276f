/**
 * Reading the event log as it stands: every selected partition from its first offset (or the first
 * offset at a given time) up to the end offsets seen when the read began, decoded through the
 * registry. The one way audit, replay, export and rebuild read history, so they all see the same
 * messages. It never commits offsets and deletes its throwaway consumer group afterwards.
 */
import { Partitioners, type Admin, type Kafka, type KafkaMessage, type PartitionMetadata } from 'kafkajs';
import { kafkaClient, registryClient } from '../core/clients.ts';
import type { Config } from '../core/config.ts';
import { PoisonMessageError, SagalineError, TimeoutError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import { createLogger } from '../core/log.ts';
import { decodeMessage, type DecodedMessage, type TopicMessages } from '../processors/runtime/decode.ts';

export interface ReadLogOptions {
  /** Topics to read (a project's saga topics and streams, topics/derived.ts). */
  topics: readonly string[];
  /** What each topic carries, for decoding. */
  catalogue: TopicMessages;
  /** Only this saga's messages: just the partition its key hashes to, filtered by key. */
  sagaId?: string;
  /** Broker timestamps (ms since epoch), inclusive. */
  fromMs?: number;
  toMs?: number;
  /** Per "topic/partition", the offset to start at (instead of the first one kept). */
  startAt?: Map<string, bigint>;
  /** Per "topic/partition", the offset to stop before (instead of the end seen at the start). */
  upTo?: Map<string, bigint>;
  timeoutMs?: number;
  /** Each message, decoded. Give this or `onRecord`. */
  onMessage?: (message: DecodedMessage) => Promise<void> | void;
  /** Each record as fetched, not decoded (dead-letter topics, say). */
  onRecord?: (record: KafkaMessage, position: { topic: string; partition: number }) => void;
  /** A record that can never decode (it went to a dead-letter topic when it was first consumed). */
  onPoison?: (error: PoisonMessageError, position: { topic: string; partition: number; offset: string }) => void;
  /** Called after every record: records read so far, and how many the selection holds. */
  onProgress?: (done: number, total: number) => void;
}

export interface ReadLogResult {
  messages: number;
  poison: number;
  /** Records in the selected offset ranges (before the saga and time filters). */
  total: number;
  elapsedMs: number;
}

interface Range {
  start: bigint;
  end: bigint;
}

/**
 * The partition a key lands on: Kafka's default partitioner (murmur2 of the key bytes), which both
 * the Debezium connectors (string keys) and the polling relay use.
 */
export function partitionForKey(key: string, partitions: number): number {
  const partitioner = Partitioners.DefaultPartitioner();
  const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({ partitionId, leader: 0 }) as PartitionMetadata);
  return partitioner({ topic: '', partitionMetadata, message: { key, value: null } });
}

/** The offset range to read of every selected partition, and each topic's partition count. */
async function offsetRanges(admin: Admin, topics: readonly string[], options: ReadLogOptions): Promise<{ ranges: Map<string, Range>; partitionsOf: Map<string, number> }> {
  const ranges = new Map<string, Range>();
  const partitionsOf = new Map<string, number>();
  const existing = new Set(await admin.listTopics());
  for (const topic of topics) {
    if (!existing.has(topic)) throw new SagalineError('TOPIC_NOT_FOUND', `topic ${topic} does not exist (run \`npx sagaline provision --config\`)`);
    const offsets = await admin.fetchTopicOffsets(topic);
    partitionsOf.set(topic, offsets.length);
    const wanted = options.sagaId === undefined ? undefined : partitionForKey(options.sagaId, offsets.length);
    const starts = options.fromMs === undefined ? undefined : await admin.fetchTopicOffsetsByTimestamp(topic, options.fromMs);
    // The first offset after `toMs`: where the range stops (the broker's time index finds it).
    const stops = options.toMs === undefined ? undefined : await admin.fetchTopicOffsetsByTimestamp(topic, options.toMs + 1);
    for (const p of offsets) {
      if (wanted !== undefined && p.partition !== wanted) continue;
      const key = `${topic}/${p.partition}`;
      const low = BigInt(p.low);
      const high = BigInt(p.high);
      let from = starts ? BigInt(starts.find((s) => s.partition === p.partition)?.offset ?? p.high) : low;
      if (options.startAt) from = maxBig(from, options.startAt.get(key) ?? low);
      // fetchTopicOffsetsByTimestamp answers the high watermark when no record is that late.
      let end = options.upTo ? (options.upTo.get(key) ?? 0n) : high;
      if (stops) end = minBig(end, BigInt(stops.find((s) => s.partition === p.partition)?.offset ?? p.high));
      const start = maxBig(from, low);
      if (end > start) ranges.set(key, { start, end });
    }
  }
  return { ranges, partitionsOf };
}

const minBig = (a: bigint, b: bigint) => (a < b ? a : b);
const maxBig = (a: bigint, b: bigint) => (a > b ? a : b);

export async function readLog(config: Config, options: ReadLogOptions): Promise<ReadLogResult> {
  if (!options.onMessage === !options.onRecord) throw new SagalineError('REQUEST_INVALID', 'readLog takes exactly one of onMessage and onRecord');
  const t0 = Date.now();
  const kafka = kafkaClient(config, 'sagaline-log-reader');
  const registry = registryClient(config);
  const log = createLogger(config, 'log-reader');
  // One admin connection for the whole read: the offsets before, the group's removal after.
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await read(kafka, admin, registry, log, t0, options);
  } finally {
    await admin.disconnect();
  }
}

async function read(kafka: Kafka, admin: Admin, registry: ReturnType<typeof registryClient>, log: ReturnType<typeof createLogger>, t0: number, options: ReadLogOptions): Promise<ReadLogResult> {
  const topics = options.topics;
  const { ranges: remaining, partitionsOf } = await offsetRanges(admin, topics, options);
  log.debug({ sagaId: options.sagaId, ranges: Object.fromEntries([...remaining].map(([k, r]) => [k, `${r.start}-${r.end}`])) }, 'reading the event log');
  const total = Number([...remaining.values()].reduce((sum, r) => sum + (r.end - r.start), 0n));
  let messages = 0;
  let poison = 0;
  let done = 0;
  if (remaining.size === 0) return { messages, poison, total, elapsedMs: Date.now() - t0 };

  const groupId = `sagaline-log-reader-${newId()}`;
  // A crashed consumer is not restarted: a restart would read from the beginning again, counting
  // (and exporting) messages twice. The read fails instead, naming the cause.
  const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false, maxWaitTimeInMs: 250, maxBytesPerPartition: 8 * 1024 * 1024, retry: { retries: 5, restartOnFailure: async () => false } });
  let resolveDone!: () => void;
  let rejectDone!: (err: unknown) => void;
  const finished = new Promise<void>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => rejectDone(new SagalineError('LOG_READ_FAILED', `reading the event log failed: ${payload.error.message}`, { cause: payload.error, retriable: true })));
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => log.debug({ groupId, assigned: payload.memberAssignment }, 'log reader joined its group'));
  await consumer.connect();
  try {
    const selected = [...new Set([...remaining.keys()].map((k) => k.slice(0, k.lastIndexOf('/'))))];
    await consumer.subscribe({ topics: selected, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      // A partition's fetched records at once: the per-record work is the decoding, not the consumer's bookkeeping.
      eachBatch: async ({ batch, isRunning, isStale }) => {
        const { topic, partition } = batch;
        const key = `${topic}/${partition}`;
        for (const message of batch.messages) {
          if (!isRunning() || isStale()) return;
          const range = remaining.get(key);
          if (!range) return;
          const offset = BigInt(message.offset);
          if (offset < range.start || offset >= range.end) continue;
          try {
            const inTime = (options.fromMs === undefined || Number(message.timestamp) >= options.fromMs) && (options.toMs === undefined || Number(message.timestamp) <= options.toMs);
            const ofSaga = options.sagaId === undefined || message.key?.toString() === options.sagaId;
            if (inTime && ofSaga && options.onRecord) {
              options.onRecord(message, { topic, partition });
              messages += 1;
            } else if (inTime && ofSaga && options.onMessage) {
              // Decoded at once when the schema is known, as nearly every record's is: no Promise per record then.
              const decoded = decodeMessage(registry, topic, partition, message, options.catalogue);
              const handled = options.onMessage(decoded instanceof Promise ? await decoded : decoded);
              if (handled instanceof Promise) await handled;
              messages += 1;
            }
          } catch (err) {
            if (!(err instanceof PoisonMessageError)) return rejectDone(err);
            poison += 1;
            options.onPoison?.(err, { topic, partition, offset: message.offset });
          }
          done += 1;
          options.onProgress?.(done, total);
          if (offset + 1n >= range.end) {
            remaining.delete(key);
            log.debug({ partition: key, left: remaining.size }, 'partition read to its end offset');
            if (remaining.size === 0) resolveDone();
          }
        }
      },
    });
    for (const [key, range] of remaining) {
      const slash = key.lastIndexOf('/');
      consumer.seek({ topic: key.slice(0, slash), partition: Number(key.slice(slash + 1)), offset: range.start.toString() });
    }
    // Partitions outside the selection (other sagas' partitions) are never fetched.
    for (const topic of selected) {
      const all = partitionsOf.get(topic) ?? 0;
      const idle = Array.from({ length: all }, (_, p) => p).filter((p) => !remaining.has(`${topic}/${p}`));
      if (idle.length) consumer.pause([{ topic, partitions: idle }]);
    }
    const timeoutMs = options.timeoutMs ?? 600_000;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      finished,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new TimeoutError(`reading ${total} records of the event log`, timeoutMs)), timeoutMs))),
    ]).finally(() => clearTimeout(timer));
  } finally {
    await consumer.disconnect();
    await deleteGroup(admin, groupId);
  }
  return { messages, poison, total, elapsedMs: Date.now() - t0 };
}

async function deleteGroup(admin: Admin, groupId: string): Promise<void> {
  try {
    await admin.deleteGroups([groupId]);
  } catch {
    // The group holds no offsets (nothing was committed); a leftover empty group expires on its own.
  }
}
