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
        received.push({ topic, partition, offset: message.offset, key: message.key?.toString() ?? null, value: message.value, headers: headerStrings(message.headers) });
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
