/** Test-only topics (outside the catalogue): idempotent creation with the kafkajs admin client. */
import type { Kafka } from 'kafkajs';

export interface TopicSpec {
  name: string;
  partitions: number;
  /** Topic-level configuration, e.g. { 'retention.ms': '-1' }. */
  configs?: Record<string, string>;
}

/** Creates the topics that do not exist yet; returns the names it created. */
export async function ensureTopics(kafka: Kafka, specs: TopicSpec[]): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = specs.filter((s) => !existing.has(s.name));
    if (missing.length === 0) return [];
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((s) => ({
        topic: s.name,
        numPartitions: s.partitions,
        configEntries: Object.entries(s.configs ?? {}).map(([name, value]) => ({ name, value })),
      })),
    });
    return missing.map((s) => s.name);
  } finally {
    await admin.disconnect();
  }
}
