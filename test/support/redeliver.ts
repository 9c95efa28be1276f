/**
 * A duplicate delivery, as Kafka's at-least-once makes one: every message of one saga written to its
 * topic a second time (same keys, values and headers, so the same message ids), then a wait until
 * every consumer group named has read past the copies.
 */
import { Partitioners } from 'kafkajs';
import { kafkaClient } from '../../core/clients.ts';
import { waitFor } from '../../core/wait.ts';
import { consumeUntil } from './consume.ts';
import { config, uniqueName } from './fixtures.ts';

/** Reads the saga's messages (at least `atLeast` of them) and writes each again; resolves once `groups` have consumed the copies. */
export async function deliverSagaAgain(topic: string, sagaId: string, atLeast: number, groups: readonly string[]): Promise<void> {
  const records = await consumeUntil([topic], `the messages of ${sagaId}`, (got) => got.filter((r) => r.key === sagaId).length >= atLeast);
  const own = records.filter((r) => r.key === sagaId);
  const producer = kafkaClient(config, uniqueName('duplicator')).producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    await producer.send({ topic, messages: own.map((r) => ({ key: r.key, value: r.value, headers: r.headers })) });
  } finally {
    await producer.disconnect();
  }
  // Every group has read past the copies once its committed offsets reach the end of the topic.
  await waitFor('the copies to be consumed by every group', async () => {
    const admin = kafkaClient(config, uniqueName('lag')).admin();
    await admin.connect();
    try {
      const end = await admin.fetchTopicOffsets(topic);
      for (const group of groups) {
        const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
        for (const p of end) {
          // A partition nothing was ever read from has no committed offset (-1): it is done when it is empty.
          const at = Number(committed!.partitions.find((c) => c.partition === p.partition)?.offset ?? -1);
          if (Math.max(at, 0) < Number(p.offset)) return false;
        }
      }
      return true;
    } finally {
      await admin.disconnect();
    }
  }, { timeoutMs: 60_000 });
}
