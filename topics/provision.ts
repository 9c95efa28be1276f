/**
 * Idempotent topic provisioning from the catalogue with the kafkajs admin client: creates what is
 * missing, brings retention and cleanup settings in line, and refuses to change a partition count
 * (that would move sagas to other partitions and break their order).
 */
import kafkajs, { type Admin } from 'kafkajs';
import { SagalineError } from '../core/errors.ts';
import type { CatalogueTopic } from './catalogue.ts';

// kafkajs is CommonJS: Node's ESM loader cannot see this enum as a named export.
const { ConfigResourceTypes } = kafkajs;

export interface TopicChange {
  name: string;
  kind: CatalogueTopic['kind'];
  partitions: number;
  change: 'created' | 'updated' | 'unchanged';
  /** For `updated`: each setting changed, as `key: old → new`. */
  changes?: string[];
}

export class TopicDriftError extends SagalineError {
  constructor(message: string) {
    super('TOPIC_DRIFT', message);
  }
}

export async function provisionTopics(admin: Admin, topics: readonly CatalogueTopic[]): Promise<TopicChange[]> {
  const existing = new Set(await admin.listTopics());
  const missing = topics.filter((t) => !existing.has(t.name));
  const present = topics.filter((t) => existing.has(t.name));
  const results = new Map<string, TopicChange>();

  if (present.length > 0) {
    const metadata = await admin.fetchTopicMetadata({ topics: present.map((t) => t.name) });
    for (const t of present) {
      const actual = metadata.topics.find((m) => m.name === t.name)?.partitions.length ?? 0;
      if (actual !== t.partitions) {
        throw new TopicDriftError(
          `topic ${t.name} has ${actual} partitions but the catalogue says ${t.partitions}; changing it would move sagas between partitions and break their order, so it is left to an operator`,
        );
      }
    }
    const described = await admin.describeConfigs({
      includeSynonyms: false,
      resources: present.map((t) => ({ type: ConfigResourceTypes.TOPIC, name: t.name, configNames: Object.keys(t.configs) })),
    });
    const toAlter: { name: string; configs: Record<string, string>; changes: string[] }[] = [];
    for (const t of present) {
      const entries = described.resources.find((r) => r.resourceName === t.name)?.configEntries ?? [];
      const changes = Object.entries(t.configs)
        .map(([key, wanted]) => [key, entries.find((e) => e.configName === key)?.configValue, wanted] as const)
        .filter(([, actual, wanted]) => actual !== wanted)
        .map(([key, actual, wanted]) => `${key}: ${actual ?? '(default)'} → ${wanted}`);
      if (changes.length > 0) toAlter.push({ name: t.name, configs: t.configs, changes });
      results.set(t.name, { name: t.name, kind: t.kind, partitions: t.partitions, change: changes.length > 0 ? 'updated' : 'unchanged', ...(changes.length ? { changes } : {}) });
    }
    if (toAlter.length > 0) {
      await admin.alterConfigs({
        validateOnly: false,
        resources: toAlter.map((t) => ({
          type: ConfigResourceTypes.TOPIC,
          name: t.name,
          configEntries: Object.entries(t.configs).map(([name, value]) => ({ name, value })),
        })),
      });
    }
  }

  if (missing.length > 0) {
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((t) => ({
        topic: t.name,
        numPartitions: t.partitions,
        configEntries: Object.entries(t.configs).map(([name, value]) => ({ name, value })),
      })),
    });
    for (const t of missing) results.set(t.name, { name: t.name, kind: t.kind, partitions: t.partitions, change: 'created' });
  }
  return topics.map((t) => results.get(t.name) as TopicChange);
}
