/**
 * Reading the event log as it stands: every selected partition from its first offset (or the first
 * offset at a given time) up to the end offsets seen when the read began, decoded through the
 * registry. The one way audit, replay, export and rebuild read history, so they all see the same
 * messages. It asks each partition's leader for the range directly (fetch-records.ts): no consumer
 * group is joined and no offset committed.
 */
import { Partitioners, type Admin, type Kafka, type KafkaMessage, type PartitionMetadata } from 'kafkajs';
import type { Logger } from 'pino';
import { kafkaClient, registryClient } from '../core/clients.ts';
import type { Config } from '../core/config.ts';
import { PoisonMessageError, SagalineError, TimeoutError } from '../core/errors.ts';
import { createLogger } from '../core/log.ts';
import { fetchRanges, type Range as OffsetRange } from './fetch-records.ts';
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

/** The offset range to read of every selected partition. */
async function offsetRanges(admin: Admin, topics: readonly string[], options: ReadLogOptions): Promise<Map<string, Range>> {
  const ranges = new Map<string, Range>();
  const existing = new Set(await admin.listTopics());
  for (const topic of topics) {
    if (!existing.has(topic)) throw new SagalineError('TOPIC_NOT_FOUND', `topic ${topic} does not exist (run \`npx sagaline provision --config\`)`);
    const offsets = await admin.fetchTopicOffsets(topic);
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
  return ranges;
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

async function read(kafka: Kafka, admin: Admin, registry: ReturnType<typeof registryClient>, log: Logger, t0: number, options: ReadLogOptions): Promise<ReadLogResult> {
  const selected = await offsetRanges(admin, options.topics, options);
  log.debug({ sagaId: options.sagaId, ranges: Object.fromEntries([...selected].map(([k, r]) => [k, `${r.start}-${r.end}`])) }, 'reading the event log');
  const total = Number([...selected.values()].reduce((sum, r) => sum + (r.end - r.start), 0n));
  let messages = 0;
  let poison = 0;
  let done = 0;
  if (selected.size === 0) return { messages, poison, total, elapsedMs: Date.now() - t0 };
  const ranges = new Map<string, OffsetRange>([...selected].map(([k, r]) => [k, { start: Number(r.start), end: Number(r.end) }]));

  const handle = async (topic: string, partition: number, records: KafkaMessage[]): Promise<void> => {
    for (const message of records) {
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
        if (!(err instanceof PoisonMessageError)) throw err;
        poison += 1;
        options.onPoison?.(err, { topic, partition, offset: message.offset });
      }
      done += 1;
      options.onProgress?.(done, total);
    }
  };

  const timeoutMs = options.timeoutMs ?? 600_000;
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  const reading = fetchRanges(kafka, ranges, { textHeaders: !options.onRecord, running: () => !timedOut }, log, handle);
  try {
    await Promise.race([
      reading,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new TimeoutError(`reading ${total} records of the event log`, timeoutMs)), timeoutMs))),
    ]);
  } catch (err) {
    // The read stops before its next fetch and disconnects; the first failure is the one reported.
    timedOut = true;
    reading.catch(() => undefined);
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return { messages, poison, total, elapsedMs: Date.now() - t0 };
}
