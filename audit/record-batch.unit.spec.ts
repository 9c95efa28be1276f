/**
 * The record-batch parser against kafkajs's own encoder and decoder: batches written by kafkajs
 * must read back here exactly as kafkajs reads them.
 */
import { createRequire } from 'node:module';
import type { IHeaders } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { AbortedFilter, batchBody, batchRecords, firstRecordKey, parseFetchResponse, recordBatches, RecordFormatError, type Codec, type LogRecord } from './record-batch.ts';

const require = createRequire(import.meta.url);
type Encoded = { buffer: Buffer };
interface Enc extends Encoded {
  writeInt16(v: number): Enc;
  writeInt32(v: number): Enc;
  writeInt64(v: unknown): Enc;
  writeString(v: string): Enc;
  writeBuffer(v: Buffer): Enc;
  writeEncoder(v: Encoded): Enc;
}
const Encoder = require('kafkajs/src/protocol/encoder') as new () => Enc;
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0') as { RecordBatch: (o: object) => Promise<Encoded> };
const Record = require('kafkajs/src/protocol/recordBatch/record/v0') as (o: object) => Encoded;
const RecordBatchDecoder = require('kafkajs/src/protocol/recordBatch/v0/decoder') as (d: unknown) => Promise<{ records: KafkajsRecord[] }>;
const Decoder = require('kafkajs/src/protocol/decoder') as new (b: Buffer) => unknown;
const Long = require('kafkajs/src/utils/long') as { fromValue(v: number | string): unknown };
const { Types } = require('kafkajs/src/protocol/message/compression') as { Types: { None: number; GZIP: number } };
const { lookupCodec } = require('kafkajs/src/protocol/message/compression') as { lookupCodec(c: number): Codec | null };

interface KafkajsRecord {
  key: Buffer | null;
  value: Buffer | null;
  timestamp: string;
  offset: string;
  headers: IHeaders;
}

interface Spec {
  key: string | null;
  value: string | null;
  headers?: Record<string, string | string[]>;
  timestampDelta?: number;
}

async function batch(firstOffset: number, firstTimestamp: number, specs: Spec[], extra: object = {}): Promise<Buffer> {
  const records = specs.map((s, i) =>
    Record({
      offsetDelta: i,
      timestampDelta: s.timestampDelta ?? i * 3,
      key: s.key === null ? null : Buffer.from(s.key),
      value: s.value === null ? null : Buffer.from(s.value),
      headers: Object.fromEntries(Object.entries(s.headers ?? {}).map(([k, v]) => [k, Array.isArray(v) ? v.map((x) => Buffer.from(x)) : Buffer.from(v)])),
    }),
  );
  const encoded = await RecordBatch({ firstOffset: Long.fromValue(firstOffset), firstTimestamp, maxTimestamp: firstTimestamp + 100, lastOffsetDelta: specs.length - 1, records, ...extra });
  return encoded.buffer;
}

async function kafkajsReads(bytes: Buffer): Promise<KafkajsRecord[]> {
  return (await RecordBatchDecoder(new Decoder(bytes))).records;
}

async function ourReads(bytes: Buffer, from = 0, textHeaders = false): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  for (const b of recordBatches(bytes)) out.push(...batchRecords(b, await batchBody(b, lookupCodec, 'the test topic'), from, textHeaders));
  return out;
}

const comparable = (r: { key: Buffer | null; value: Buffer | null; timestamp: string; offset: string; headers?: IHeaders }) => ({
  key: r.key?.toString('hex') ?? null,
  value: r.value?.toString('hex') ?? null,
  timestamp: r.timestamp,
  offset: r.offset,
  headers: Object.fromEntries(Object.entries(r.headers ?? {}).map(([k, v]) => [k, Array.isArray(v) ? v.map(String) : String(v)])),
});

const specs: Spec[] = [
  { key: 'saga-1', value: 'payload one', headers: { id: 'm1', eventType: 'ModelRequested', sagaId: 'saga-1' } },
  { key: null, value: null, headers: {} },
  { key: 'saga-ü', value: '\u0000\u0001binary', headers: { tag: ['a', 'b', 'c'], 'ünïcode': 'välue' }, timestampDelta: -5 },
  { key: '', value: '', headers: { empty: '' } },
];

describe('reading v2 record batches as kafkajs writes them', () => {
  it('given an uncompressed batch with headers, null and empty keys and values, repeated header keys and a negative timestamp delta, when parsed, then every record reads as kafkajs reads it', async () => {
    // Given
    const bytes = await batch(41, 1_733_000_000_123, specs);
    // When
    const ours = await ourReads(bytes);
    // Then
    expect(ours.map(comparable)).toEqual((await kafkajsReads(bytes)).map(comparable));
    expect(ours.map((r) => r.offset)).toEqual(['41', '42', '43', '44']);
    expect(ours[2]?.timestamp).toBe(String(1_733_000_000_123 - 5));
  });

  it('given headers named like Object.prototype properties, when parsed, then each is a header of its own and the prototype is untouched', async () => {
    // Given
    const bytes = await batch(0, 1, [{ key: 'k', value: 'v', headers: { ['__proto__']: 'p', toString: 't', constructor: ['c1', 'c2'] } as unknown as Record<string, string> }]);
    // When
    const [first] = await ourReads(bytes, 0, true);
    // Then
    expect(Object.entries(first!.headers)).toEqual([
      ['__proto__', 'p'],
      ['toString', 't'],
      ['constructor', ['c1', 'c2']],
    ]);
    expect(Object.getPrototypeOf(first!.headers)).toBeNull();
  });

  it('given a batch of an unknown codec or one that does not decompress, when its body is read, then a RecordFormatError naming the codec', async () => {
    const [gzip] = recordBatches(await batch(0, 1, specs, { compression: Types.GZIP }));
    await expect(batchBody({ ...gzip!, codec: 6 }, lookupCodec, 'topic/0')).rejects.toThrow(/topic\/0 holds a batch compressed with codec 6/);
    await expect(batchBody({ ...gzip!, body: Buffer.from('not gzip') }, lookupCodec, 'topic/0')).rejects.toThrow(RecordFormatError);
  });

  it('given offsets and timestamps beyond 32 bits, when parsed, then they are exact', async () => {
    const offset = 2 ** 40 + 7;
    const bytes = await batch(offset, 2 ** 42 + 1, specs.slice(0, 2));
    const ours = await ourReads(bytes);
    expect(ours.map(comparable)).toEqual((await kafkajsReads(bytes)).map(comparable));
    expect(ours[1]?.offset).toBe(String(offset + 1));
  });

  it('given a gzip batch, when parsed with kafkajs codec, then it reads as kafkajs reads it', async () => {
    const bytes = await batch(0, 1_733_000_000_000, specs, { compression: Types.GZIP });
    const [only] = recordBatches(bytes);
    expect(only?.codec).toBe(1);
    expect((await ourReads(bytes)).map(comparable)).toEqual((await kafkajsReads(bytes)).map(comparable));
  });

  it('given header values wanted as text, when parsed, then they are the strings of the bytes', async () => {
    const [first] = await ourReads(await batch(0, 1, specs), 0, true);
    expect(first?.headers).toEqual({ id: 'm1', eventType: 'ModelRequested', sagaId: 'saga-1' });
  });

  it('given three batches and the last cut short by the fetch size, when parsed from an offset inside the first, then the earlier records and the partial batch are left out', async () => {
    // Given
    const bytes = Buffer.concat([await batch(10, 1, specs), await batch(14, 1, specs.slice(0, 2)), (await batch(16, 1, specs)).subarray(0, 40)]);
    // When
    const batches = recordBatches(bytes);
    const ours = await ourReads(bytes, 12);
    // Then
    expect(batches.map((b) => [b.baseOffset, b.nextOffset])).toEqual([
      [10, 14],
      [14, 16],
    ]);
    expect(ours.map((r) => r.offset)).toEqual(['12', '13', '14', '15']);
  });

  it('given a batch of the old message format, when parsed, then a RecordFormatError names its version', async () => {
    const bytes = Buffer.from(await batch(5, 1, specs.slice(0, 1)));
    bytes[16] = 1;
    expect(() => recordBatches(bytes)).toThrow(RecordFormatError);
    expect(() => recordBatches(bytes)).toThrow(/format version 1/);
  });

  it('given a record whose length is wrong, when parsed, then a RecordFormatError, not a wrong record', async () => {
    const bytes = Buffer.from(await batch(0, 1, specs.slice(0, 1)));
    bytes[61] = (bytes[61] as number) + 2; // the first record's length varint (zigzag: one more)
    const [b] = recordBatches(bytes);
    expect(() => batchRecords(b!, b!.body, 0, false)).toThrow(RecordFormatError);
  });
});

describe('read-committed filtering', () => {
  const marker = (type: 0 | 1) => Buffer.from([0, 0, 0, type]);
  async function controlBatch(offset: number, producerId: number, type: 0 | 1): Promise<Buffer> {
    // kafkajs never writes control batches: a batch whose record has the marker's key, flagged as control.
    const withKey = Buffer.from(await batch(offset, 1, [{ key: marker(type).toString('latin1'), value: '' }], { transactional: true, producerId: Long.fromValue(producerId) }));
    withKey.writeInt16BE(withKey.readInt16BE(21) | 0x20, 21);
    return withKey;
  }

  it('given an aborted transaction, a committed one and plain records, when filtered, then only the aborted records and the markers are left out', async () => {
    // Given: producer 7 aborts offsets 0–1 (marker at 2), producer 8 commits 3–4 (marker at 5), plain records at 6
    const bytes = Buffer.concat([
      await batch(0, 1, specs.slice(0, 2), { transactional: true, producerId: Long.fromValue(7) }),
      await controlBatch(2, 7, 0),
      await batch(3, 1, specs.slice(0, 2), { transactional: true, producerId: Long.fromValue(8) }),
      await controlBatch(5, 8, 1),
      await batch(6, 1, specs.slice(0, 1)),
    ]);
    const filter = new AbortedFilter([{ producerId: 7, firstOffset: 0 }]);
    // When
    const kept = recordBatches(bytes).filter((b) => filter.keeps(b, () => firstRecordKey(b.body)));
    // Then
    expect(kept.map((b) => b.baseOffset)).toEqual([3, 6]);
  });

  it('given a producer whose later transaction commits after an aborted one, when filtered, then the later one is kept', async () => {
    const bytes = Buffer.concat([
      await batch(0, 1, specs.slice(0, 1), { transactional: true, producerId: Long.fromValue(7) }),
      await controlBatch(1, 7, 0),
      await batch(2, 1, specs.slice(0, 1), { transactional: true, producerId: Long.fromValue(7) }),
      await controlBatch(3, 7, 1),
    ]);
    const filter = new AbortedFilter([{ producerId: 7, firstOffset: 0 }]);
    expect(recordBatches(bytes).filter((b) => filter.keeps(b, () => firstRecordKey(b.body))).map((b) => b.baseOffset)).toEqual([2]);
  });
});

describe('the Fetch response', () => {
  it('given a v11 response of two topics, when parsed, then each partition with its error, high watermark, aborted transactions and record bytes', async () => {
    // Given
    const records = await batch(3, 1, specs.slice(0, 2));
    const partition = (id: number, error: number, bytes: Buffer | null) => {
      const e = new Encoder().writeInt32(id).writeInt16(error).writeInt64(Long.fromValue(99)).writeInt64(Long.fromValue(98)).writeInt64(Long.fromValue(0));
      e.writeInt32(id === 0 ? 1 : 0);
      if (id === 0) e.writeInt64(Long.fromValue(7)).writeInt64(Long.fromValue(2));
      e.writeInt32(-1);
      return bytes ? e.writeInt32(bytes.length).writeBuffer(bytes) : e.writeInt32(-1);
    };
    const topic = (name: string, parts: Encoded[]) => {
      const e = new Encoder().writeString(name).writeInt32(parts.length);
      for (const p of parts) e.writeEncoder(p);
      return e;
    };
    const response = new Encoder().writeInt32(0).writeInt16(0).writeInt32(0).writeInt32(2).writeEncoder(topic('a.b', [partition(0, 0, records), partition(1, 6, null)])).writeEncoder(topic('c', [partition(2, 0, Buffer.alloc(0))])).buffer;
    // When
    const parsed = parseFetchResponse(response, 11);
    // Then
    expect(parsed.errorCode).toBe(0);
    expect(parsed.partitions.map((p) => [p.topic, p.partition, p.errorCode, p.highWatermark, p.abortedTransactions, p.records?.length ?? null])).toEqual([
      ['a.b', 0, 0, 99, [{ producerId: 7, firstOffset: 2 }], records.length],
      ['a.b', 1, 6, 99, [], null],
      ['c', 2, 0, 99, [], 0],
    ]);
    expect(parsed.partitions[0]?.records?.equals(records)).toBe(true);
  });

  it('given a version it does not read, when parsed, then a RecordFormatError names it', () => {
    expect(() => parseFetchResponse(Buffer.alloc(16), 12)).toThrow(/Fetch response version 12/);
  });
});
