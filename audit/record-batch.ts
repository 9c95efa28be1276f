/**
 * Kafka's Fetch response and its v2 record batches, parsed straight from the bytes for the log
 * reader. kafkajs's consumer parses every record through 64-bit `Long` arithmetic, a string per
 * offset and timestamp and an object spread per header, which costs more than everything a replay
 * does with the record afterwards; here offsets and timestamps are plain numbers (exact below
 * 2^53), header values are read straight into strings when the caller wants text, and key and
 * value are views of the response buffer. Pure: bytes in, records out (decompression is given).
 *
 * Formats: https://kafka.apache.org/documentation/#recordbatch and the Fetch response, versions
 * 4 to 11 (what kafkajs requests).
 */
import type { IHeaders, KafkaMessage } from 'kafkajs';
import { SagalineError } from '../core/errors.ts';

/** A record as read: KafkaMessage's shape, so callers of the reader see what a consumer gives. */
export type LogRecord = KafkaMessage & { headers: IHeaders };

export interface AbortedTransaction {
  producerId: number;
  firstOffset: number;
}

export interface FetchedPartition {
  topic: string;
  partition: number;
  errorCode: number;
  highWatermark: number;
  abortedTransactions: AbortedTransaction[];
  /** The partition's record batches as sent (may end in a partial batch). */
  records: Buffer | null;
}

export class RecordFormatError extends SagalineError {
  constructor(message: string) {
    super('LOG_READ_FAILED', message);
  }
}

const BATCH_HEADER = 61;
const COMPRESSION_MASK = 0x07;
const TIMESTAMP_TYPE_MASK = 0x08;
const TRANSACTIONAL_MASK = 0x10;
const CONTROL_MASK = 0x20;
const CODEC_NAMES = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];

/** Bytes read so far, shared by the varint readers (one parse at a time: JavaScript runs one). */
let at = 0;

function readInt64(buf: Buffer, pos: number): number {
  return buf.readInt32BE(pos) * 4294967296 + buf.readUInt32BE(pos + 4);
}

/** A zigzag varint of up to 64 bits, as a number (exact below 2^53). */
function readVarLong(buf: Buffer): number {
  let byte = buf[at++] as number;
  if (byte === undefined) throw new RecordFormatError('a record ends inside a varint');
  let raw = byte & 0x7f;
  let scale = 128;
  while (byte & 0x80) {
    byte = buf[at++] as number;
    if (byte === undefined) throw new RecordFormatError('a record ends inside a varint');
    raw += (byte & 0x7f) * scale;
    scale *= 128;
    if (scale > 2 ** 70) throw new RecordFormatError('a varint runs past 64 bits');
  }
  return raw % 2 === 1 ? -(raw + 1) / 2 : raw / 2;
}

/** Fetch response versions this parser reads. */
export const FETCH_VERSIONS = { min: 4, max: 11 } as const;

/** The partitions of a Fetch response (the part after the correlation id). */
export function parseFetchResponse(buf: Buffer, version: number): { errorCode: number; partitions: FetchedPartition[] } {
  if (version < FETCH_VERSIONS.min || version > FETCH_VERSIONS.max) throw new RecordFormatError(`Fetch response version ${version} is not read (versions ${FETCH_VERSIONS.min}–${FETCH_VERSIONS.max} are)`);
  try {
    return readFetchResponse(buf, version);
  } catch (err) {
    if (err instanceof RangeError) throw new RecordFormatError(`the Fetch response is malformed: ${err.message}`);
    throw err;
  }
}

function readFetchResponse(buf: Buffer, version: number): { errorCode: number; partitions: FetchedPartition[] } {
  let pos = 4; // throttle_time_ms
  let errorCode = 0;
  if (version >= 7) {
    errorCode = buf.readInt16BE(pos);
    pos += 6; // error_code, session_id
  }
  const partitions: FetchedPartition[] = [];
  const topics = buf.readInt32BE(pos);
  pos += 4;
  for (let t = 0; t < topics; t++) {
    const nameLength = buf.readInt16BE(pos);
    if (nameLength < 0) throw new RecordFormatError('the Fetch response names a topic with a negative length');
    const topic = buf.toString('utf8', pos + 2, pos + 2 + nameLength);
    pos += 2 + nameLength;
    const count = buf.readInt32BE(pos);
    pos += 4;
    for (let p = 0; p < count; p++) {
      const partition = buf.readInt32BE(pos);
      const partitionError = buf.readInt16BE(pos + 4);
      const highWatermark = readInt64(buf, pos + 6);
      pos += 14 + 8; // partition, error_code, high_watermark, last_stable_offset
      if (version >= 5) pos += 8; // log_start_offset
      const aborted = buf.readInt32BE(pos);
      pos += 4;
      const abortedTransactions: AbortedTransaction[] = [];
      for (let a = 0; a < aborted; a++, pos += 16) abortedTransactions.push({ producerId: readInt64(buf, pos), firstOffset: readInt64(buf, pos + 8) });
      if (version >= 11) pos += 4; // preferred_read_replica
      const size = buf.readInt32BE(pos);
      pos += 4;
      const records = size < 0 ? null : buf.subarray(pos, pos + size);
      pos += Math.max(size, 0);
      partitions.push({ topic, partition, errorCode: partitionError, highWatermark, abortedTransactions, records });
    }
  }
  return { errorCode, partitions };
}

export interface RecordBatch {
  baseOffset: number;
  /** The offset after the batch's last one: where the next fetch starts. */
  nextOffset: number;
  transactional: boolean;
  control: boolean;
  producerId: number;
  /** Compression codec (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd). */
  codec: number;
  logAppendTime: boolean;
  baseTimestamp: number;
  maxTimestamp: number;
  count: number;
  /** The records' bytes (still compressed when codec is not 0). */
  body: Buffer;
}

/** The complete batches in a partition's record bytes; a partial batch at the end (the fetch's size limit) is left out. */
export function recordBatches(records: Buffer): RecordBatch[] {
  const batches: RecordBatch[] = [];
  let pos = 0;
  while (pos + 17 <= records.length) {
    const length = records.readInt32BE(pos + 8);
    if (length < BATCH_HEADER - 12) throw new RecordFormatError(`record batch at offset ${readInt64(records, pos)} claims ${length} bytes, fewer than its header`);
    const end = pos + 12 + length;
    if (end > records.length) break;
    const magic = records[pos + 16] as number;
    if (magic !== 2) throw new RecordFormatError(`record batch at offset ${readInt64(records, pos)} has format version ${magic}; only version 2 (Kafka 0.11 and later) is read`);
    const attributes = records.readInt16BE(pos + 21);
    const baseOffset = readInt64(records, pos);
    batches.push({
      baseOffset,
      nextOffset: baseOffset + records.readInt32BE(pos + 23) + 1,
      codec: attributes & COMPRESSION_MASK,
      logAppendTime: (attributes & TIMESTAMP_TYPE_MASK) !== 0,
      transactional: (attributes & TRANSACTIONAL_MASK) !== 0,
      control: (attributes & CONTROL_MASK) !== 0,
      baseTimestamp: readInt64(records, pos + 27),
      maxTimestamp: readInt64(records, pos + 35),
      producerId: readInt64(records, pos + 43),
      count: records.readInt32BE(pos + 57),
      body: records.subarray(pos + BATCH_HEADER, end),
    });
    pos = end;
  }
  return batches;
}

function codecName(codec: number): string {
  return CODEC_NAMES[codec] ?? `codec ${codec}`;
}

export interface Codec {
  decompress(buffer: Buffer): Promise<Buffer>;
}

/** A batch's record bytes, decompressed with the codec `lookup` gives for it (kafkajs's, in the reader). */
export async function batchBody(batch: RecordBatch, lookup: (codec: number) => Codec | null, where: string): Promise<Buffer> {
  if (batch.codec === 0) return batch.body;
  let codec: Codec | null;
  try {
    codec = lookup(batch.codec);
  } catch {
    codec = null; // kafkajs throws for a codec nobody registered
  }
  if (!codec) throw new RecordFormatError(`${where} holds a batch compressed with ${codecName(batch.codec)} at offset ${batch.baseOffset}, and kafkajs has no codec for it (register one in kafkajs's CompressionCodecs)`);
  try {
    return await codec.decompress(batch.body);
  } catch (err) {
    throw new RecordFormatError(`${where}: the ${codecName(batch.codec)} batch at offset ${batch.baseOffset} does not decompress: ${(err as Error).message}`);
  }
}

/**
 * A batch's records from its (decompressed) body, offsets from `from` on. Header values become
 * strings when `textHeaders` (what decoding reads), Buffers otherwise (copied on as they are).
 */
export function batchRecords(batch: RecordBatch, body: Buffer, from: number, textHeaders: boolean): LogRecord[] {
  try {
    return readRecords(batch, body, from, textHeaders);
  } catch (err) {
    // A length that points past the bytes: Buffer's own range check.
    if (err instanceof RangeError) throw new RecordFormatError(`the batch at offset ${batch.baseOffset} is malformed: ${err.message}`);
    throw err;
  }
}

function readRecords(batch: RecordBatch, body: Buffer, from: number, textHeaders: boolean): LogRecord[] {
  const out: LogRecord[] = [];
  at = 0;
  for (let i = 0; i < batch.count; i++) {
    const length = readVarLong(body);
    const next = at + length;
    if (next > body.length) throw new RecordFormatError(`record ${i} of the batch at offset ${batch.baseOffset} runs past its batch`);
    at += 1; // attributes
    const timestampDelta = readVarLong(body);
    const offset = batch.baseOffset + readVarLong(body);
    if (offset < from) {
      at = next;
      continue;
    }
    const keyLength = readVarLong(body);
    const key = keyLength < 0 ? null : body.subarray(at, (at += keyLength));
    const valueLength = readVarLong(body);
    const value = valueLength < 0 ? null : body.subarray(at, (at += valueLength));
    // No prototype: a header named "__proto__" or "toString" is a header like any other.
    const headers: IHeaders = Object.create(null) as IHeaders;
    const headerCount = readVarLong(body);
    if (headerCount < 0 || headerCount * 2 > next - at) throw new RecordFormatError(`record at offset ${offset} claims ${headerCount} headers in ${next - at} bytes`);
    for (let h = 0; h < headerCount; h++) {
      const nameLength = readVarLong(body);
      const name = body.toString('utf8', at, (at += nameLength));
      const valueBytes = readVarLong(body);
      const headerValue = valueBytes < 0 ? null : textHeaders ? body.toString('utf8', at, (at += valueBytes)) : body.subarray(at, (at += valueBytes));
      if (headerValue === null) continue;
      const before = headers[name];
      headers[name] = before === undefined ? headerValue : Array.isArray(before) ? [...before, headerValue] : [before, headerValue];
    }
    if (at !== next) throw new RecordFormatError(`record at offset ${offset} is ${length} bytes long but its fields take ${length + at - next}`);
    const timestamp = batch.logAppendTime ? batch.maxTimestamp : batch.baseTimestamp + timestampDelta;
    out.push({ key, value, timestamp: String(timestamp), attributes: 0, offset: String(offset), headers });
  }
  return out;
}

/**
 * Read-committed filtering, as Kafka's own consumer does it: a transactional batch of a producer
 * whose transaction the broker reports aborted (from that transaction's first offset until its
 * abort marker) is left out, and control batches (the markers themselves) are never records.
 */
export class AbortedFilter {
  private readonly pending: AbortedTransaction[];
  private readonly aborting = new Set<number>();

  constructor(aborted: readonly AbortedTransaction[]) {
    this.pending = [...aborted].sort((a, b) => a.firstOffset - b.firstOffset);
  }

  /** Whether the batch's records are read; called for every batch in offset order. */
  keeps(batch: RecordBatch, firstRecordKey: () => Buffer | null): boolean {
    while (this.pending.length && (this.pending[0] as AbortedTransaction).firstOffset < batch.nextOffset) this.aborting.add((this.pending.shift() as AbortedTransaction).producerId);
    if (batch.control) {
      // A control record's key: version (int16), type (int16: 0 abort, 1 commit).
      const key = firstRecordKey();
      if (key && key.length >= 4 && key.readInt16BE(2) === 0) this.aborting.delete(batch.producerId);
      return false;
    }
    return !(batch.transactional && this.aborting.has(batch.producerId));
  }
}

/** The key of a batch's first record (control batches: the marker's type). */
export function firstRecordKey(body: Buffer): Buffer | null {
  at = 0;
  readVarLong(body); // length
  at += 1; // attributes
  readVarLong(body); // timestamp delta
  readVarLong(body); // offset delta
  const keyLength = readVarLong(body);
  return keyLength < 0 ? null : body.subarray(at, at + keyLength);
}
