/**
 * `sagaline demo` — what `npm start` runs. For now: bring the stack up, provision it, and send one
 * TrainingRequested through the whole write path — validated and Avro-encoded by the outbox
 * writer, committed with a Postgres transaction, relayed by Debezium (or the polling relay),
 * consumed from Kafka and decoded through the registry — printing each step.
 */
import { Command } from 'commander';
import { kafkaClient, pgPool, registryClient } from '../core/clients.ts';
import { loadConfig, type Config } from '../core/config.ts';
import { SagalineError, TimeoutError } from '../core/errors.ts';
import { newId, newTraceparent } from '../core/ids.ts';
import { createLogger } from '../core/log.ts';
import { Stack } from '../infra/stack/stack.ts';
import { provision } from '../infra/provision.ts';
import { OutboxWriter, type OutgoingMessage } from '../outbox-connector/outbox-writer.ts';
import { PollingRelay } from '../outbox-connector/polling-relay.ts';
import { runDecodingConsumer } from '../processors/runtime/consumer.ts';
import type { DecodedMessage } from '../processors/runtime/decode.ts';
import { loadContracts } from '../schemas/contracts.ts';
import { topicOfMessage } from '../topics/catalogue.ts';
import { printJson, progress } from './output.ts';

export interface DemoReport {
  sagaId: string;
  committedId: string;
  rolledBackId: string;
  received: { topic: string; partition: number; offset: string; key: string | null; type: string; payload: unknown };
  elapsedMs: number;
}

function trainingRequest(sagaId: string, now: Date): OutgoingMessage<'TrainingRequested'> {
  return {
    type: 'TrainingRequested',
    payload: {
      sagaId,
      modelId: 'demo-model',
      tenantId: 'demo-tenant',
      config: { algorithm: 'xgboost', hyperparameters: { max_depth: '6', eta: '0.3' }, datasetUri: 's3://demo/datasets/churn.parquet', validationSplit: 0.2, simulation: null },
      resources: { cpuCores: 4, memoryGb: 16, gpuCount: 1, storageGb: 50 },
      requestedAt: now.getTime(),
    },
    metadata: { messageId: newId(), sagaId, tenantId: 'demo-tenant', correlationId: sagaId, causationId: sagaId, traceparent: newTraceparent() },
  };
}

export async function runWritePathDemo(config: Config, log: (line: string) => void, timeoutMs = 60_000): Promise<DemoReport> {
  const t0 = Date.now();
  const registry = registryClient(config);
  const kafka = kafkaClient(config, 'sagaline-demo');
  const writer = await OutboxWriter.create(config.schemaRegistryUrl, loadContracts());
  const pool = pgPool(config, undefined, 2);
  const relay =
    config.relay === 'polling'
      ? new PollingRelay(kafka, { name: 'sagaline', databaseUrl: config.databaseUrl, batchSize: config.relayBatchSize, idlePollMs: config.relayIdlePollMs })
      : undefined;
  await relay?.start();
  try {
    const sagaId = newId();
    const rolledBack = trainingRequest(newId(), new Date());
    const committed = trainingRequest(sagaId, new Date());
    const client = await pool.connect();
    try {
      await client.query('begin');
      await writer.publish(client, rolledBack);
      await client.query('rollback');
      log(`wrote TrainingRequested ${rolledBack.metadata.messageId} to the outbox and rolled the transaction back`);
      await client.query('begin');
      await writer.publish(client, committed);
      await client.query('commit');
      log(`wrote TrainingRequested ${committed.metadata.messageId} (saga ${sagaId}) to the outbox and committed`);
    } finally {
      client.release();
    }

    const topic = topicOfMessage('TrainingRequested').name;
    let sawRolledBack = false;
    let resolveReceived!: (m: DecodedMessage) => void;
    const received = new Promise<DecodedMessage>((resolve) => (resolveReceived = resolve));
    const consumer = await runDecodingConsumer({
      kafka,
      registry,
      groupId: `sagaline-demo-${sagaId}`,
      topics: [topic],
      log: createLogger(config, 'demo'),
      handle: async (m) => {
        if (m.metadata.messageId === rolledBack.metadata.messageId) sawRolledBack = true;
        if (m.metadata.messageId === committed.metadata.messageId) resolveReceived(m);
      },
    });
    try {
      let timer: NodeJS.Timeout | undefined;
      const message = await Promise.race([
        received,
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new TimeoutError(`TrainingRequested ${committed.metadata.messageId} on ${topic}`, timeoutMs)), timeoutMs))),
      ]).finally(() => clearTimeout(timer));
      log(`consumed it from ${topic} partition ${message.kafka.partition} offset ${message.kafka.offset}, key ${message.kafka.key}, decoded through the registry:`);
      log(`  ${JSON.stringify(message.payload)}`);
      if (sawRolledBack) throw new SagalineError('ROLLED_BACK_PUBLISHED', `the rolled-back message ${rolledBack.metadata.messageId} was published`);
      return {
        sagaId,
        committedId: committed.metadata.messageId,
        rolledBackId: rolledBack.metadata.messageId,
        received: { topic, partition: message.kafka.partition, offset: message.kafka.offset, key: message.kafka.key, type: message.type, payload: message.payload },
        elapsedMs: Date.now() - t0,
      };
    } finally {
      await consumer.stop();
    }
  } finally {
    await relay?.stop();
    await pool.end();
  }
}

export function demoCommand(): Command {
  return new Command('demo')
    .description('bring the stack up, provision it, and send one training request through outbox → Kafka → registry decode, printing each step')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { json?: boolean }) => {
      const config = loadConfig();
      await new Stack(config).up(progress);
      const report = await provision(config, progress);
      progress(report.changed ? 'provisioned topics, schemas and connectors' : 'topics, schemas and connectors already provisioned');
      const result = await runWritePathDemo(config, progress);
      if (opts.json) return printJson(result);
      progress(`done in ${(result.elapsedMs / 1000).toFixed(1)} s: the committed request arrived and decoded; the rolled-back one was not published (relay: ${config.relay})`);
      progress('the stack keeps running: `npx sagaline stack status`; `npx sagaline stack down` stops it');
    });
}
