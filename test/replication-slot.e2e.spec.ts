/**
 * The replication slot while Kafka Connect is away: the slot keeps the WAL its connector has not
 * confirmed, so its lag grows while Connect is stopped, `sagaline stack status` reports that lag,
 * and once Connect is back the lag drains and every event written meanwhile reaches Kafka.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../core/wait.ts';
import { Stack } from '../infra/stack/stack.ts';
import { OutboxWriter, type OutgoingMessage } from '../outbox-connector/outbox-writer.ts';
import type { ReplicationSlotStatus } from '../outbox-connector/replication-slots.ts';
import { sagaline } from './support/cli.ts';
import { consumeUntil, endOffsets, type Received } from './support/consume.ts';
import { config, createTestDatabase, startDelivery, uniqueName, type Delivery, type TestDatabase } from './support/fixtures.ts';
import { anyMessage, messageTypeAt, provisionedMessages } from './support/messages.ts';

// Messages of the order fixture's and the training example's sagas, on their derived event logs.
const messages = await provisionedMessages();
const eventLogs = messages.topics.map((t) => t.name);
const BATCHES = 2;
const PER_BATCH = 300;

async function slotStatus(slot: string): Promise<ReplicationSlotStatus> {
  const result = await sagaline(['stack', 'status', '--json']);
  const parsed = JSON.parse(result.stdout) as { replicationSlots: ReplicationSlotStatus[] | null };
  const found = parsed.replicationSlots?.find((s) => s.slot === slot);
  if (!found) throw new Error(`stack status lists no slot ${slot}: ${result.stdout.slice(0, 500)}`);
  return found;
}

describe('replication slot lag', () => {
  let db: TestDatabase;
  let delivery: Delivery;
  let writer: OutboxWriter;
  const stack = new Stack(config);

  beforeAll(async () => {
    db = await createTestDatabase('slot_lag');
    delivery = await startDelivery('debezium', db, messages.aggregateTypes);
    writer = await messages.writer();
  });

  afterAll(async () => {
    // Whatever happened, Connect runs again for the suites after this one.
    await stack.up(() => undefined);
    await delivery?.stop();
    await db?.drop();
  });

  it('given Connect stopped while events are committed, then the lag grows and `stack status` reports it; when Connect is back, it drains without losing an event', async () => {
    // Given a Debezium connector streaming this database's outbox, caught up
    const slot = delivery.slotName!;
    const from = await endOffsets(eventLogs);
    const before = await slotStatus(slot);
    expect(before.active, 'slot in use before Connect stops').toBe(true);

    // When Connect is stopped and events keep being committed, in two batches
    await stack.components.connect.stop();
    await waitFor(`slot ${slot} to be released`, async () => !(await slotStatus(slot)).active, { timeoutMs: 30_000 });
    const written: OutgoingMessage[] = [];
    const lags: number[] = [];
    for (let b = 0; b < BATCHES; b++) {
      const client = await db.pool.connect();
      try {
        await client.query('begin');
        for (let i = 0; i < PER_BATCH; i++) {
          const m = anyMessage(messages, messageTypeAt(messages, b * PER_BATCH + i), uniqueName('slot-saga'));
          await writer.publish(client, m);
          written.push(m);
        }
        await client.query('commit');
      } finally {
        client.release();
      }
      lags.push((await slotStatus(slot)).lagBytes);
    }

    // Then `stack status` reports a lag that grew with every batch while the slot was idle
    const [afterFirst, afterSecond] = lags as [number, number];
    expect(afterFirst, 'lag after the first batch').toBeGreaterThan(0);
    expect(afterSecond, 'lag after the second batch').toBeGreaterThan(afterFirst);
    const text = await sagaline(['stack', 'status']);
    expect(text.stdout).toMatch(new RegExp(`${slot}\\s+${db.name}\\s+no\\s+\\d`));

    // When Connect is started again
    await stack.up(() => undefined);

    // Then the lag drains below what the batches alone wrote…
    const drained = await waitFor(
      `slot ${slot} to catch up`,
      async () => {
        const s = await slotStatus(slot);
        return s.active && s.lagBytes < afterFirst ? s : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 1_000 },
    );
    expect(drained.lagBytes).toBeLessThan(afterFirst);

    // …and every event committed while Connect was away reached Kafka
    const ids = new Set(written.map((m) => m.metadata.messageId));
    const ours = (r: Received) => ids.has(r.headers.id ?? '');
    const received = (
      await consumeUntil(eventLogs, `all ${ids.size} events written while Connect was down`, (all) => new Set(all.filter(ours).map((r) => r.headers.id)).size >= ids.size, {
        from,
        timeoutMs: 120_000,
      })
    ).filter(ours);
    expect(new Set(received.map((r) => r.headers.id)).size).toBe(ids.size);
  }, 300_000);
});
