import { randomUUID } from 'node:crypto';
/**
 * The whole path on the real stack: Avro schema in the registry → outbox row in a Postgres
 * transaction → Debezium + Outbox Event Router → Kafka topic → kafkajs consumer → Avro decode.
 */
import { SchemaType } from '@kafkajs/confluent-schema-registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaClient, registryClient } from '../core/clients.ts';
import { insertOutboxRow } from '../outbox-connector/outbox-table.ts';
import { ensureTopics } from './support/topics.ts';
import { consumeUntil } from './support/consume.ts';
import { config, createTestDatabase, startDelivery, uniqueName, type Delivery, type TestDatabase } from './support/fixtures.ts';

const pingSchema = {
  type: 'record',
  name: 'Ping',
  namespace: 'dev.sagaline.smoke',
  fields: [
    { name: 'sagaId', type: 'string' },
    { name: 'note', type: 'string' },
    { name: 'attempt', type: 'int' },
  ],
};

describe('smoke: outbox row → Debezium → Kafka → Avro decode', () => {
  let db: TestDatabase;
  let delivery: Delivery;
  // Of no saga on purpose: this is the bare pipe, before any definition or contract.
  const aggregateType = uniqueName('smoke-ping');
  const topic = `sagaline.${aggregateType}`;
  const registry = registryClient(config);
  let schemaId: number;

  beforeAll(async () => {
    // Given a topic, a registered Avro schema, an outbox table and a streaming connector
    await ensureTopics(kafkaClient(config, 'smoke-admin'), [{ name: topic, partitions: 3 }]);
    ({ id: schemaId } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(pingSchema) }, { subject: `${topic}-value` }));
    db = await createTestDatabase('smoke');
    delivery = await startDelivery('debezium', db, [aggregateType]);
  });

  afterAll(async () => {
    await delivery?.stop();
    await db?.drop();
  });

  it('given a committed row, a rolled-back one and a committed marker, then the consumer gets the committed ones with their key and headers, decodable, and nothing of the rolled-back one', async () => {
    const sagaId = uniqueName('saga');
    const encode = (note: string, attempt: number) => registry.encode(schemaId, { sagaId, note, attempt });

    // When one transaction commits a row, another rolls back, and a third commits a marker
    const client = await db.pool.connect();
    let committedId: string;
    let rolledBackId: string;
    let markerId: string;
    try {
      await client.query('begin');
      committedId = randomUUID();
      await insertOutboxRow(client, { id: committedId, aggregateType, aggregateId: sagaId, type: 'Ping', payload: await encode('committed', 1) });
      await client.query('commit');

      await client.query('begin');
      rolledBackId = randomUUID();
      await insertOutboxRow(client, { id: rolledBackId, aggregateType, aggregateId: sagaId, type: 'Ping', payload: await encode('rolled back', 2) });
      await client.query('rollback');

      await client.query('begin');
      markerId = randomUUID();
      await insertOutboxRow(client, { id: markerId, aggregateType, aggregateId: sagaId, type: 'Ping', payload: await encode('marker', 3) });
      await client.query('commit');
    } finally {
      client.release();
    }

    // Then a consumer sees the committed row and the marker (WAL order: anything rolled back would come before it)
    const received = await consumeUntil([topic], `marker ${markerId} on ${topic}`, (r) => r.some((m) => m.headers.id === markerId));
    const ids = received.map((m) => m.headers.id);
    expect(ids).toEqual([committedId, markerId]);
    expect(ids).not.toContain(rolledBackId);

    const first = received[0]!;
    expect(first.key).toBe(sagaId);
    expect(first.headers.eventType).toBe('Ping');
    expect(first.value?.readUInt8(0)).toBe(0); // Confluent wire format magic byte
    expect(first.value?.readInt32BE(1)).toBe(schemaId);
    // And the payload decodes through the registry
    expect(await registry.decode(first.value!)).toEqual({ sagaId, note: 'committed', attempt: 1 });
    // Both messages of one saga are in one partition, in commit order
    expect(new Set(received.map((m) => m.partition)).size).toBe(1);
  });
});
