/**
 * The log reader's record-batch parser (audit/record-batch.ts) against kafkajs: any records kafkajs
 * writes — any bytes for keys, values and header values, any header names, null keys and values,
 * repeated headers, offsets and timestamps far past 32 bits, uncompressed or gzip — read back
 * exactly as kafkajs's own decoder reads them; and bytes damaged anywhere either still parse or are
 * refused with a RecordFormatError, never another error and never a hang.
 */
import { createRequire } from 'node:module';
import fc from 'fast-check';
import type { IHeaders } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { batchBody, batchRecords, recordBatches, RecordFormatError, type Codec, type LogRecord } from '../../audit/record-batch.ts';
import { FUZZ_TIMEOUT_MS, fuzzRuns } from '../support/fuzz.ts';

const require = createRequire(import.meta.url);
type Encoded = { buffer: Buffer };
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0') as { RecordBatch: (o: object) => Promise<Encoded> };
const Record = require('kafkajs/src/protocol/recordBatch/record/v0') as (o: object) => Encoded;
const RecordBatchDecoder = require('kafkajs/src/protocol/recordBatch/v0/decoder') as (d: unknown) => Promise<{ records: Rec[] }>;
const Decoder = require('kafkajs/src/protocol/decoder') as new (b: Buffer) => unknown;
const Long = require('kafkajs/src/utils/long') as { fromValue(v: number | string): unknown };
const { lookupCodec } = require('kafkajs/src/protocol/message/compression') as { lookupCodec(c: number): Codec | null };

interface Rec {
  key: Buffer | null;
  value: Buffer | null;
  timestamp: string;
  offset: string;
  headers?: IHeaders;
}

const bytes = fc.oneof(fc.constant(null), fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)));
// Names Object.prototype has are left out here: kafkajs folds a header named "toString" into an
// array with the inherited function (the parser reads it as its own header; a unit test shows it).
const headerName = fc.string({ maxLength: 12, unit: 'grapheme' }).filter((n) => !(n in Object.prototype));
const header = fc.tuple(headerName, fc.uint8Array({ maxLength: 24 }).map((a) => Buffer.from(a)));
const record = fc.record({ key: bytes, value: bytes, headers: fc.array(header, { maxLength: 6 }), timestampDelta: fc.integer({ min: -(2 ** 31), max: 2 ** 31 }) });
const batchSpec = fc.record({
  firstOffset: fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 2 ** 50 })),
  firstTimestamp: fc.integer({ min: 2 ** 31, max: 2 ** 45 }),
  records: fc.array(record, { minLength: 1, maxLength: 8 }),
  gzip: fc.boolean(),
});

type BatchSpec = typeof batchSpec extends fc.Arbitrary<infer T> ? T : never;

async function encode(spec: BatchSpec): Promise<Buffer> {
  const records = spec.records.map((r, i) => {
    // kafkajs writes repeated header names from arrays: group them, keeping their order.
    const headers: Record<string, Buffer[]> = Object.create(null) as Record<string, Buffer[]>;
    for (const [name, value] of r.headers) (headers[name] ??= []).push(value);
    return Record({ offsetDelta: i, timestampDelta: r.timestampDelta, key: r.key, value: r.value, headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, v.length === 1 ? v[0] : v])) });
  });
  const batch = await RecordBatch({ firstOffset: Long.fromValue(spec.firstOffset), firstTimestamp: spec.firstTimestamp, maxTimestamp: spec.firstTimestamp, lastOffsetDelta: records.length - 1, records, compression: spec.gzip ? 1 : 0 });
  return batch.buffer;
}

async function ours(buf: Buffer): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  for (const b of recordBatches(buf)) out.push(...batchRecords(b, await batchBody(b, lookupCodec, 'the test topic'), 0, false));
  return out;
}

const comparable = (r: Rec) => ({
  key: r.key?.toString('hex') ?? null,
  value: r.value?.toString('hex') ?? null,
  timestamp: r.timestamp,
  offset: r.offset,
  headers: Object.entries(r.headers ?? {}).map(([k, v]) => [k, (Array.isArray(v) ? v : [v]).map((x) => Buffer.from(x as Buffer).toString('hex'))]),
});

/** Bytes overwritten: single ones, or runs of the same byte (0xff runs make huge varints: lengths and counts). */
const damage = fc.array(fc.tuple(fc.nat(), fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0xff, 0x80, 0x7f)), fc.integer({ min: 1, max: 10 })), { minLength: 1, maxLength: 4 });

describe('the record-batch parser, fuzzed against kafkajs', () => {
  it(
    'given any batch kafkajs writes, when parsed, then every record reads as kafkajs reads it',
    async () => {
      await fc.assert(
        fc.asyncProperty(batchSpec, async (spec) => {
          const buf = await encode(spec);
          expect((await ours(buf)).map(comparable)).toEqual((await RecordBatchDecoder(new Decoder(buf))).records.map(comparable));
        }),
        fuzzRuns(300, 20),
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    'given a batch, plain or gzip, damaged anywhere (bytes or runs of bytes changed, cut short), when parsed, then records or a RecordFormatError, nothing else',
    async () => {
      await fc.assert(
        fc.asyncProperty(batchSpec, damage, fc.option(fc.nat()), async (spec, changes, cut) => {
          const buf = Buffer.from(await encode(spec));
          for (const [where, value, run] of changes) buf.fill(value, where % buf.length, Math.min(buf.length, (where % buf.length) + run));
          const damaged = cut === null ? buf : buf.subarray(0, cut % buf.length);
          try {
            await ours(damaged);
          } catch (err) {
            expect(err, String(err)).toBeInstanceOf(RecordFormatError);
          }
        }),
        fuzzRuns(500, 20),
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});
