/**
 * Idempotent topic provisioning from the catalogue with the kafkajs admin client: creates what is
 * missing, brings retention and cleanup settings in line, and refuses to change a partition count
 * (that would move sagas to other partitions and break their order). Replication follows the
 * cluster it finds: three replicas and `min.insync.replicas` 2 on three brokers or more, else one
 * each; an existing topic keeps its replicas and gets the `min.insync.replicas` that fits them.
 */
import kafkajs, { type Admin } from 'kafkajs';
import { SagalineError } from '../core/errors.ts';
import { waitFor } from '../core/wait.ts';
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

/** Replicas for a new topic on a cluster of `brokers`, and the in-sync replicas a write then needs. Pure. */
export function replicationFor(brokers: number): { replicationFactor: number; minInsyncReplicas: number } {
  const replicationFactor = Math.max(1, Math.min(3, brokers));
  return { replicationFactor, minInsyncReplicas: replicationFactor >= 3 ? 2 : 1 };
}

export async function provisionTopics(admin: Admin, catalogue: readonly CatalogueTopic[]): Promise<TopicChange[]> {
  const brokers = (await admin.describeCluster()).brokers.length;
  const fresh = replicationFor(brokers);
  const existing = new Set(await admin.listTopics());
  const replicasOf = new Map<string, number>();
  if (catalogue.some((t) => existing.has(t.name))) {
    const metadata = await admin.fetchTopicMetadata({ topics: catalogue.filter((t) => existing.has(t.name)).map((t) => t.name) });
    for (const m of metadata.topics) replicasOf.set(m.name, m.partitions[0]?.replicas.length ?? 1);
  }
  const topics = catalogue.map((t) => ({
    ...t,
    configs: { ...t.configs, 'min.insync.replicas': String(replicationFor(replicasOf.get(t.name) ?? fresh.replicationFactor).minInsyncReplicas) },
  }));
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
      // Waited for below: on a cluster, the broker asked first may not know a new topic yet, which
      // kafkajs's own wait reports as an error instead of asking again.
      waitForLeaders: false,
      topics: missing.map((t) => ({
        topic: t.name,
        numPartitions: t.partitions,
        replicationFactor: fresh.replicationFactor,
        configEntries: Object.entries(t.configs).map(([name, value]) => ({ name, value })),
      })),
    });
    await waitFor(
      `every partition of ${missing.map((t) => t.name).join(', ')} to have a leader`,
      async () => {
        try {
          const metadata = await admin.fetchTopicMetadata({ topics: missing.map((t) => t.name) });
          return missing.every((t) => {
            const partitions = metadata.topics.find((m) => m.name === t.name)?.partitions ?? [];
            return partitions.length === t.partitions && partitions.every((p) => p.leader >= 0);
          });
        } catch (err) {
          if ((err as { type?: string }).type === 'UNKNOWN_TOPIC_OR_PARTITION' || (err as { type?: string }).type === 'LEADER_NOT_AVAILABLE') return false;
          throw err;
        }
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    for (const t of missing) results.set(t.name, { name: t.name, kind: t.kind, partitions: t.partitions, change: 'created' });
  }
  return topics.map((t) => results.get(t.name) as TopicChange);
}
