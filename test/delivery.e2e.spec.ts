/**
 * Producing domain events, through both delivery modes, on the real stack: messages written to an
 * outbox in many concurrent transactions arrive in Kafka — exactly the committed ones, in per-saga
 * order, decodable through the registry — and a poison record is dead-lettered while consumption
 * goes on. The same suite runs against Debezium and the polling relay. The topics are the event
 * logs derived from two projects' sagas (the order fixture's and the training example's).
 */
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registryClient } from '../core/clients.ts';
import type { RelayMode } from '../core/config.ts';
import { createLogger } from '../core/log.ts';
import { OutboxWriter, type OutgoingMessage } from '../outbox-connector/outbox-writer.ts';
import { insertOutboxRow } from '../outbox-connector/outbox-table.ts';
import { runDecodingConsumer } from '../processors/runtime/consumer.ts';
import type { DecodedMessage } from '../processors/runtime/decode.ts';
import { fromUnionValue } from '../schemas/contracts.ts';
import { frame } from '../schemas/wire-format.ts';
import { deadLetterTopicFor } from '../topics/catalogue.ts';
import { consumeUntil, endOffsets, type Received } from './support/consume.ts';
import { config, createTestDatabase, startDelivery, uniqueName, type Delivery, type TestDatabase } from './support/fixtures.ts';
import { anyMessage as anyMessageOf, messageTypeAt as typeAt, provisionedMessages, seededRandom } from './support/messages.ts';
import { waitFor } from '../core/wait.ts';
import { ConfigError } from '../core/errors.ts';

const SAGAS = 100;
const MESSAGES_PER_SAGA = 10;
const WRITERS = 4;
const messages = await provisionedMessages();
const eventLogs = messages.topics.map((t) => t.name);
const anyMessage = (type: string, sagaId: string) => anyMessageOf(messages, type, sagaId);
// An instance lives on its saga's one topic, and instance ids are unique across sagas (the monitors'
// projection is keyed by id): a test saga's messages on two topics are two instances, with two ids.
const instanceMessage = (type: string, sagaId: string) => anyMessage(type, `${sagaId}.${messages.topicOf(type).name}`);
const messageTypeAt = (index: number) => typeAt(messages, index);
const topicOfMessage = (type: string) => messages.topicOf(type);

async function inTransaction(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<void>, outcome: 'commit' | 'rollback'): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    await work(client);
    await client.query(outcome);
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

describe.each(['debezium', 'polling'] as RelayMode[])('delivery through %s', (mode) => {
  let db: TestDatabase;
  let delivery: Delivery;
  let writer: OutboxWriter;

  beforeAll(async () => {
    db = await createTestDatabase(`delivery_${mode}`);
    delivery = await startDelivery(mode, db, messages.aggregateTypes);
    writer = await messages.writer();
  });

  afterAll(async () => {
    await delivery?.stop();
    await db?.drop();
  });

  it('given 1,000 messages of 100 sagas committed by 4 concurrent writers, with transactions rolled back between them, then exactly the committed ones arrive, in per-saga order, decodable through the registry', async () => {
    // Given 100 sagas of 10 messages each, of every type, spread over all event-log topics
    const random = seededRandom(mode === 'debezium' ? 1 : 2);
    const sagas = Array.from({ length: SAGAS }, (_, i) => ({
      sagaId: uniqueName(`saga${i}`),
      messages: Array.from({ length: MESSAGES_PER_SAGA }, (_, j) => messageTypeAt(i * 3 + j)),
    }));
    const planned = new Map<string, OutgoingMessage>();
    const writtenOrder = new Map<string, string[]>(); // saga id → message ids in commit order
    const rolledBack = new Set<string>();
    const from = await endOffsets(eventLogs);

    // When 4 writers commit them in transactions of 1–15 messages, interleaving sagas,
    // and every third transaction of extra messages is rolled back instead
    await Promise.all(
      Array.from({ length: WRITERS }, async (_, w) => {
        const mine = sagas.filter((_, i) => i % WRITERS === w).map((s) => ({ ...s, next: 0 }));
        let transactions = 0;
        while (mine.some((s) => s.next < s.messages.length)) {
          const size = 1 + Math.floor(random() * 15);
          const batch: OutgoingMessage[] = [];
          for (let k = 0; k < size; k++) {
            const open = mine.filter((s) => s.next < s.messages.length);
            if (open.length === 0) break;
            const saga = open[Math.floor(random() * open.length)]!;
            batch.push(instanceMessage(saga.messages[saga.next++]!, saga.sagaId));
          }
          if (++transactions % 3 === 0) {
            const doomed = Array.from({ length: 1 + Math.floor(random() * 5) }, () => instanceMessage(messageTypeAt(Math.floor(random() * 100)), mine[0]!.sagaId));
            await inTransaction(db.pool, async (c) => { for (const m of doomed) await writer.publish(c, m); }, 'rollback');
            for (const m of doomed) rolledBack.add(m.metadata.messageId);
          }
          await inTransaction(db.pool, async (c) => { for (const m of batch) await writer.publish(c, m); }, 'commit');
          for (const m of batch) {
            planned.set(m.metadata.messageId, m);
            writtenOrder.set(m.metadata.sagaId, [...(writtenOrder.get(m.metadata.sagaId) ?? []), m.metadata.messageId]);
          }
        }
      }),
    );
    expect(planned.size).toBe(SAGAS * MESSAGES_PER_SAGA);
    expect(rolledBack.size).toBeGreaterThan(0);

    // Then a separate consumer receives every committed message
    const ours = (r: Received) => planned.has(r.headers.id ?? '') || rolledBack.has(r.headers.id ?? '');
    const received = (
      await consumeUntil(eventLogs, `all ${planned.size} committed messages`, (all) => all.filter(ours).length >= planned.size, { from, timeoutMs: 120_000 })
    ).filter(ours);

    // …exactly those: none rolled back, none twice
    expect(received.filter((r) => rolledBack.has(r.headers.id!))).toEqual([]);
    expect(received.map((r) => r.headers.id).sort()).toEqual([...planned.keys()].sort());

    // …each on its saga's topic, keyed by saga, with the metadata headers
    for (const r of received) {
      const m = planned.get(r.headers.id!)!;
      expect(r.topic).toBe(topicOfMessage(m.type).name);
      expect(r.key).toBe(m.metadata.sagaId);
      expect(r.headers).toMatchObject({
        eventType: m.type, sagaId: m.metadata.sagaId, tenantId: m.metadata.tenantId,
        correlationId: m.metadata.correlationId, causationId: m.metadata.causationId, traceparent: m.metadata.traceparent,
      });
    }

    // …in commit order per saga within each topic
    for (const [sagaId, ids] of writtenOrder) {
      for (const topic of eventLogs) {
        const expected = ids.filter((id) => topicOfMessage(planned.get(id)!.type).name === topic);
        const got = received.filter((r) => r.topic === topic && r.key === sagaId).map((r) => r.headers.id);
        expect(got, `${sagaId} on ${topic}`).toEqual(expected);
      }
    }

    // …and every payload decodes through the registry to what was written
    const registry = registryClient(config);
    for (const r of received) {
      const m = planned.get(r.headers.id!)!;
      expect(fromUnionValue(await registry.decode(r.value!), m.type)).toEqual(m.payload);
    }
  });

  it('given poison records before a valid one, when the decoding consumer reads them, then they are dead-lettered with the error in their headers and consumption goes on', async () => {
    // Given, on one topic, a record that is not Avro, one with an unknown schema id, then a valid one
    const sagaId = uniqueName('poison');
    const type = 'OrderShipped';
    const { name: topic, aggregateType } = topicOfMessage(type) as { name: string; aggregateType: string };
    const notAvro = crypto.randomUUID();
    const unknownSchema = crypto.randomUUID();
    const valid = anyMessage(type, sagaId);
    await inTransaction(db.pool, async (c) => {
      await insertOutboxRow(c, { id: notAvro, aggregateType, aggregateId: sagaId, type, payload: Buffer.from('{"json":"not avro"}'), sagaId });
      await insertOutboxRow(c, { id: unknownSchema, aggregateType, aggregateId: sagaId, type, payload: frame(987654, Buffer.from([1, 2, 3])), sagaId });
      await writer.publish(c, valid);
    }, 'commit');

    // When the decoding consumer reads the topic
    const handled: DecodedMessage[] = [];
    const dlqFrom = await endOffsets([deadLetterTopicFor(topic)]);
    const groupId = uniqueName('poison-group');
    const consumer = await runDecodingConsumer({
      kafka: (await import('../core/clients.ts')).kafkaClient(config, uniqueName('poison')),
      registry: registryClient(config),
      groupId,
      topics: [topic],
      catalogue: messages.catalogue,
      log: createLogger({ logLevel: 'silent' }, 'test'),
      handle: async (m) => {
        if (m.metadata.sagaId === sagaId) handled.push(m);
      },
    });
    try {
      // Then the valid record after the poison ones is handled
      await waitFor(`the valid ${type} after the poison records to be handled`, () => handled.length > 0, { timeoutMs: 60_000 });
      expect(handled.map((m) => m.metadata.messageId)).toEqual([valid.metadata.messageId]);
      expect(handled[0]!.payload).toEqual(valid.payload);
    } finally {
      await consumer.stop();
    }

    // And both poison records are on the dead-letter topic, untouched, with the reason and the group that failed
    const dead = (
      await consumeUntil([deadLetterTopicFor(topic)], 'both poison records on the dead-letter topic',
        (all) => all.filter((r) => r.key === sagaId).length >= 2, { from: dlqFrom })
    ).filter((r) => r.key === sagaId);
    expect(dead.map((r) => r.headers.id)).toEqual([notAvro, unknownSchema]);
    expect(dead[0]!.value?.toString()).toBe('{"json":"not avro"}');
    expect(dead[0]!.headers['dlq.error']).toMatch(/not in the Confluent wire format/);
    expect(dead[1]!.headers['dlq.error']).toMatch(/does not decode/);
    for (const d of dead) expect(d.headers).toMatchObject({ 'dlq.group': groupId, 'dlq.source.topic': topic, 'dlq.error.code': 'POISON_MESSAGE', eventType: type });
  });
  it('given a handler that throws a TypeError, then an error marked not retriable, when the consumer reads a record, then the record comes again after each and is handled, not left behind a stopped consumer', async () => {
    // Given one valid record, and a batch handler that fails the first two times it is called
    const sagaId = uniqueName('failing');
    const type = 'OrderShipped';
    const topic = (topicOfMessage(type) as { name: string }).name;
    const message = anyMessage(type, sagaId);
    await inTransaction(db.pool, async (c) => void (await writer.publish(c, message)), 'commit');
    const failures = [new TypeError('a bug in a handler'), new ConfigError('an error marked not retriable')];
    const calls: string[] = [];
    const handled: DecodedMessage[] = [];

    // When the decoding consumer reads it
    const consumer = await runDecodingConsumer({
      kafka: (await import('../core/clients.ts')).kafkaClient(config, uniqueName('failing')),
      registry: registryClient(config),
      groupId: uniqueName('failing-group'),
      topics: [topic],
      catalogue: messages.catalogue,
      log: createLogger({ logLevel: 'silent' }, 'test'),
      handleBatch: async (batch) => {
        const mine = batch.filter((m) => m.metadata.sagaId === sagaId);
        if (mine.length === 0) return;
        const failure = failures[calls.length];
        calls.push(failure ? failure.name : 'handled');
        if (failure) throw failure;
        handled.push(...mine);
      },
    });
    try {
      // Then, after both failures, the record is handled once
      await waitFor(`${type} of ${sagaId} to be handled after two failures`, () => handled.length > 0, { timeoutMs: 60_000 });
      expect(calls).toEqual(['TypeError', 'ConfigError', 'handled']);
      expect(handled.map((m) => m.metadata.messageId)).toEqual([message.metadata.messageId]);
    } finally {
      await consumer.stop();
    }
  });
});

describe('both delivery modes', () => {
  it('given the same outbox rows delivered by each, then they produce the same topic, partition, key, headers and bytes', async () => {
    // Given the same 30 messages written to one database delivered by Debezium and one by the polling relay
    const writer = await messages.writer();
    const written = Array.from({ length: 30 }, (_, i) => anyMessage(messageTypeAt(i), uniqueName(`same${i % 5}`)));
    const from = await endOffsets(eventLogs);
    const dbs: TestDatabase[] = [];
    const deliveries: Delivery[] = [];
    try {
      for (const mode of ['debezium', 'polling'] as const) {
        const db = await createTestDatabase(`same_${mode}`);
        dbs.push(db);
        deliveries.push(await startDelivery(mode, db, messages.aggregateTypes));
        // Both databases' rows written "at" one instant (with trailing zeros in its microseconds): the occurredAt headers must match too
        await db.pool.query(`alter table outbox alter column occurred_at set default '2026-01-02T03:04:05.1234Z'`);
        await inTransaction(db.pool, async (c) => { for (const m of written) await writer.publish(c, m); }, 'commit');
      }
      // When both have delivered
      const ids = new Set(written.map((m) => m.metadata.messageId));
      const received = (
        await consumeUntil(eventLogs, 'every message twice, once per mode', (all) => all.filter((r) => ids.has(r.headers.id!)).length >= 2 * ids.size, { from })
      ).filter((r) => ids.has(r.headers.id!));

      // Then each message arrived twice, and the two copies are identical
      for (const id of ids) {
        const copies = received.filter((r) => r.headers.id === id).map((r) => ({ topic: r.topic, partition: r.partition, key: r.key, headers: r.headers, value: r.value?.toString('hex') }));
        expect(copies, id).toHaveLength(2);
        expect(copies[0], JSON.stringify(copies)).toEqual(copies[1]);
        expect(copies[0]!.headers.occurredAt).toBe('2026-01-02T03:04:05.123400Z');
      }
    } finally {
      for (const d of deliveries) await d.stop();
      for (const db of dbs) await db.drop();
    }
  });
});
