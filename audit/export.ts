/**
 * Tamper-evident exports of event-log messages, and their verification.
 *
 * An export is NDJSON: a header line, one line per message, and an end line. Every line carries
 * `prev` (the hash of the line before it; 64 zeros for the first) and `hash`, the SHA-256 of the
 * line's canonical JSON (RFC 8785) without its `hash` field. Editing, inserting, deleting or
 * reordering a line, or cutting the file short, breaks the chain at a line the verifier names.
 * Hashing the canonical form means reformatting a line (whitespace, key order) changes nothing.
 *
 * The writer writes to `<path>.partial` and renames it on close, so an interrupted export never
 * sits at the path a complete one would.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { link, rename, stat, unlink } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import canonicalize from 'canonicalize';
import { SagalineError } from '../core/errors.ts';

export const EXPORT_FORMAT = 'sagaline-export/1';
/** The `prev` of the first line. */
export const CHAIN_START = '0'.repeat(64);

export interface ExportedMessage {
  topic: string;
  partition: number;
  offset: string;
  /** Broker timestamp, ISO 8601. */
  timestamp: string;
  key: string | null;
  type: string;
  messageId: string;
  sagaId: string;
  causationId: string;
  correlationId: string;
  tenantId: string;
  traceparent: string;
  payload: unknown;
}

export type ExportErrorCode = 'EXPORT_EXISTS' | 'EXPORT_NOT_FOUND' | 'EXPORT_UNSERIALIZABLE' | 'EXPORT_WRITE_FAILED';

/** An export cannot be written or read. */
export class ExportError extends SagalineError {
  constructor(code: ExportErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
  }
}

export type VerifyResult =
  | { ok: true; messages: number; lines: number; lastHash: string }
  /** `line` is 1-based; `messages` counts the message lines found intact before it. */
  | { ok: false; line: number; reason: string; messages: number };

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
const HASH_PATTERN = /^[0-9a-f]{64}$/;

/** The hash of a record: SHA-256 of its canonical JSON, `hash` field left out. */
function hashOf(record: Record<string, unknown>): string {
  const { hash: _, ...content } = record;
  return sha256(canonicalize(content) as string);
}

const errorCode = (err: unknown) => (err as NodeJS.ErrnoException).code;

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return false;
    throw err;
  }
}

export class ExportWriter {
  private state: 'open' | 'closing' | 'closed' | 'aborted' = 'open';
  private failure: Error | undefined;
  private prev = CHAIN_START;
  private messages = 0;

  private constructor(
    readonly path: string,
    private readonly partial: string,
    private readonly stream: WriteStream,
  ) {
    stream.on('error', (err) => {
      this.failure ??= err;
    });
  }

  /** Starts an export at `path` (refused if something is there already) and writes its header. */
  static async open(path: string, selection: Record<string, unknown>): Promise<ExportWriter> {
    if (await exists(path)) throw new ExportError('EXPORT_EXISTS', `export file ${path} already exists; choose another path or remove it first`);
    const partial = `${path}.partial`;
    // `wx`: never take over a partial file another export is writing; `flush`: on disk before the rename.
    const stream = createWriteStream(partial, { flags: 'wx', flush: true });
    try {
      await once(stream, 'open');
    } catch (err) {
      if (errorCode(err) === 'EEXIST') {
        throw new ExportError('EXPORT_EXISTS', `${partial} already exists (another export to ${path} is running, or one was interrupted); remove it first`);
      }
      throw new ExportError('EXPORT_WRITE_FAILED', `cannot create ${partial}: ${(err as Error).message}`, { cause: err });
    }
    const writer = new ExportWriter(path, partial, stream);
    try {
      await writer.append({ kind: 'header', format: EXPORT_FORMAT, createdAt: new Date().toISOString(), selection }, 'the export header');
    } catch (err) {
      await writer.abort();
      throw err;
    }
    return writer;
  }

  async write(m: ExportedMessage): Promise<void> {
    await this.append({ kind: 'message', seq: this.messages + 1, message: m }, `message ${m.messageId} (${m.topic}/${m.partition}@${m.offset})`);
    this.messages++;
  }

  /** Writes the end record, flushes it to disk and moves the file to `path`. */
  async close(): Promise<{ path: string; messages: number; lastHash: string }> {
    await this.append({ kind: 'end', messages: this.messages }, 'the end record');
    this.state = 'closing';
    try {
      const closed = once(this.stream, 'close');
      this.stream.end();
      await closed;
      this.check();
      await publish(this.partial, this.path);
    } catch (err) {
      throw err instanceof SagalineError ? err : new ExportError('EXPORT_WRITE_FAILED', `cannot finish ${this.path}: ${(err as Error).message}`, { cause: err });
    }
    this.state = 'closed';
    return { path: this.path, messages: this.messages, lastHash: this.prev };
  }

  /** Stops writing and removes the partial file; nothing appears at `path`. Safe to call twice. */
  async abort(): Promise<void> {
    if (this.state === 'closed' || this.state === 'aborted') return;
    this.state = 'aborted';
    if (!this.stream.closed) {
      const closed = once(this.stream, 'close').catch(() => undefined);
      this.stream.destroy();
      await closed;
    }
    await unlink(this.partial).catch((err: unknown) => {
      if (errorCode(err) !== 'ENOENT') throw err;
    });
  }

  /** Seals a record into the chain and writes it, waiting when the stream asks to. */
  private async append(record: Record<string, unknown>, what: string): Promise<void> {
    if (this.state !== 'open') throw new ExportError('EXPORT_WRITE_FAILED', `export ${this.path} is already ${this.state}`);
    this.check();
    let line: string;
    let hash: string;
    try {
      // The JSON round trip gives exactly the value the verifier will parse back, so both hash the same thing.
      const plain = JSON.parse(JSON.stringify({ ...record, prev: this.prev })) as Record<string, unknown>;
      hash = hashOf(plain);
      line = `${JSON.stringify({ ...plain, hash })}\n`;
    } catch (err) {
      throw new ExportError('EXPORT_UNSERIALIZABLE', `${what} cannot be written as JSON: ${(err as Error).message}`, { cause: err });
    }
    this.prev = hash;
    // A stream error while waiting is recorded by the listener and reported by check().
    if (!this.stream.write(line)) await once(this.stream, 'drain').catch(() => undefined);
    this.check();
  }

  private check(): void {
    if (this.failure) throw new ExportError('EXPORT_WRITE_FAILED', `cannot write ${this.partial}: ${this.failure.message}`, { cause: this.failure });
  }
}

/** Moves the finished file into place, refusing to replace one that appeared meanwhile. */
async function publish(partial: string, path: string): Promise<void> {
  try {
    await link(partial, path);
  } catch (err) {
    if (errorCode(err) === 'EEXIST') throw new ExportError('EXPORT_EXISTS', `export file ${path} appeared while exporting; the export is left at ${partial}`);
    // Filesystems without hard links: a plain rename after one more look.
    if (await exists(path)) throw new ExportError('EXPORT_EXISTS', `export file ${path} appeared while exporting; the export is left at ${partial}`);
    await rename(partial, path);
    return;
  }
  await unlink(partial);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const MESSAGE_STRINGS = ['topic', 'offset', 'timestamp', 'type', 'messageId', 'sagaId', 'causationId', 'correlationId', 'tenantId', 'traceparent'] as const;

/** What is wrong with a message record's `message`, if anything. */
function messageProblem(m: unknown): string | undefined {
  if (!isObject(m)) return 'message record has no message object';
  for (const field of MESSAGE_STRINGS) if (typeof m[field] !== 'string') return `message.${field} is missing or not a string`;
  if (!Number.isInteger(m.partition)) return 'message.partition is missing or not an integer';
  if (m.key !== null && typeof m.key !== 'string') return 'message.key is neither a string nor null';
  if (!('payload' in m)) return 'message.payload is missing';
  return undefined;
}

/**
 * Checks an export line by line and names the first line that breaks it. A missing file is an
 * error (ExportError EXPORT_NOT_FOUND); a broken export is a result.
 */
export async function verifyExport(path: string): Promise<VerifyResult> {
  try {
    await stat(path);
  } catch (err) {
    if (errorCode(err) === 'ENOENT') throw new ExportError('EXPORT_NOT_FOUND', `export file ${path} does not exist`);
    throw err;
  }
  const input = createReadStream(path, { encoding: 'utf8' });
  const lines = createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  let messages = 0;
  let prev = CHAIN_START;
  let ended = false;
  const broken = (reason: string, line = n): VerifyResult => ({ ok: false, line, reason, messages });
  try {
    for await (const text of lines) {
      n++;
      if (ended) return broken('content after the end record');
      let record: unknown;
      try {
        record = JSON.parse(text);
      } catch {
        return broken(text.trim() === '' ? 'empty line (not valid JSON)' : 'not valid JSON');
      }
      if (!isObject(record)) return broken('not a JSON object');
      if (n === 1 && record.kind !== 'header') return broken('expected the export header');
      if (typeof record.hash !== 'string' || !HASH_PATTERN.test(record.hash)) return broken('has no valid hash field');
      if (typeof record.prev !== 'string' || !HASH_PATTERN.test(record.prev)) return broken('has no valid prev field');
      let hash: string;
      try {
        hash = hashOf(record);
      } catch (err) {
        return broken(`cannot be put in canonical JSON (${(err as Error).message})`);
      }
      if (hash !== record.hash) return broken('hash does not match its content (the line was edited)');
      if (record.prev !== prev) {
        return broken(n === 1 ? 'prev is not the chain start (64 zeros)' : `prev does not match the hash of line ${n - 1} (a line was inserted, deleted or reordered before it)`);
      }
      prev = hash;
      switch (record.kind) {
        case 'header':
          if (n !== 1) return broken('a second export header');
          if (record.format !== EXPORT_FORMAT) return broken(`unknown format ${JSON.stringify(record.format)} (expected ${EXPORT_FORMAT})`);
          if (typeof record.createdAt !== 'string' || !isObject(record.selection)) return broken('header has no createdAt or selection');
          break;
        case 'message': {
          if (record.seq !== messages + 1) {
            return broken(messages === 0 ? `seq ${JSON.stringify(record.seq)} is the first message (expected seq 1)` : `seq ${JSON.stringify(record.seq)} follows seq ${messages} (expected seq ${messages + 1})`);
          }
          const problem = messageProblem(record.message);
          if (problem) return broken(problem);
          messages++;
          break;
        }
        case 'end':
          if (record.messages !== messages) return broken(`end record says ${JSON.stringify(record.messages)} messages, found ${messages}`);
          ended = true;
          break;
        default:
          return broken(`unknown record kind ${JSON.stringify(record.kind)}`);
      }
    }
  } finally {
    lines.close();
    input.destroy();
  }
  if (n === 0) return broken('the file is empty (expected the export header)', 1);
  if (!ended) return broken(`the file ends after line ${n} without the end record (truncated)`, n + 1);
  return { ok: true, messages, lines: n, lastHash: prev };
}
