/**
 * The outbox writer inside a caller's transaction, on the real Postgres and registry: bad input
 * gets a typed error naming what is wrong before anything is written, and the transaction stays
 * usable; a good message is one row carrying the encoded bytes and the metadata.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MessageValidationError } from '../core/errors.ts';
import { OutboxWriter, type OutgoingMessage } from '../outbox-connector/outbox-writer.ts';
import { prepareSourceDatabase } from '../outbox-connector/connectors.ts';
import { loadContracts } from '../schemas/contracts.ts';
import { schemaIdOf } from '../schemas/wire-format.ts';
import { ALL_AGGREGATE_TYPES, config, createTestDatabase, uniqueName, type TestDatabase } from './support/fixtures.ts';
import { anyMessage } from './support/messages.ts';

describe('outbox writer', () => {
  let db: TestDatabase;
  let writer: OutboxWriter;

  beforeAll(async () => {
    db = await createTestDatabase('writer');
    const client = await db.pool.connect();
    await prepareSourceDatabase(client, { aggregateTypes: ALL_AGGREGATE_TYPES });
    client.release();
    writer = await OutboxWriter.create(config.schemaRegistryUrl, loadContracts());
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('refuses an invalid message with a typed error, writes nothing, and leaves the transaction usable', async () => {
    const sagaId = uniqueName('saga');
    const good = anyMessage('ModelReserved', sagaId);
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
    expect(rows[0]).toMatchObject({ id: good.metadata.messageId, aggregatetype: 'model-events', aggregateid: sagaId, type: 'ModelReserved', tenant_id: good.metadata.tenantId, traceparent: good.metadata.traceparent });
    expect(schemaIdOf(rows[0].payload)).toBeGreaterThan(0);
  });

  it.each([
    ['an unknown type', { type: 'ModelStolen' }, /unknown message type "ModelStolen"/],
    ['a saga id that differs from the payload', { metadata: { sagaId: 'another-saga' } }, /metadata.sagaId "another-saga" differs from payload.sagaId/],
    ['a message id that is not a UUID', { metadata: { messageId: '42' } }, /metadata.messageId: expected a UUID, got "42"/],
    ['an empty tenant', { metadata: { tenantId: '' } }, /metadata.tenantId: expected a non-empty string/],
  ])('refuses %s', async (_, change, message) => {
    const good = anyMessage('AuditLogged', uniqueName('saga'));
    const bad = { ...good, ...change, metadata: { ...good.metadata, ...(change as { metadata?: object }).metadata } } as OutgoingMessage;
    const client = await db.pool.connect();
    try {
      await expect(writer.publish(client, bad)).rejects.toThrow(message);
      expect((await client.query('select count(*)::int as n from outbox where saga_id = $1', [good.metadata.sagaId])).rows[0].n).toBe(0);
    } finally {
      client.release();
    }
  });

  it('cannot be created for schemas that were never registered', async () => {
    const attempt = OutboxWriter.create(config.schemaRegistryUrl, loadContracts(), {
      topics: [{ name: uniqueName('sagaline.unregistered'), kind: 'event-log', partitions: 1, configs: {}, messages: ['AuditLogged'], aggregateType: 'x' }],
    });
    await expect(attempt).rejects.toThrow(/is not registered: run `npx sagaline provision`/);
  });

  it('a row for an aggregate type outside the catalogue is refused by the database itself', async () => {
    const attempt = db.pool.query(
      "insert into outbox (id, aggregatetype, aggregateid, type, payload) values (gen_random_uuid(), 'shadow-events', 's', 'X', '\\x00')",
    );
    await expect(attempt).rejects.toThrow(/outbox_aggregatetype_catalogued/);
  });
});
