/**
 * Dead letters as an operator meets them, on the real stack: one entry per record that could not
 * be handled, naming the consumer groups that failed on it and its saga's state; a redrive that
 * reaches only those groups, once, refused into an ended saga unless forced, and never twice.
 *
 * The order saga runs in this process (monitor and participants, as in defined-saga), and two
 * more consumer groups read its log through the same decoding consumer the processors use: one
 * whose catalogue lacks the start message (an outdated deployment: the cause an operator fixes
 * before redriving), one up to date.
 */
import { Partitioners, type Admin, type Kafka, type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listDeadLetters, positionOf, redriveDeadLetters, type DeadLetterEntry } from '../audit/dead-letters.ts';
import { kafkaClient, pgPool, registryClient } from '../core/clients.ts';
import { SagalineError } from '../core/errors.ts';
import { createLogger } from '../core/log.ts';
import { waitFor } from '../core/wait.ts';
import { provisionSagas, runParticipant, runSagaMonitor, sagaClient, sagaTopic, type SagaClient, type SagaRecord } from '../index.ts';
import { monitorGroup } from '../processors/engine/monitor.ts';
import type { Project } from '../processors/engine/project.ts';
import { participantGroup } from '../processors/engine/run-participant.ts';
import { runDecodingConsumer, type RunningConsumer } from '../processors/runtime/consumer.ts';
import type { DecodedMessage, TopicMessages } from '../processors/runtime/decode.ts';
import { deadLetterTopicFor } from '../topics/catalogue.ts';
import { sagaTopicMessages } from '../topics/derived.ts';
import { ORDER_PARTICIPANTS, ORDER_SCHEMAS, orderFulfilment } from './fixtures/order-saga/saga.ts';
import { config, uniqueName } from './support/fixtures.ts';

const topic = sagaTopic(orderFulfilment).name;
const dlq = deadLetterTopicFor(topic);
const logger = createLogger({ logLevel: 'warn' }, 'dead-letters');
const project: Project = { file: 'test/fixtures/order-saga/sagaline.config.ts', schemas: ORDER_SCHEMAS, sagas: [orderFulfilment], participants: ORDER_PARTICIPANTS, streams: {} };
const running: { stop(): Promise<void> }[] = [];
const payments = pgPool(config, 'orders_payments', 1);
const full = sagaTopicMessages([orderFulfilment]);
/** An outdated deployment's catalogue: it does not know the saga's start message. */
const outdated: TopicMessages = { known: (type) => type !== 'OrderPlaced' && full.known(type), messagesOf: (t) => full.messagesOf(t) };
const run = `dl-${Date.now().toString(36)}`;
const oldGroup = `${run}-outdated`;
const newGroup = `${run}-current`;
const processorGroups = [monitorGroup(orderFulfilment.name), ...ORDER_PARTICIPANTS.map(participantGroup)];
/** Message ids each extra group's handler was given, in order. */
const seen: Record<string, string[]> = { [oldGroup]: [], [newGroup]: [] };
let outdatedConsumer: RunningConsumer;
let client: SagaClient;
let kafka: Kafka;
let admin: Admin;
let producer: Producer;

function extraGroup(groupId: string, catalogue: TopicMessages): Promise<RunningConsumer> {
  return runDecodingConsumer({
    kafka: kafkaClient(config, groupId),
    registry: registryClient(config),
    groupId,
    topics: [topic],
    catalogue,
    log: logger,
    handle: async (m: DecodedMessage) => void seen[groupId]!.push(m.metadata.messageId),
  });
}

const ends = async (t: string) => new Map((await admin.fetchTopicOffsets(t)).map((p) => [p.partition, p.high]));
const committed = async (groupId: string, partition: number) => BigInt((await admin.fetchOffsets({ groupId, topics: [topic] }))[0]!.partitions.find((p) => p.partition === partition)!.offset);

async function entryOf(sagaId: string, what: string, done: (e: DeadLetterEntry) => boolean): Promise<DeadLetterEntry> {
  return waitFor(what, async () => (await listDeadLetters(config, project, { sagaId })).find(done), { timeoutMs: 90_000, intervalMs: 500 });
}

async function refused(call: Promise<unknown>): Promise<SagalineError> {
  const err = await call.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(SagalineError);
  return err as SagalineError;
}

describe('dead letters: one entry per record, redriven to the groups that failed', () => {
  beforeAll(async () => {
    await provisionSagas(config, { sagas: [orderFulfilment], participants: ORDER_PARTICIPANTS, schemas: ORDER_SCHEMAS });
    kafka = kafkaClient(config, `${run}-test`);
    admin = kafka.admin();
    await admin.connect();
    producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    // The extra groups start at the end of the log, not at its history.
    const end = await ends(topic);
    for (const g of [oldGroup, newGroup]) await admin.setOffsets({ groupId: g, topic, partitions: [...end].map(([partition, offset]) => ({ partition, offset })) });
    running.push(await runSagaMonitor([orderFulfilment], { config, schemas: ORDER_SCHEMAS, logger }));
    for (const p of ORDER_PARTICIPANTS) running.push(await runParticipant(p, { config, schemas: ORDER_SCHEMAS, logger }));
    running.push(await extraGroup(newGroup, full));
    outdatedConsumer = await extraGroup(oldGroup, outdated);
    client = await sagaClient([orderFulfilment], { config, schemas: ORDER_SCHEMAS });
  });

  afterAll(async () => {
    await client?.close();
    await outdatedConsumer?.stop();
    for (const r of running.reverse()) await r.stop();
    await producer?.disconnect();
    await admin?.disconnect();
    await payments.end();
  });

  it('given a record no group can decode, when listed, then it is one entry naming every group that reads the log; a redrive reaches each of them once and a second one is refused', async () => {
    // Given a record that is not Avro, for a saga with no instance
    const sagaId = uniqueName('dl-poison');
    const messageId = crypto.randomUUID();
    await producer.send({ topic, messages: [{ key: sagaId, value: 'not avro', headers: { id: messageId, eventType: 'OrderPlaced', sagaId } }] });

    // When every group has sent it to the dead-letter topic
    const everyGroup = [...processorGroups, oldGroup, newGroup].sort();
    const entry = await entryOf(sagaId, 'the poison record dead-lettered by every group', (e) => e.groups.length === everyGroup.length);

    // Then it is one entry, naming the groups, the error and its saga's state
    expect(entry).toMatchObject({ messageId, type: 'OrderPlaced', sagaId, groups: everyGroup, unnamedGroups: 0, errorCode: 'POISON_MESSAGE', saga: null, redriven: [], redriveOf: null });
    expect(entry.deadLetters).toHaveLength(everyGroup.length);

    // When it is redriven (the saga has no instance: nothing to refuse)
    const [result] = await redriveDeadLetters(config, project, [positionOf(entry.source)], { reason: 'checking the redrive', by: 'the test' });

    // Then the copy went to the same partition for exactly those groups; each meets it once and fails on it again
    expect(result).toMatchObject({ source: positionOf(entry.source), groups: everyGroup, sagaId });
    expect(result!.to).toMatch(new RegExp(`^${topic.replace('.', '\\.')}/${entry.source.partition}@\\d+$`));
    const again = await entryOf(sagaId, 'the redriven copy dead-lettered again by every group', (e) => e.redriveOf === positionOf(entry.source) && e.groups.length === everyGroup.length);
    expect(positionOf(again.source)).toBe(result!.to);
    expect(again.deadLetters).toHaveLength(everyGroup.length);
    const listed = (await listDeadLetters(config, project, { sagaId })).find((e) => positionOf(e.source) === positionOf(entry.source));
    expect(listed?.redriven).toEqual([{ to: result!.to, groups: everyGroup, by: 'the test', reason: 'checking the redrive', at: expect.any(String) }]);

    // And a second redrive is refused, naming the first, with nothing written
    const [logEnd, dlqEnd] = [await ends(topic), await ends(dlq)];
    const err = await refused(redriveDeadLetters(config, project, [positionOf(entry.source)], { reason: 'again', by: 'the test' }));
    expect(err.code).toBe('ALREADY_REDRIVEN');
    expect(err.message).toContain(`redriven before, to ${result!.to}`);
    expect([await ends(topic), await ends(dlq)]).toEqual([logEnd, dlqEnd]);
  });

  it('given a record only an outdated group failed on, when the cause is fixed and it is redriven, then only that group handles it, once; an ended saga is refused unless forced', async () => {
    // Given a good order: it completes, while the outdated group dead-letters its start message
    const sagaId = await client.start(orderFulfilment, { orderId: uniqueName('order'), amountCents: 900 }, { tenantId: 'dl' });
    const completed = await waitFor(`saga ${sagaId} to complete`, async () => ((await client.get(sagaId))?.status === 'Completed' ? ((await client.get(sagaId)) as SagaRecord) : undefined), { timeoutMs: 90_000 });
    const entry = await entryOf(sagaId, 'the start message dead-lettered by the outdated group', () => true);
    expect(entry).toMatchObject({ type: 'OrderPlaced', groups: [oldGroup], saga: { name: orderFulfilment.name, status: 'Completed' } });
    expect(entry.error).toMatch(/unknown eventType "OrderPlaced"/);
    const original = entry.messageId as string;
    expect(seen[newGroup]!.filter((id) => id === original)).toHaveLength(1);

    // When it is redriven into the ended saga without force: refused, nothing written
    const [logEnd, dlqEnd] = [await ends(topic), await ends(dlq)];
    const err = await refused(redriveDeadLetters(config, project, [positionOf(entry.source)], { reason: 'catalogue updated', by: 'the test' }));
    expect(err.code).toBe('SAGA_ENDED');
    expect(err.message).toContain(`saga ${sagaId} (${orderFulfilment.name}) has ended (Completed)`);
    expect([await ends(topic), await ends(dlq)]).toEqual([logEnd, dlqEnd]);

    // When the outdated group is brought up to date and the record redriven with force
    await outdatedConsumer.stop();
    outdatedConsumer = await extraGroup(oldGroup, full);
    const [result] = await redriveDeadLetters(config, project, [positionOf(entry.source)], { reason: 'catalogue updated', by: 'the test', force: true });
    const copyOffset = BigInt(result!.to.slice(result!.to.lastIndexOf('@') + 1));

    // Then the group that failed handles it, once, with the original message id
    await waitFor('the updated group to handle the redriven start message', () => seen[oldGroup]!.includes(original), { timeoutMs: 60_000 });
    // And every other group has moved past the copy without handling it
    for (const g of [newGroup, ...processorGroups]) {
      await waitFor(`${g} to move past the redriven copy`, async () => (await committed(g, entry.source.partition)) > copyOffset, { timeoutMs: 60_000, intervalMs: 500 });
    }
    expect(seen[oldGroup]!.filter((id) => id === original)).toHaveLength(1);
    expect(seen[newGroup]!.filter((id) => id === original)).toHaveLength(1);
    const after = await client.get(sagaId);
    expect({ status: after?.status, version: after?.version, state: after?.state }).toEqual({ status: completed.status, version: completed.version, state: completed.state });
    expect((await payments.query('select status from charges where saga_id = $1', [sagaId])).rows.map((r) => r.status)).toEqual(['charged']);
  });

  it('given positions that name no dead letter or are malformed, when redriven, then each is a clear error and nothing is written', async () => {
    const [logEnd, dlqEnd] = [await ends(topic), await ends(dlq)];
    expect((await refused(redriveDeadLetters(config, project, [`${topic}/0@999999999`], { reason: 'r', by: 'b' }))).code).toBe('DEAD_LETTER_NOT_FOUND');
    const malformed = await refused(redriveDeadLetters(config, project, ['order-fulfilment:0:12'], { reason: 'r', by: 'b' }));
    expect(malformed).toMatchObject({ code: 'REQUEST_INVALID', message: expect.stringContaining('"order-fulfilment:0:12" is not a record position') });
    expect((await refused(redriveDeadLetters(config, project, [`${topic}/0@1`], { reason: ' ', by: 'b' }))).message).toMatch(/a reason is required/);
    expect((await refused(listDeadLetters(config, project, { topic: 'sagaline.nope' }))).message).toMatch(/"nope" is not an event log/);
    expect([await ends(topic), await ends(dlq)]).toEqual([logEnd, dlqEnd]);
  });
});
