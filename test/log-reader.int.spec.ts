/**
 * The log reader against the real broker: it fetches ranges from the partitions' leader and parses
 * the record batches itself (audit/fetch-records.ts, audit/record-batch.ts), so what a kafkajs
 * consumer would hand over is checked here record for record — compressed batches, transactions
 * committed and aborted, a batch larger than the fetch size, a range that never fills — and that no
 * consumer group is left behind.
 */
import { CompressionTypes, type Admin, type IHeaders, type KafkaMessage, type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchRanges } from '../audit/fetch-records.ts';
import { readLog } from '../audit/log-reader.ts';
import { kafkaClient } from '../core/clients.ts';
import { SagalineError, TimeoutError } from '../core/errors.ts';
import { createLogger } from '../core/log.ts';
import { config, uniqueName } from './support/fixtures.ts';

const kafka = kafkaClient(config, uniqueName('log-reader-test'));
const anyTopic = { known: () => true, messagesOf: () => undefined };
let admin: Admin;
let producer: Producer;

beforeAll(async () => {
  admin = kafka.admin();
  producer = kafka.producer({ idempotent: true });
  await Promise.all([admin.connect(), producer.connect()]);
});

afterAll(async () => {
  await Promise.all([admin.disconnect(), producer.disconnect()]);
});

async function newTopic(partitions = 2): Promise<string> {
  const topic = uniqueName('log-reader');
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
  return topic;
}

interface Read {
  partition: number;
  offset: string;
  key: string | null;
  value: string | null;
  headers: Record<string, string[]>;
}

const asRead = (m: KafkaMessage, partition: number): Read => ({
  partition,
  offset: m.offset,
  key: m.key?.toString() ?? null,
  value: m.value?.toString() ?? null,
  headers: Object.fromEntries(Object.entries(m.headers ?? {}).map(([k, v]) => [k, (Array.isArray(v) ? v : [v]).map((x) => (Buffer.isBuffer(x) ? `buffer:${x.toString()}` : `string:${x}`))])),
});

async function readAll(topic: string): Promise<Read[]> {
  const out: Read[] = [];
  await readLog(config, { topics: [topic], catalogue: anyTopic, timeoutMs: 60_000, onRecord: (m, p) => void out.push(asRead(m, p.partition)) });
  return out;
}

/** What a plain kafkajs consumer (read-committed, its default) hands over, for comparison. */
async function consumerReads(topic: string, expected: number): Promise<Read[]> {
  const out: Read[] = [];
  const consumer = kafka.consumer({ groupId: uniqueName('log-reader-oracle') });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    let resolveDone!: () => void;
    const done = new Promise<void>((resolve) => (resolveDone = resolve));
    await consumer.run({
      eachMessage: async ({ message, partition }) => {
        out.push(asRead(message, partition));
        if (out.length >= expected) resolveDone();
      },
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([done, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`the oracle consumer read ${out.length} of ${expected}`)), 60_000)))]).finally(() => clearTimeout(timer));
  } finally {
    await consumer.disconnect();
  }
  return out;
}

const byPosition = (a: Read, b: Read) => a.partition - b.partition || Number(a.offset) - Number(b.offset);

describe('the log reader, against the broker', () => {
  it('given plain and gzip batches, a committed and an aborted transaction, when the topic is read, then exactly what a kafkajs consumer reads, byte for byte, and no consumer group is left', async () => {
    // Given
    const topic = await newTopic();
    const headers: IHeaders = { id: 'h-1', tag: ['a', 'b'], 'ünï': 'välue' };
    await producer.send({ topic, messages: [{ partition: 0, key: 'k1', value: 'plain one', headers }, { partition: 1, key: null, value: 'no key' }] });
    await producer.send({ topic, compression: CompressionTypes.GZIP, messages: Array.from({ length: 5 }, (_, i) => ({ partition: 0, key: `g${i}`, value: `gzip ${i} `.repeat(20), headers: { n: String(i) } })) });
    const transactional = kafka.producer({ transactionalId: uniqueName('log-reader-tx'), idempotent: true, maxInFlightRequests: 1 });
    await transactional.connect();
    try {
      const aborted = await transactional.transaction();
      await aborted.send({ topic, messages: [{ partition: 0, key: 'aborted', value: 'never seen' }, { partition: 1, key: 'aborted', value: 'never seen either' }] });
      await aborted.abort();
      const committed = await transactional.transaction();
      await committed.send({ topic, messages: [{ partition: 0, key: 'committed', value: 'seen', headers: { id: 'tx' } }] });
      await committed.commit();
    } finally {
      await transactional.disconnect();
    }
    await producer.send({ topic, messages: [{ partition: 1, key: 'last', value: null }] });
    const groupsBefore = new Set((await admin.listGroups()).groups.map((g) => g.groupId));

    // When
    const read = await readAll(topic);

    // Then
    expect(read.map((r) => r.key)).not.toContain('aborted');
    expect(read).toHaveLength(1 + 1 + 5 + 1 + 1);
    expect(read.find((r) => r.key === 'k1')?.headers).toEqual({ id: ['buffer:h-1'], tag: ['buffer:a', 'buffer:b'], 'ünï': ['buffer:välue'] });
    expect([...read].sort(byPosition)).toEqual((await consumerReads(topic, read.length)).sort(byPosition));
    const newGroups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => !groupsBefore.has(g) && !g.startsWith('log-reader-oracle'));
    expect(newGroups).toEqual([]);
  });

  it('given batches larger than the fetch size asked for, when their ranges are fetched, then every record is read', async () => {
    // Given: on each of two partitions one batch of 8 records of 4 KB, 32 times the size asked for
    // (Kafka 3.9 sends each whole; a broker that cuts one short makes the reader ask for more)
    const topic = await newTopic(2);
    for (const partition of [0, 1]) await producer.send({ topic, messages: Array.from({ length: 8 }, (_, i) => ({ partition, key: String(i), value: 'x'.repeat(4096) })) });
    // When
    const offsets: string[] = [];
    const ranges = new Map([0, 1].map((p) => [`${topic}/${p}`, { start: 0, end: 8 }]));
    await fetchRanges(kafka, ranges, { textHeaders: true, partitionMaxBytes: 1024 }, createLogger(config, 'log-reader-test'), (_t, p, records) => void offsets.push(...records.map((r) => `${p}:${r.offset}`)));
    // Then
    expect(offsets.sort()).toEqual([0, 1].flatMap((p) => Array.from({ length: 8 }, (_, i) => `${p}:${i}`)).sort());
  });

  it('given a range from the middle of a batch to before its end, when fetched, then exactly that range', async () => {
    const topic = await newTopic(1);
    await producer.send({ topic, messages: Array.from({ length: 10 }, (_, i) => ({ key: String(i), value: String(i) })) });
    const offsets: string[] = [];
    await fetchRanges(kafka, new Map([[`${topic}/0`, { start: 3, end: 7 }]]), { textHeaders: true }, createLogger(config, 'log-reader-test'), (_t, _p, records) => void offsets.push(...records.map((r) => r.offset)));
    expect(offsets).toEqual(['3', '4', '5', '6']);
  });

  it('given a handler that fails with a retriable error partway, when the log is read, then the read fails with that error and no record was handed on twice', async () => {
    // Given three batches on one partition
    const topic = await newTopic(1);
    for (const from of [0, 3, 6]) await producer.send({ topic, messages: Array.from({ length: 3 }, (_, i) => ({ key: String(from + i), value: String(from + i) })) });
    const seen: string[] = [];
    const failure = new SagalineError('REGISTRY_UNAVAILABLE', 'the registry did not answer', { retriable: true });
    // When the handler fails at the fifth record
    const result = await readLog(config, {
      topics: [topic],
      catalogue: anyTopic,
      timeoutMs: 30_000,
      onRecord: (m) => {
        if (m.offset === '4') throw failure;
        seen.push(m.offset);
      },
    }).catch((err: unknown) => err);
    // Then
    expect(result).toBe(failure);
    expect(seen).toEqual(['0', '1', '2', '3']);
  });

  it('given a range whose end the log never reaches, when read with a deadline, then a TimeoutError at the deadline, and the next read works', async () => {
    // Given
    const topic = await newTopic(1);
    await producer.send({ topic, messages: [{ key: 'a', value: 'a' }] });
    // When
    const t0 = Date.now();
    const failed = await readLog(config, { topics: [topic], catalogue: anyTopic, upTo: new Map([[`${topic}/0`, 5n]]), timeoutMs: 1_500, onRecord: () => undefined }).catch((err: unknown) => err);
    // Then
    expect(failed).toBeInstanceOf(TimeoutError);
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect((await readAll(topic)).map((r) => r.value)).toEqual(['a']);
  });
});
