/**
 * Outbox cleanup in Debezium mode, on the real stack: rows are deleted only once the connector's
 * replication slot confirmed past them — never while the connector is stopped and the slot stands
 * still — and every deleted row reached Kafka first.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../core/wait.ts';
import { cleanOutbox } from '../outbox-connector/cleanup.ts';
import { ConnectClient } from '../outbox-connector/connect-client.ts';
import type { OutboxWriter } from '../outbox-connector/outbox-writer.ts';
import { consumeUntil, endOffsets } from './support/consume.ts';
import { config, createTestDatabase, startDelivery, uniqueName, type Delivery, type TestDatabase } from './support/fixtures.ts';
import { anyMessage, provisionedMessages } from './support/messages.ts';

const messages = await provisionedMessages();
const type = messages.types[0] as string;
const topic = messages.topicOf(type).name;
const connect = new ConnectClient(config.connectUrls);
let db: TestDatabase;
let delivery: Delivery;
let writer: OutboxWriter;

/** Writes `n` messages, each in its own transaction; their message ids. */
async function write(n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const m = anyMessage(messages, type, uniqueName('cleanup'));
    const client = await db.pool.connect();
    try {
      await client.query('begin');
      await writer.publish(client, m);
      await client.query('commit');
    } finally {
      client.release();
    }
    ids.push(m.metadata.messageId);
  }
  return ids;
}

const present = async (ids: string[]) => (await db.pool.query<{ id: string }>('select id::text from outbox where id = any($1::uuid[])', [ids])).rows.map((r) => r.id).sort();
const clean = () => cleanOutbox(db.url, db.name, delivery.slotName as string, { retentionMs: 0 });
const confirmed = async () => (await db.pool.query<{ lsn: string }>('select confirmed_flush_lsn::text as lsn from pg_replication_slots where slot_name = $1', [delivery.slotName])).rows[0]?.lsn;

describe('outbox cleanup in Debezium mode', () => {
  beforeAll(async () => {
    db = await createTestDatabase('cleanup');
    delivery = await startDelivery('debezium', db, messages.aggregateTypes);
    writer = await messages.writer();
  });

  afterAll(async () => {
    await delivery?.stop();
    await db?.drop();
  });

  it('given rows delivered, then cleanup deletes them once the slot confirmed past them; given rows written while the connector is stopped, then none is deleted until they are delivered and confirmed', async () => {
    // Given rows delivered to Kafka
    const from = await endOffsets([topic]);
    const delivered = await write(20);
    await consumeUntil([topic], 'the first rows on Kafka', (r) => delivered.every((id) => r.some((x) => x.headers.id === id)), { from });

    // Then cleanup deletes them (the slot confirms as Connect flushes its offsets)
    await waitFor('cleanup to delete the delivered rows', async () => {
      await clean();
      return (await present(delivered)).length === 0;
    }, { timeoutMs: 90_000, intervalMs: 1_000 });

    // Given the connector stopped, and rows written meanwhile
    await connect.stop(delivery.connector as string);
    await connect.waitStopped(delivery.connector as string, 90_000);
    const held = await write(20);
    const from2 = await endOffsets([topic]);
    const standing = await confirmed();

    // When cleanup runs again and again while the slot stands still
    for (let run = 0; run < 3; run++) expect((await clean()).deleted).toBe(0);

    // Then every held row is still there, each marked past what the slot confirmed
    expect(await present(held)).toEqual([...held].sort());
    expect(await confirmed()).toBe(standing);
    const notConfirmed = await db.pool.query('select count(*)::int as n from sagaline_outbox_cleanup where id = any($1::uuid[]) and bound > $2::pg_lsn', [held, standing]);
    expect(notConfirmed.rows[0].n).toBe(held.length);

    // When the connector runs again, then they reach Kafka, and only then does cleanup delete them
    await connect.resume(delivery.connector as string);
    const received = await consumeUntil([topic], 'the held rows on Kafka', (r) => held.every((id) => r.some((x) => x.headers.id === id)), { from: from2, timeoutMs: 90_000 });
    expect(held.every((id) => received.some((x) => x.headers.id === id))).toBe(true);
    await waitFor('cleanup to delete the held rows once delivered', async () => {
      await clean();
      return (await present(held)).length === 0;
    }, { timeoutMs: 90_000, intervalMs: 1_000 });
  });

  it('given a slot that does not exist, then cleanup deletes nothing and says so', async () => {
    const kept = await write(3);
    const result = await cleanOutbox(db.url, db.name, 'sagaline_no_such_slot', { retentionMs: 0 });
    expect(result).toMatchObject({ confirmedLsn: null, deleted: 0 });
    expect(await present(kept)).toEqual([...kept].sort());
  });
});
