/** Drains topics with a real kafkajs consumer until a named condition holds or the deadline passes. */
import type { IHeaders } from 'kafkajs';
import { kafkaClient } from '../../core/clients.ts';
import { TimeoutError } from '../../core/errors.ts';
import { config, uniqueName } from './fixtures.ts';

export interface Received {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

export function headersToStrings(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) {
    if (v === undefined) continue;
    const first = Array.isArray(v) ? v[0] : v;
    if (first !== undefined) out[k] = first.toString();
  }
  return out;
}

/** Reads `topics` from the beginning until `done(received)` is true; fails naming `condition` at the deadline. */
export async function consumeUntil(
  topics: string[],
  condition: string,
  done: (received: Received[]) => boolean,
  timeoutMs = 60_000,
): Promise<Received[]> {
  const kafka = kafkaClient(config, uniqueName('test-consumer'));
  const consumer = kafka.consumer({ groupId: uniqueName('test-group'), allowAutoTopicCreation: false });
  const received: Received[] = [];
  let resolveDone!: () => void;
  const finished = new Promise<void>((resolve) => (resolveDone = resolve));
  await consumer.connect();
  try {
    for (const topic of topics) await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        received.push({
          topic,
          partition,
          offset: message.offset,
          key: message.key?.toString() ?? null,
          value: message.value,
          headers: headersToStrings(message.headers),
        });
        if (done(received)) resolveDone();
      },
    });
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
