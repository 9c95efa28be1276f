/**
 * The one-round-trip write of a batch that only folds (sagaline_fold_only), on the real Postgres:
 * it records the inbox rows and the views when the views are at the revisions the caller folded
 * from, and otherwise writes nothing at all, so the caller's transactional path can take the batch.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DecodedMessage } from '../processors/runtime/decode.ts';
import { PARTICIPANT_DDL, saveFoldOnly, type StoredInstance } from '../processors/engine/tables.ts';
import { createTestDatabase, uniqueName, type TestDatabase } from './support/fixtures.ts';

function message(sagaId: string, type = 'Thing'): DecodedMessage {
  return {
    type,
    payload: {},
    metadata: { messageId: randomUUID(), sagaId, tenantId: 't', correlationId: sagaId, causationId: '', traceparent: '' },
    kafka: { topic: 'x', partition: 0, offset: '0', timestamp: Date.now(), key: sagaId },
  };
}

const view = (rev: number, marker: string): StoredInstance => ({
  state: { marker } as unknown as StoredInstance['state'],
  version: 1,
  tenantId: 't',
  traceparent: '',
  rev,
});

describe('fold-only write', () => {
  let db: TestDatabase;
  const inbox = async () => Number((await db.pool.query('select count(*) from sagaline_inbox')).rows[0].count);
  const stored = async (id: string) => (await db.pool.query('select state, rev from sagaline_instances where saga_id = $1', [id])).rows[0] as { state: { marker: string }; rev: string } | undefined;

  beforeAll(async () => {
    db = await createTestDatabase('fold');
    for (const statement of PARTICIPANT_DDL) await db.pool.query(statement);
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('given no view yet, when a first message is folded, then its inbox row and the view at revision 1 are written', async () => {
    const id = uniqueName('saga');
    const before = await inbox();
    expect(await saveFoldOnly(db.pool, 's', [message(id)], [[id, view(0, 'a')]])).toBe(true);
    expect(await inbox()).toBe(before + 1);
    expect(await stored(id)).toEqual({ state: { marker: 'a' }, rev: '1' });
  });

  it('given a view at revision 1, when a batch folded from revision 1 is written, then the view moves to revision 2', async () => {
    const id = uniqueName('saga');
    await saveFoldOnly(db.pool, 's', [message(id)], [[id, view(0, 'a')]]);
    expect(await saveFoldOnly(db.pool, 's', [message(id), message(id)], [[id, view(1, 'b')]])).toBe(true);
    expect(await stored(id)).toEqual({ state: { marker: 'b' }, rev: '2' });
  });

  it('given a view written meanwhile, when a batch folded from an older revision is written, then it is refused and nothing is written', async () => {
    const id = uniqueName('saga');
    await saveFoldOnly(db.pool, 's', [message(id)], [[id, view(0, 'a')]]);
    await saveFoldOnly(db.pool, 's', [message(id)], [[id, view(1, 'b')]]);
    const before = await inbox();
    expect(await saveFoldOnly(db.pool, 's', [message(id)], [[id, view(1, 'stale')]])).toBe(false);
    expect(await saveFoldOnly(db.pool, 's', [message(id)], [[id, view(0, 'stale')]])).toBe(false);
    expect(await inbox()).toBe(before);
    expect(await stored(id)).toEqual({ state: { marker: 'b' }, rev: '2' });
  });

  it('given a message already in the inbox, when it is folded again, then it is refused and the view is untouched', async () => {
    const id = uniqueName('saga');
    const m = message(id);
    await saveFoldOnly(db.pool, 's', [m], [[id, view(0, 'a')]]);
    expect(await saveFoldOnly(db.pool, 's', [message(id), m], [[id, view(1, 'twice')]])).toBe(false);
    expect(await stored(id)).toEqual({ state: { marker: 'a' }, rev: '1' });
  });

  it('given a message of the saga waiting for a retry, when a later one is folded, then it is refused (it must queue behind)', async () => {
    const id = uniqueName('saga');
    await saveFoldOnly(db.pool, 's', [message(id)], [[id, view(0, 'a')]]);
    const waiting = message(id);
    await db.pool.query('insert into sagaline_deferred (saga_id, message_id, message) values ($1, $2, $3)', [id, waiting.metadata.messageId, waiting]);
    const before = await inbox();
    expect(await saveFoldOnly(db.pool, 's', [message(id)], [[id, view(1, 'b')]])).toBe(false);
    expect(await inbox()).toBe(before);
    expect(await stored(id)).toEqual({ state: { marker: 'a' }, rev: '1' });
  });
});
