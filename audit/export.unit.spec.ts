import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import canonicalize from 'canonicalize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExportError, ExportWriter, verifyExport, type ExportedMessage } from './export.ts';

// The export below has 7 lines: 1 header, 2–6 messages seq 1–5, 7 end.
let dir: string;
let original: string[];
let lastHash: string;
let files = 0;

function message(i: number): ExportedMessage {
  return {
    topic: 'sagaline.training-events',
    partition: 2,
    offset: String(100 + i),
    timestamp: new Date(1_700_000_000_000 + i * 1_000).toISOString(),
    key: 'saga-1',
    type: 'TrainingStarted',
    messageId: `msg-${i}`,
    sagaId: 'saga-1',
    causationId: i === 1 ? 'saga-1' : `msg-${i - 1}`,
    correlationId: 'saga-1',
    tenantId: 't1',
    traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    payload: { sagaId: 'saga-1', jobId: `job-${i}`, attempt: i, nodes: ['node-1', 'node-2'], note: 'ünïcode ✓' },
  };
}

/** The hash a line should carry, computed here independently of the module under test. */
function sealed(record: Record<string, unknown>): string {
  const { hash: _, ...content } = record;
  const hash = createHash('sha256').update(canonicalize(content) as string).digest('hex');
  return JSON.stringify({ ...content, hash });
}

/** Recomputes prev and hash of every line, as someone rewriting the whole chain would. */
function rechain(lines: string[]): string[] {
  let prev = '0'.repeat(64);
  return lines.map((line) => {
    const text = sealed({ ...(JSON.parse(line) as Record<string, unknown>), prev });
    prev = (JSON.parse(text) as { hash: string }).hash;
    return text;
  });
}

async function exportFile(text: string): Promise<string> {
  const path = join(dir, `export-${++files}.ndjson`);
  await writeFile(path, text);
  return path;
}

/** Writes the original export with `change` applied to its lines and verifies it. */
async function verifyChanged(change: (lines: string[]) => string[]) {
  return verifyExport(await exportFile(`${change([...original]).join('\n')}\n`));
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sagaline-export-'));
  const path = join(dir, 'original.ndjson');
  const writer = await ExportWriter.open(path, { sagaId: 'saga-1' });
  for (let i = 1; i <= 5; i++) await writer.write(message(i));
  const closed = await writer.close();
  expect(closed).toMatchObject({ path, messages: 5 });
  lastHash = closed.lastHash;
  original = (await readFile(path, 'utf8')).trimEnd().split('\n');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('export chain', () => {
  it('given a written export, then it has a header, one line per message and an end record, chained from 64 zeros', () => {
    const records = original.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.map((r) => r.kind)).toEqual(['header', 'message', 'message', 'message', 'message', 'message', 'end']);
    expect(records[0]).toMatchObject({ format: 'sagaline-export/1', selection: { sagaId: 'saga-1' }, prev: '0'.repeat(64) });
    expect(records.slice(1, 6).map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(records[2]?.message).toEqual(message(2));
    expect(records[6]).toMatchObject({ messages: 5, hash: lastHash });
    records.forEach((r, i) => {
      expect(sealed(r)).toBe(JSON.stringify(r));
      if (i > 0) expect(r.prev).toBe(records[i - 1]?.hash);
    });
  });

  it('given an untouched export, verify-export accepts it', async () => {
    expect(await verifyChanged((l) => l)).toEqual({ ok: true, messages: 5, lines: 7, lastHash });
  });

  it('given a line reformatted (whitespace, key order) without changing its content, verify-export still accepts it', async () => {
    const result = await verifyChanged((lines) => {
      const record = JSON.parse(lines[3] as string) as Record<string, unknown>;
      const reordered = Object.fromEntries(Object.entries(record).reverse());
      lines[3] = `  ${JSON.stringify(reordered, null, 2).replace(/\n/g, ' ')}  `;
      return lines;
    });
    expect(result).toEqual({ ok: true, messages: 5, lines: 7, lastHash });
  });

  it('given a payload value edited, verify-export names that line', async () => {
    const result = await verifyChanged((lines) => {
      lines[3] = (lines[3] as string).replace('"attempt":3', '"attempt":4');
      return lines;
    });
    expect(result).toEqual({ ok: false, line: 4, reason: 'hash does not match its content (the line was edited)', messages: 2 });
  });

  it('given a line edited and its hash recomputed, verify-export names the next line, whose prev no longer matches', async () => {
    const result = await verifyChanged((lines) => {
      const record = JSON.parse(lines[3] as string) as { message: { payload: { attempt: number } } };
      record.message.payload.attempt = 99;
      lines[3] = sealed(record as unknown as Record<string, unknown>);
      return lines;
    });
    expect(result).toEqual({
      ok: false,
      line: 5,
      reason: 'prev does not match the hash of line 4 (a line was inserted, deleted or reordered before it)',
      messages: 3,
    });
  });

  it('given a line inserted, verify-export names the inserted line', async () => {
    const result = await verifyChanged((lines) => [...lines.slice(0, 3), lines[2] as string, ...lines.slice(3)]);
    expect(result).toMatchObject({ ok: false, line: 4, reason: expect.stringMatching(/^prev does not match the hash of line 3/) });
  });

  it('given a middle line deleted, verify-export names the line that took its place', async () => {
    const result = await verifyChanged((lines) => [...lines.slice(0, 3), ...lines.slice(4)]);
    expect(result).toMatchObject({ ok: false, line: 4, reason: expect.stringMatching(/^prev does not match the hash of line 3/), messages: 2 });
  });

  it('given two lines swapped, verify-export names the first of them', async () => {
    const result = await verifyChanged((lines) => [...lines.slice(0, 2), lines[3] as string, lines[2] as string, ...lines.slice(4)]);
    expect(result).toMatchObject({ ok: false, line: 3, reason: expect.stringMatching(/^prev does not match the hash of line 2/) });
  });

  it('given the end record removed, verify-export says the file is truncated', async () => {
    const result = await verifyChanged((lines) => lines.slice(0, 6));
    expect(result).toEqual({ ok: false, line: 7, reason: 'the file ends after line 6 without the end record (truncated)', messages: 5 });
  });

  it('given the last message and the end record removed, verify-export says the file is truncated', async () => {
    const result = await verifyChanged((lines) => lines.slice(0, 5));
    expect(result).toEqual({ ok: false, line: 6, reason: 'the file ends after line 5 without the end record (truncated)', messages: 4 });
  });

  it('given a line appended after the end record, verify-export names it', async () => {
    const result = await verifyChanged((lines) => [...lines, lines[1] as string]);
    expect(result).toEqual({ ok: false, line: 8, reason: 'content after the end record', messages: 5 });
  });

  it('given a line that is not JSON, verify-export names it', async () => {
    const result = await verifyChanged((lines) => {
      lines[2] = (lines[2] as string).slice(0, 40);
      return lines;
    });
    expect(result).toEqual({ ok: false, line: 3, reason: 'not valid JSON', messages: 1 });
  });

  it('given the header removed, verify-export names line 1', async () => {
    const result = await verifyChanged((lines) => lines.slice(1));
    expect(result).toEqual({ ok: false, line: 1, reason: 'expected the export header', messages: 0 });
  });

  it('given a message deleted and the whole chain rewritten, verify-export names the gap in seq', async () => {
    const result = await verifyChanged((lines) => rechain([...lines.slice(0, 3), ...lines.slice(4)]));
    expect(result).toEqual({ ok: false, line: 4, reason: 'seq 4 follows seq 2 (expected seq 3)', messages: 2 });
  });

  it('given a message deleted, renumbered and the whole chain rewritten, verify-export names the end record', async () => {
    const result = await verifyChanged((lines) => {
      const kept = [...lines.slice(0, 3), ...lines.slice(4)].map((line, i) => {
        const record = JSON.parse(line) as Record<string, unknown>;
        return record.kind === 'message' ? JSON.stringify({ ...record, seq: i }) : line;
      });
      return rechain(kept);
    });
    expect(result).toEqual({ ok: false, line: 6, reason: 'end record says 5 messages, found 4', messages: 4 });
  });

  it('given an empty file, verify-export names line 1', async () => {
    const result = await verifyExport(await exportFile(''));
    expect(result).toEqual({ ok: false, line: 1, reason: 'the file is empty (expected the export header)', messages: 0 });
  });

  it('given no file at the path, verify-export throws EXPORT_NOT_FOUND', async () => {
    const path = join(dir, 'missing.ndjson');
    await expect(verifyExport(path)).rejects.toMatchObject({ name: 'ExportError', code: 'EXPORT_NOT_FOUND', message: expect.stringContaining(path) });
  });
});

describe('export writer', () => {
  it('given a file at the path, when an export is opened there, then it throws EXPORT_EXISTS naming the path and leaves the file alone', async () => {
    const path = await exportFile('keep me\n');
    const opening = ExportWriter.open(path, {});
    await expect(opening).rejects.toBeInstanceOf(ExportError);
    await expect(opening).rejects.toMatchObject({ code: 'EXPORT_EXISTS', message: expect.stringContaining(path) });
    expect(await readFile(path, 'utf8')).toBe('keep me\n');
    expect(existsSync(`${path}.partial`)).toBe(false);
  });

  it('given a partial file left by an interrupted export, when an export is opened at the path, then it throws EXPORT_EXISTS and leaves the partial file alone', async () => {
    const path = join(dir, 'interrupted.ndjson');
    await writeFile(`${path}.partial`, 'half\n');
    await expect(ExportWriter.open(path, {})).rejects.toMatchObject({ code: 'EXPORT_EXISTS', message: expect.stringContaining(`${path}.partial`) });
    expect(await readFile(`${path}.partial`, 'utf8')).toBe('half\n');
    expect(existsSync(path)).toBe(false);
  });

  it('given an export being written, then nothing is at the path until it is closed', async () => {
    const path = join(dir, 'in-progress.ndjson');
    const writer = await ExportWriter.open(path, {});
    await writer.write(message(1));
    expect(existsSync(path)).toBe(false);
    expect(existsSync(`${path}.partial`)).toBe(true);
    await writer.close();
    expect(existsSync(path)).toBe(true);
    expect(existsSync(`${path}.partial`)).toBe(false);
    expect(await verifyExport(path)).toMatchObject({ ok: true, messages: 1, lines: 3 });
  });

  it('given an export aborted, then no file is left at the path nor beside it', async () => {
    const path = join(dir, 'aborted.ndjson');
    const writer = await ExportWriter.open(path, {});
    await writer.write(message(1));
    await writer.write(message(2));
    await writer.abort();
    await writer.abort();
    expect(existsSync(path)).toBe(false);
    expect(existsSync(`${path}.partial`)).toBe(false);
  });

  it('given many large messages, when written, then every one arrives in order (backpressure is respected)', async () => {
    const path = join(dir, 'large.ndjson');
    const writer = await ExportWriter.open(path, {});
    const big = 'x'.repeat(64 * 1024);
    for (let i = 1; i <= 200; i++) await writer.write({ ...message(i), payload: { big } });
    expect(await writer.close()).toMatchObject({ messages: 200 });
    expect(await verifyExport(path)).toMatchObject({ ok: true, messages: 200, lines: 202 });
  });

  it('given a payload that JSON cannot hold, when written, then it throws EXPORT_UNSERIALIZABLE and the export can still be closed intact', async () => {
    const path = join(dir, 'unserializable.ndjson');
    const writer = await ExportWriter.open(path, {});
    await writer.write(message(1));
    await expect(writer.write({ ...message(2), payload: { n: 1n } })).rejects.toMatchObject({ code: 'EXPORT_UNSERIALIZABLE' });
    await writer.close();
    expect(await verifyExport(path)).toMatchObject({ ok: true, messages: 1 });
  });
});
