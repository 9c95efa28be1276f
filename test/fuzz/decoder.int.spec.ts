/**
 * The consumer's decoder against hostile records, with the real schema registry: valid records of
 * the order fixture's saga, then cut, re-framed, given wrong magic bytes, unknown or foreign schema
 * ids, oversized payloads, missing, unknown or undecodable headers. Every record either decodes to
 * a message its schema accepts or is refused as poison (a dead letter) — never another error (which
 * the consumer would retry forever: a silent stall) and never a hang. Then a sample of them goes
 * through a real decoding consumer on a topic of its own: each is handled or dead-lettered, and a
 * good record written after them is still handled.
 */
import fc from 'fast-check';
import type { Admin, IHeaders, Kafka, KafkaMessage, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaClient, registryClient } from '../../core/clients.ts';
import { PoisonMessageError } from '../../core/errors.ts';
import { createLogger } from '../../core/log.ts';
import { waitFor } from '../../core/wait.ts';
import { runDecodingConsumer, type RunningConsumer } from '../../processors/runtime/consumer.ts';
import { decodeMessage, type DecodedMessage } from '../../processors/runtime/decode.ts';
import { messageRecord } from '../../schemas/contracts.ts';
import { HEADER_LENGTH } from '../../schemas/wire-format.ts';
import { deadLetterTopicFor } from '../../topics/catalogue.ts';
import { HEADER_COLUMNS, type OutboxRow } from '../../outbox-connector/outbox-table.ts';
import { config, uniqueName } from '../support/fixtures.ts';
import { FUZZ_TIMEOUT_MS, fuzzRuns, fuzzSample, hostileString } from '../support/fuzz.ts';
import { anyMessage, ORDER_CONFIG, provisionedMessages, type TestMessages } from '../support/messages.ts';

const registry = registryClient(config);
const logger = createLogger({ logLevel: 'error' }, 'fuzz-decoder');
let messages: TestMessages;
/** Valid records of every message type of the order saga, as the outbox connector puts them on Kafka. */
let valid: { topic: string; message: Rec }[] = [];

/** A record as the consumer is handed it (the fields decoding reads). */
interface Rec {
  key: Buffer | null;
  value: Buffer | null;
  headers?: IHeaders | undefined;
  offset: string;
  timestamp: string;
  attributes: number;
}

function asRecord(row: OutboxRow, offset: number): Rec {
  const headers: IHeaders = { id: row.id };
  const byColumn: Record<string, string | undefined> = { type: row.type, tenant_id: row.tenantId, saga_id: row.sagaId, correlation_id: row.correlationId, causation_id: row.causationId, traceparent: row.traceparent };
  for (const [column, header] of HEADER_COLUMNS) headers[header] = byColumn[column] ?? '';
  return { key: Buffer.from(row.sagaId ?? ''), value: row.payload, headers, offset: String(offset), timestamp: String(Date.now()), attributes: 0 };
}

/** One way to spoil a record (or none): each keeps the rest of it as it was. */
type Spoil = (m: Rec) => Rec;
const withValue = (m: Rec, value: Buffer | null): Rec => ({ ...m, value });
const withHeaders = (m: Rec, change: (h: IHeaders) => IHeaders): Rec => ({ ...m, headers: change({ ...m.headers }) });
/** The record's value, or no bytes when an earlier spoil took it away. */
const v0 = (m: Rec): Buffer => m.value ?? Buffer.alloc(0);
const bytes = (n: number) => fc.uint8Array({ minLength: 0, maxLength: n }).map((a) => Buffer.from(a));

const spoil: fc.Arbitrary<Spoil> = fc.oneof(
  fc.constant<Spoil>((m) => m),
  fc.constant<Spoil>((m) => withValue(m, null)),
  fc.constant<Spoil>((m) => withValue(m, Buffer.alloc(0))),
  fc.nat({ max: 64 }).map<Spoil>((n) => (m) => withValue(m, v0(m).subarray(0, Math.min(n, v0(m).length - 1)))),
  fc.integer({ min: 1, max: 255 }).map<Spoil>((magic) => (m) => withValue(m, Buffer.concat([Buffer.from([magic]), v0(m).subarray(1)]))),
  fc.oneof(fc.integer({ min: -5, max: 400 }), fc.constantFrom(-(2 ** 31), 2 ** 31 - 1, 0, 1_000_000)).map<Spoil>((id) => (m) => {
    const v = Buffer.from(v0(m));
    if (v.length >= HEADER_LENGTH) v.writeInt32BE(id, 1);
    return withValue(m, v);
  }),
  fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })).map<Spoil>(([at, byte]) => (m) => {
    const v = Buffer.from(v0(m));
    const i = HEADER_LENGTH + (at % Math.max(1, v.length - HEADER_LENGTH));
    if (i < v.length) v[i] = byte;
    return withValue(m, v);
  }),
  bytes(32).map<Spoil>((tail) => (m) => withValue(m, Buffer.concat([v0(m), tail]))),
  bytes(64).map<Spoil>((body) => (m) => withValue(m, Buffer.concat([v0(m).subarray(0, HEADER_LENGTH), body]))),
  // Oversized: a length prefix claiming gigabytes, or 256 KB of anything after the header (a broker takes up to 1 MB).
  fc.constant<Spoil>((m) => withValue(m, Buffer.concat([v0(m).subarray(0, HEADER_LENGTH), Buffer.from([0xfe, 0xff, 0xff, 0xff, 0x0f]), Buffer.alloc(16)]))),
  fc.constant<Spoil>((m) => withValue(m, Buffer.concat([v0(m).subarray(0, HEADER_LENGTH), Buffer.alloc(256 * 1024, 0x41)]))),
  fc.constantFrom('id', 'eventType', 'sagaId', 'tenantId', 'traceparent').map<Spoil>((h) => (m) => withHeaders(m, (hs) => (delete hs[h], hs))),
  fc.tuple(fc.constantFrom('id', 'eventType', 'sagaId', 'tenantId', 'traceparent', 'EventType', 'x-other'), hostileString).map<Spoil>(([h, v]) => (m) => withHeaders(m, (hs) => ({ ...hs, [h]: v }))),
  fc.constantFrom('id', 'eventType', 'sagaId').map<Spoil>((h) => (m) => withHeaders(m, (hs) => ({ ...hs, [h]: Buffer.from([0xff, 0xfe, 0x00, 0xc3]) }))),
  fc.constantFrom('id', 'eventType').map<Spoil>((h) => (m) => withHeaders(m, (hs) => ({ ...hs, [h]: [] as unknown as string }))),
  fc.constant<Spoil>((m) => ({ ...m, headers: undefined })),
  fc.constant<Spoil>((m) => ({ ...m, key: Buffer.from([0xff, 0x00, 0xfe]) })),
);

/** A hostile record: a valid one, spoiled once or twice, sometimes with another valid record's type header (a payload that is not what its header says). */
const hostile = (count: number) =>
  fc.tuple(fc.nat({ max: count - 1 }), fc.nat({ max: count - 1 }), fc.boolean(), fc.array(spoil, { minLength: 1, maxLength: 2 })).map(([i, j, swapType, spoils]) => {
    const base = valid[i]!;
    let m = swapType ? withHeaders(base.message, (h) => ({ ...h, eventType: valid[j]!.message.headers!.eventType! })) : base.message;
    for (const s of spoils) m = s(m);
    return { topic: base.topic, message: m };
  });

/** Decoded, or refused as poison: anything else fails the case. */
async function outcome(topic: string, message: Rec): Promise<DecodedMessage | PoisonMessageError> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`decoding did not end within 20 s`)), 20_000)));
  try {
    return await Promise.race([Promise.resolve().then(() => decodeMessage(registry, topic, 0, message as KafkaMessage, messages.catalogue)), deadline]);
  } catch (err) {
    if (err instanceof PoisonMessageError) return err;
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

function expectSound(result: DecodedMessage | PoisonMessageError): void {
  if (result instanceof PoisonMessageError) {
    expect(result.message.length).toBeGreaterThan(0);
    return;
  }
  // Decoded: the payload is one its type's schema accepts, under the type its header names.
  expect(messageRecord(messages.contracts, result.type).isValid(result.payload), `${result.type}: ${JSON.stringify(result.payload)}`).toBe(true);
  expect(messages.catalogue.known(result.type)).toBe(true);
}

describe('the decoder, fuzzed with hostile records', () => {
  beforeAll(async () => {
    messages = await provisionedMessages([ORDER_CONFIG]);
    const writer = await messages.writer();
    valid = messages.types.map((type, i) => {
      const sagaId = uniqueName('fuzz');
      const row = writer.row(anyMessage(messages, type, sagaId));
      return { topic: messages.topicOf(type).name, message: asRecord(row, i) };
    });
    // Every valid record decodes: the spoiled ones start from something good.
    for (const v of valid) expect((await outcome(v.topic, v.message)) instanceof PoisonMessageError).toBe(false);
  });

  it('given any spoiled record, when it is decoded, then it is a message its schema accepts or poison, never another error or a hang', async () => {
    await fc.assert(
      fc.asyncProperty(hostile(valid.length), async ({ topic, message }) => {
        expectSound(await outcome(topic, message));
      }),
      fuzzRuns(300, 20),
    );
  }, FUZZ_TIMEOUT_MS);

  describe('through a real decoding consumer', () => {
    const topic = `sagaline.${uniqueName('fuzz-decoder')}`;
    const dlq = deadLetterTopicFor(topic);
    const groupId = uniqueName('fuzz-decoder');
    const handled: string[] = [];
    let kafka: Kafka;
    let admin: Admin;
    let producer: Producer;
    let consumer: RunningConsumer | undefined;

    beforeAll(async () => {
      kafka = kafkaClient(config, groupId);
      admin = kafka.admin();
      producer = kafka.producer();
      await Promise.all([admin.connect(), producer.connect()]);
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1 }, { topic: dlq, numPartitions: 1 }] });
    });

    afterAll(async () => {
      await consumer?.stop();
      await admin?.deleteTopics({ topics: [topic, dlq] }).catch(() => undefined);
      await Promise.all([admin?.disconnect(), producer?.disconnect()]);
    });

    it('given hostile records followed by a good one, when a consumer reads them, then each is handled or dead-lettered once and the good one after them is handled', async () => {
      const sample = fuzzSample(hostile(valid.length), 40, 10).map(({ message }) => message);
      // What the decoder alone says of each: the consumer must do the same.
      const expected = await Promise.all(sample.map(async (m) => (await outcome(topic, m)) instanceof PoisonMessageError));
      const last = valid[0]!.message;
      const lastId = String(last.headers!.id);
      // One by one, in order: a batch of several large records would pass the broker's request limit.
      for (const m of [...sample, last]) await producer.send({ topic, acks: -1, messages: [{ key: m.key, value: m.value, ...(m.headers ? { headers: m.headers } : {}) }] });
      consumer = await runDecodingConsumer({
        kafka,
        registry,
        groupId,
        topics: [topic],
        catalogue: messages.catalogue,
        log: logger,
        handle: async (m) => void handled.push(`${m.kafka.offset}`),
      });
      // The good record written last is handled: nothing before it stalled the partition.
      await waitFor(`the good record ${lastId} after ${sample.length} hostile ones to be handled`, async () => handled.includes(String(sample.length)) || undefined, { timeoutMs: 120_000 });
      const poisoned = expected.filter(Boolean).length;
      expect(consumer.deadLettered()).toBe(poisoned);
      // Each hostile record: handled if it decodes, in the dead-letter topic if it does not; never both, never twice.
      const deadOffsets = await waitFor(`${poisoned} dead letters on ${dlq}`, async () => {
        const offsets = await admin.fetchTopicOffsets(dlq);
        return Number(offsets[0]!.high) === poisoned ? true : undefined;
      }, { timeoutMs: 60_000 });
      expect(deadOffsets).toBe(true);
      const handledHostile = handled.filter((o) => Number(o) < sample.length).map(Number).sort((a, b) => a - b);
      expect(handledHostile).toEqual(expected.flatMap((poison, i) => (poison ? [] : [i])));
      expect(new Set(handled).size).toBe(handled.length);
      // The sample had both kinds: records refused as poison and records handled.
      expect(poisoned).toBeGreaterThan(0);
      expect(handled.length).toBeGreaterThan(1);
    }, FUZZ_TIMEOUT_MS);
  });
});

