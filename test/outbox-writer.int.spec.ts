/**
 * The outbox writer inside a caller's transaction, on the real Postgres and registry, writing to
 * the event logs derived from the order fixture's and the training example's sagas: bad input gets
 * a typed error naming what is wrong before anything is written, and the transaction stays usable;
 * a good message is one row carrying the encoded bytes and the metadata; the outbox admits only
 * the aggregate types of the sagas it was provisioned for.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MessageValidationError } from '../core/errors.ts';
import { OutboxWriter, type OutgoingMessage } from '../outbox-connector/outbox-writer.ts';
import { prepareSourceDatabase } from '../outbox-connector/connectors.ts';
import { schemaIdOf } from '../schemas/wire-format.ts';
import { config, createTestDatabase, uniqueName, type TestDatabase } from './support/fixtures.ts';
import { anyMessage, provisionedMessages, type TestMessages } from './support/messages.ts';

describe('outbox writer', () => {
  let db: TestDatabase;
  let writer: OutboxWriter;
  let messages: TestMessages;

  beforeAll(async () => {
    messages = await provisionedMessages();
    db = await createTestDatabase('writer');
    const client = await db.pool.connect();
    await prepareSourceDatabase(client, { aggregateTypes: messages.aggregateTypes });
    client.release();
    writer = await messages.writer();
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('given an invalid message, when it is published, then a typed error names each problem, nothing is written, and the transaction stays usable', async () => {
    const sagaId = uniqueName('saga');
    const good = anyMessage(messages, 'ModelReserved', sagaId);
    const bad = {
      ...good,
      payload: { sagaId, modelId: 42, reservationId: undefined },
      metadata: { ...good.metadata, messageId: crypto.randomUUID(), traceparent: 'not-a-traceparent' },
    } as unknown as OutgoingMessage;

    const client = await db.pool.connect();
    try {
      await client.query('begin');
      // When an invalid message is published
      const error = await writer.publish(client, bad).catch((e: unknown) => e);
      // Then it fails with a MessageValidationError naming each problem
      expect(error).toBeInstanceOf(MessageValidationError);
      expect((error as MessageValidationError).problems).toEqual([
        'payload.modelId: expected "string", got 42',
        'payload.reservationId: expected "string", got undefined',
        'metadata.traceparent: expected W3C format 00-<32 hex>-<16 hex>-<2 hex>, got "not-a-traceparent"',
      ]);
      // And the same transaction still works for a valid message
      await writer.publish(client, good);
      await client.query('commit');
    } finally {
      client.release();
    }
    const rows = (await db.pool.query('select id, aggregatetype, aggregateid, type, payload, saga_id, tenant_id, traceparent from outbox where saga_id = $1', [sagaId])).rows;
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ id: good.metadata.messageId, aggregatetype: messages.topicOf('ModelReserved').aggregateType, aggregateid: sagaId, type: 'ModelReserved', tenant_id: good.metadata.tenantId, traceparent: good.metadata.traceparent });
    expect(schemaIdOf(rows[0].payload)).toBeGreaterThan(0);
  });

  it.each([
    ['an unknown type', { type: 'ModelStolen' }, /unknown message type "ModelStolen"/],
    ['a saga id that differs from the payload', { metadata: { sagaId: 'another-saga' } }, /metadata.sagaId "another-saga" differs from payload.sagaId/],
    ['a message id that is not a UUID', { metadata: { messageId: '42' } }, /metadata.messageId: expected a UUID, got "42"/],
    ['an empty tenant', { metadata: { tenantId: '' } }, /metadata.tenantId: expected a non-empty string/],
    ['a type of the engine without saying which saga topic', { type: 'StepTimedOut' }, /message type StepTimedOut is carried by sagaline\.order-fulfilment and sagaline\.model-training: say which topic to write it to/],
  ])('given %s, then the message is refused and nothing is written', async (_, change, message) => {
    const good = anyMessage(messages, 'AuditLogged', uniqueName('saga'));
    const bad = { ...good, ...change, metadata: { ...good.metadata, ...(change as { metadata?: object }).metadata } } as OutgoingMessage;
    const client = await db.pool.connect();
    try {
      await expect(writer.publish(client, bad)).rejects.toThrow(message);
      expect((await client.query('select count(*)::int as n from outbox where saga_id = $1', [good.metadata.sagaId])).rows[0].n).toBe(0);
    } finally {
      client.release();
    }
  });

  it('given a topic whose schema was never registered, then no writer can be created for it', async () => {
    const attempt = OutboxWriter.create(config.schemaRegistryUrl, messages.contracts, {
      topics: [{ name: uniqueName('sagaline.unregistered'), kind: 'event-log', partitions: 1, configs: {}, messages: ['AuditLogged'], aggregateType: 'x' }],
    });
    await expect(attempt).rejects.toThrow(/is not registered: run `npx sagaline provision`/);
  });

  it('given a row for an aggregate type of no provisioned saga, then the database itself refuses it', async () => {
    const attempt = db.pool.query(
      "insert into outbox (id, aggregatetype, aggregateid, type, payload) values (gen_random_uuid(), 'shadow-events', 's', 'X', '\\x00')",
    );
    await expect(attempt).rejects.toThrow(/outbox_aggregatetype_catalogued/);
  });
});
