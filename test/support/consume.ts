/** Drains topics with a real kafkajs consumer until a named condition holds or the deadline passes. */
import { kafkaClient } from '../../core/clients.ts';
import { TimeoutError } from '../../core/errors.ts';
import { headerStrings } from '../../processors/runtime/decode.ts';
import { config, uniqueName } from './fixtures.ts';

export interface Received {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: Buffer | null;
  headers: Record<string, string>;
  /** The broker's timestamp (ms since the epoch). */
  timestamp: number;
}

/** Per topic and partition, the next offset to be written: read from here to see only what comes next. */
export type Offsets = Record<string, Record<number, string>>;

export async function endOffsets(topics: string[]): Promise<Offsets> {
  const admin = kafkaClient(config, uniqueName('offsets')).admin();
  await admin.connect();
  try {
    const result: Offsets = {};
    for (const topic of topics) {
      result[topic] = Object.fromEntries((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, p.offset]));
    }
    return result;
  } finally {
    await admin.disconnect();
  }
}

/**
 * Reads `topics` (from `from`, or from the beginning) until `done(received)` is true; fails naming
 * `condition` at the deadline.
 */
export async function consumeUntil(
  topics: string[],
  condition: string,
  done: (received: Received[]) => boolean,
  options: { timeoutMs?: number; from?: Offsets } = {},
): Promise<Received[]> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const consumer = kafkaClient(config, uniqueName('test-consumer')).consumer({ groupId: uniqueName('test-group'), allowAutoTopicCreation: false });
  const received: Received[] = [];
  let resolveDone!: () => void;
  const finished = new Promise<void>((resolve) => (resolveDone = resolve));
  await consumer.connect();
  try {
    for (const topic of topics) await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        const start = options.from?.[topic]?.[partition];
        if (start !== undefined && BigInt(message.offset) < BigInt(start)) return;
        received.push({ topic, partition, offset: message.offset, key: message.key?.toString() ?? null, value: message.value, headers: headerStrings(message.headers), timestamp: Number(message.timestamp) });
        if (done(received)) resolveDone();
      },
    });
    if (options.from) {
      for (const [topic, partitions] of Object.entries(options.from)) {
        for (const [partition, offset] of Object.entries(partitions)) consumer.seek({ topic, partition: Number(partition), offset });
      }
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TimeoutError(`${condition} (got ${received.length} messages)`, timeoutMs)), timeoutMs);
    });
    try {
      await Promise.race([finished, timeout]);
    } finally {
      clearTimeout(timer);
    }
    return received;
  } finally {
    await consumer.disconnect();
  }
}

/**
 * Every record of `topics` from `from` (per "topic/partition"; a partition not in it from 0) up to
 * `to` (the same; default: where each partition ends now), in order per partition.
 */
export async function readRange(topics: string[], from: ReadonlyMap<string, bigint> = new Map(), to?: ReadonlyMap<string, bigint>, timeoutMs = 120_000): Promise<Received[]> {
  const ends = await endOffsets(topics);
  const start: Offsets = {};
  const stop = new Map<string, bigint>();
  for (const [topic, partitions] of Object.entries(ends)) {
    start[topic] = {};
    for (const [partition, end] of Object.entries(partitions)) {
      const key = `${topic}/${partition}`;
      const first = from.get(key) ?? 0n;
      start[topic]![Number(partition)] = first.toString();
      const last = to ? (to.get(key) ?? 0n) : BigInt(end);
      if (last > first) stop.set(key, last);
    }
  }
  if (stop.size === 0) return [];
  const remaining = new Set(stop.keys());
  const received = await consumeUntil(
    topics,
    `every record of ${topics.join(', ')} in the range asked for`,
    (all) => {
      const r = all[all.length - 1]!;
      const key = `${r.topic}/${r.partition}`;
      if (BigInt(r.offset) >= (stop.get(key) ?? 0n) - 1n) remaining.delete(key);
      return remaining.size === 0;
    },
    { from: start, timeoutMs },
  );
  return received.filter((r) => BigInt(r.offset) < (stop.get(`${r.topic}/${r.partition}`) ?? 0n));
}
