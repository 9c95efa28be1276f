/**
 * `sagaline demo` — what `npm start` runs. For now: bring the stack up and push one event through
 * the whole write path (outbox → Debezium → Kafka → registry decode), printing each step.
 */
import { randomUUID } from 'node:crypto';
import { SchemaType } from '@kafkajs/confluent-schema-registry';
import { Command } from 'commander';
import { kafkaClient, pgPool, registryClient } from '../core/clients.ts';
import { loadConfig, type Config } from '../core/config.ts';
import { SagalineError, TimeoutError } from '../core/errors.ts';
import { insertOutboxRow, outboxDdl } from '../outbox-connector/outbox-table.ts';
import { ensureOutboxConnector } from '../outbox-connector/provision.ts';
import { Stack } from '../infra/stack/stack.ts';
import { ensureTopics } from '../topics/admin.ts';
import { printJson, progress } from './output.ts';

const SMOKE_TOPIC = 'sagaline.smoke';
const SMOKE_TABLE = 'smoke_outbox';
const SMOKE_CONNECTOR = 'sagaline-smoke';
const SMOKE_SCHEMA = {
  type: 'record',
  name: 'SmokeTest',
  namespace: 'dev.sagaline.smoke',
  doc: 'One event pushed through the pipeline by `sagaline demo`.',
  fields: [
    { name: 'runId', type: 'string' },
    { name: 'note', type: 'string' },
  ],
};

export interface SmokeReport {
  runId: string;
  topic: string;
  schemaId: number;
  committedId: string;
  rolledBackId: string;
  received: { partition: number; offset: string; key: string; headers: Record<string, string>; payload: unknown };
  rolledBackSeen: boolean;
  elapsedMs: number;
}

export async function runSmokeFlow(config: Config, log: (line: string) => void, timeoutMs = 60_000): Promise<SmokeReport> {
  const t0 = Date.now();
  const runId = randomUUID();
  const kafka = kafkaClient(config, 'sagaline-demo');
  const registry = registryClient(config);

  await ensureTopics(kafka, [{ name: SMOKE_TOPIC, partitions: 3 }]);
  const { id: schemaId } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(SMOKE_SCHEMA) }, { subject: `${SMOKE_TOPIC}-value` });
  log(`registered Avro schema ${SMOKE_SCHEMA.name} as subject ${SMOKE_TOPIC}-value (id ${schemaId})`);

  const pool = pgPool(config, undefined, 2);
  try {
    await pool.query(outboxDdl(SMOKE_TABLE));
    const database = new URL(config.databaseUrl).pathname.slice(1);
    const connector = await ensureOutboxConnector(config, { name: SMOKE_CONNECTOR, database, outboxTable: SMOKE_TABLE });
    log(`connector ${connector.name} ${connector.change === 'unchanged' ? 'already registered' : connector.change}; slot ${connector.slotName} active`);

    const client = await pool.connect();
    let committedId: string;
    let rolledBackId: string;
    try {
      await client.query('begin');
      rolledBackId = await insertOutboxRow(client, { aggregateType: SMOKE_TOPIC, aggregateId: runId, type: 'SmokeTest', payload: await registry.encode(schemaId, { runId, note: 'rolled back' }) }, SMOKE_TABLE);
      await client.query('rollback');
      log(`wrote outbox row ${rolledBackId} and rolled the transaction back`);
      await client.query('begin');
      committedId = await insertOutboxRow(client, { aggregateType: SMOKE_TOPIC, aggregateId: runId, type: 'SmokeTest', payload: await registry.encode(schemaId, { runId, note: 'committed' }) }, SMOKE_TABLE);
      await client.query('commit');
      log(`wrote outbox row ${committedId} and committed`);
    } finally {
      client.release();
    }

    const consumer = kafka.consumer({ groupId: `sagaline-demo-${runId}`, allowAutoTopicCreation: false });
    await consumer.connect();
    try {
      await consumer.subscribe({ topic: SMOKE_TOPIC, fromBeginning: true });
      let rolledBackSeen = false;
      const received = await new Promise<SmokeReport['received']>((resolve, reject) => {
        const timer = setTimeout(() => reject(new TimeoutError(`outbox row ${committedId} on topic ${SMOKE_TOPIC}`, timeoutMs)), timeoutMs);
        consumer
          .run({
            eachMessage: async ({ partition, message }) => {
              const id = message.headers?.id?.toString();
              if (id === rolledBackId) rolledBackSeen = true;
              if (id !== committedId || !message.value) return;
              clearTimeout(timer);
              const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]));
              resolve({ partition, offset: message.offset, key: message.key?.toString() ?? '', headers, payload: await registry.decode(message.value) });
            },
          })
          .catch(reject);
      });
      log(`consumed it from ${SMOKE_TOPIC} partition ${received.partition} offset ${received.offset}, key ${received.key}, decoded ${JSON.stringify(received.payload)}`);
      if (rolledBackSeen) throw new SagalineError('ROLLED_BACK_PUBLISHED', `the rolled-back row ${rolledBackId} was published`);
      return { runId, topic: SMOKE_TOPIC, schemaId, committedId, rolledBackId, received, rolledBackSeen, elapsedMs: Date.now() - t0 };
    } finally {
      await consumer.disconnect();
    }
  } finally {
    await pool.end();
  }
}

export function demoCommand(): Command {
  return new Command('demo')
    .description('bring the stack up (if needed) and push one event through outbox → Debezium → Kafka → Avro decode, printing each step')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { json?: boolean }) => {
      const config = loadConfig();
      await new Stack(config).up(progress);
      const report = await runSmokeFlow(config, progress);
      if (opts.json) return printJson(report);
      progress(`done in ${(report.elapsedMs / 1000).toFixed(1)} s: the committed event arrived and decoded; the rolled-back one was not published`);
      progress('the stack keeps running: `npx sagaline stack status`, `npx sagaline stack down` to stop it');
    });
}
