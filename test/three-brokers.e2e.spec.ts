/**
 * The three-broker path, short run for every `npm test` (sagas on a replicated stack under faults are
 * `npm run test:faults`, test/faults/cluster/): a Kafka cluster of three KRaft nodes (what
 * `stack up --brokers 3` starts) on ports and a state directory of its own, beside the test stack.
 * Provisioning finds three brokers and creates a saga topic with three replicas and
 * `min.insync.replicas` 2; an idempotent producer writing with acks=all keeps writing, and a consumer
 * and the log reader keep reading, while one node is SIGKILLed; the node comes back and rejoins the ISR.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, Partitioners, type Admin, type Consumer } from 'kafkajs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fetchRanges } from '../audit/fetch-records.ts';
import { partitionForKey } from '../audit/log-reader.ts';
import { loadConfig } from '../core/config.ts';
import { createLogger } from '../core/log.ts';
import { waitFor } from '../core/wait.ts';
import { ensureArtifacts, type Artifacts } from '../infra/stack/artifacts.ts';
import { KafkaComponent } from '../infra/stack/kafka.ts';
import { EVENT_LOG_PARTITIONS, RETAIN_FOREVER } from '../topics/catalogue.ts';
import { provisionTopics } from '../topics/provision.ts';

const stateDir = mkdtempSync(join(tmpdir(), 'sagaline-three-brokers-'));
const config = loadConfig({
  ...process.env,
  SAGALINE_STATE_DIR: stateDir,
  SAGALINE_BROKERS: '3',
  SAGALINE_KAFKA_PORT: '27092',
  SAGALINE_KAFKA_CONTROLLER_PORT: '27093',
  SAGALINE_KAFKA_HEAP_MB: '256',
});
const TOPIC = 'sagaline.three-broker-smoke';

function printNodeLogs(): void {
  const logs = join(stateDir, 'logs');
  for (const file of existsSync(logs) ? readdirSync(logs) : []) {
    const tail = readFileSync(join(logs, file), 'utf8').trimEnd().split('\n').slice(-40).join('\n');
    process.stderr.write(`--- ${file} (last 40 lines) ---\n${tail}\n`);
  }
}

/** Whether `check` holds when each node is asked on its own (false when a node cannot answer). */
async function everyNode(check: (admin: Admin) => Promise<boolean>): Promise<boolean> {
  for (const broker of config.kafkaBrokers) {
    const admin = new Kafka({ clientId: 'three-broker-smoke-probe', brokers: [broker], logLevel: logLevel.NOTHING, retry: { retries: 0 } }).admin();
    try {
      await admin.connect();
      if (!(await check(admin))) return false;
    } catch {
      return false;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }
  return true;
}

describe('a three-broker Kafka cluster', () => {
  const cluster = new KafkaComponent({ config, logsDir: join(stateDir, 'logs') });
  const kafka = new Kafka({ clientId: 'three-broker-smoke', brokers: config.kafkaBrokers, logLevel: logLevel.NOTHING, retry: { retries: 10 } });
  let artifacts: Artifacts;
  let consumer: Consumer | undefined;
  const received: string[] = [];

  beforeAll(async () => {
    artifacts = await ensureArtifacts(config.stack, config.versions, () => undefined);
    const t0 = Date.now();
    await cluster.start(artifacts);
    await waitFor('three brokers registered', async () => (await cluster.probe()) === undefined, { timeoutMs: 120_000, intervalMs: 500 }).catch((err: unknown) => {
      printNodeLogs();
      throw err;
    });
    process.stderr.write(`[three-brokers] three brokers registered ${((Date.now() - t0) / 1000).toFixed(1)} s after the start\n`);
    // Each node's own view of the cluster has all three (metadata reaches each broker a moment apart)
    await waitFor('every node seeing three brokers', () => everyNode(async (admin) => (await admin.describeCluster()).brokers.length === 3), { timeoutMs: 60_000, intervalMs: 500 });
  }, 180_000);

  // A failure — of the cluster's start or of a test — says what the nodes were doing: the end of each node's log.
  afterEach(({ task }) => {
    if (task.result?.state === 'fail') printNodeLogs();
  });

  afterAll(async () => {
    await consumer?.disconnect().catch(() => undefined);
    await cluster.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }, 120_000);

  it('given three brokers, when a saga topic is provisioned, then it has three replicas and needs two in sync', async () => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      const [change] = await provisionTopics(admin, [{ name: TOPIC, kind: 'event-log', partitions: EVENT_LOG_PARTITIONS, configs: { ...RETAIN_FOREVER }, messages: [] }]);
      expect(change?.change).toBe('created');
      // Every broker learns of a new topic a moment after it is created: ask until the one asked knows it.
      const replicas = await waitFor('the new topic in the metadata', async () => {
        try {
          return (await admin.fetchTopicMetadata({ topics: [TOPIC] })).topics[0]!.partitions.map((p) => p.replicas.length);
        } catch {
          return false;
        }
      }, { timeoutMs: 30_000, intervalMs: 250 });
      expect(replicas).toEqual(Array(EVENT_LOG_PARTITIONS).fill(3));
      const minInsync = await waitFor('the new topic\'s settings', async () => {
        try {
          const described = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: 2, name: TOPIC, configNames: ['min.insync.replicas'] }] });
          return described.resources[0]!.configEntries.find((e) => e.configName === 'min.insync.replicas')?.configValue;
        } catch {
          return false;
        }
      }, { timeoutMs: 30_000, intervalMs: 250 });
      expect(minInsync).toBe('2');
    } finally {
      await admin.disconnect();
    }
  });

  it('given an idempotent producer writing with acks=all, when one node is SIGKILLed, then writes and reads go on, and the node rejoins', async () => {
    // Given every node knows the topic: a client asks any of them, and one that has not caught up
    // with the controller yet answers "does not host this topic-partition" (seen once in ten runs)
    await waitFor('every node knowing the new topic', () => everyNode(async (admin) => (await admin.fetchTopicMetadata({ topics: [TOPIC] })).topics[0]?.partitions.length === EVENT_LOG_PARTITIONS), { timeoutMs: 60_000, intervalMs: 500 });
    consumer = kafka.consumer({ groupId: 'three-broker-smoke', sessionTimeout: 10_000 });
    await consumer.connect();
    await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void received.push(String(message.value)) });
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    try {
      const send = (from: number, n: number) =>
        producer.send({ topic: TOPIC, acks: -1, messages: Array.from({ length: n }, (_, i) => ({ key: `saga-${(from + i) % 17}`, value: `m${from + i}` })) });
      // Given messages written while all three run
      await send(0, 50);
      // And the log reader reading every partition up to where the next 50 will end (it waits for them)
      const admin0 = kafka.admin();
      await admin0.connect();
      const highs = await admin0.fetchTopicOffsets(TOPIC).finally(() => admin0.disconnect());
      const ranges = new Map(highs.map((p) => [`${TOPIC}/${p.partition}`, { start: Number(p.low), end: Number(p.high) + Array.from({ length: 50 }, (_, i) => partitionForKey(`saga-${(50 + i) % 17}`, highs.length)).filter((q) => q === p.partition).length }]));
      const readByLogReader: string[] = [];
      const reading = fetchRanges(kafka, ranges, { textHeaders: true, retryForMs: 90_000 }, createLogger({ logLevel: 'error' }, 'three-broker-smoke'), (_t, _p, records) => void readByLogReader.push(...records.map((r) => String(r.value))));
      reading.catch(() => undefined);
      // When the third node is killed, as a crash
      const killed = await cluster.killNode(2);
      expect(killed).toBeDefined();
      expect(cluster.partial()).toBe('node 3 of 3 not running');
      // Then the controllers move every partition's leadership to the two left (once node 3's session lapses)
      const admin = kafka.admin();
      await admin.connect();
      try {
        await waitFor('every partition led by node 1 or 2, with two replicas in sync', async () => {
          const metadata = await admin.fetchTopicMetadata({ topics: [TOPIC] });
          return metadata.topics[0]!.partitions.every((p) => p.leader !== 3 && p.isr.length === 2 && !p.isr.includes(3));
        }, { timeoutMs: 60_000, intervalMs: 500 });
      } finally {
        await admin.disconnect();
      }
      // And writes that need two in-sync replicas succeed
      await send(50, 50);
      // (a rebalance after the kill may deliver some twice: count distinct messages)
      await waitFor('every message read back', () => new Set(received).size >= 100, { timeoutMs: 60_000, intervalMs: 250 });
      expect([...new Set(received)].sort()).toEqual(Array.from({ length: 100 }, (_, i) => `m${i}`).sort());
      // And the log reader rode the leaders' move: every message once
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([reading, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`the log reader read ${readByLogReader.length} of 100`)), 90_000)))]).finally(() => clearTimeout(timer));
      expect([...readByLogReader].sort()).toEqual(Array.from({ length: 100 }, (_, i) => `m${i}`).sort());
      // And the node, started again, rejoins every partition's in-sync replicas
      await cluster.start(artifacts);
      await waitFor('the third node back in every ISR', async () => {
        const admin = kafka.admin();
        await admin.connect();
        try {
          const metadata = await admin.fetchTopicMetadata({ topics: [TOPIC] });
          return metadata.topics[0]!.partitions.every((p) => p.isr.length === 3);
        } finally {
          await admin.disconnect();
        }
      }, { timeoutMs: 120_000, intervalMs: 1_000 });
      expect(cluster.partial()).toBeUndefined();
    } finally {
      await producer.disconnect();
    }
  }, 240_000);
});
