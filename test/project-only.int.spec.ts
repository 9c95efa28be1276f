/**
 * The one-round-trip write of a batch the saga monitor folded from the instances it keeps in memory
 * (sagaline_project_only), on the real Postgres: it records the inbox rows, the projection's place
 * in the log and the instances when they are at the revisions the batch was folded from, and
 * otherwise writes nothing at all, so the monitor's transactional path can take the batch.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DecodedMessage } from '../processors/runtime/decode.ts';
import { MONITOR_DDL, saveProjectOnly, type ProjectedInstance } from '../processors/engine/monitor.ts';
import type { InstanceState } from '../processors/saga/instance.ts';
import { createTestDatabase, uniqueName, type TestDatabase } from './support/fixtures.ts';

const TOPIC = 'sagaline.test-project-only';

function message(sagaId: string, offset: number, partition = 0): DecodedMessage {
  return {
    type: 'Thing',
    payload: {},
    metadata: { messageId: randomUUID(), sagaId, tenantId: 't', correlationId: sagaId, causationId: '', traceparent: '' },
    kafka: { topic: TOPIC, partition, offset: String(offset), timestamp: Date.now(), key: sagaId },
  };
}

const state = (status: string, marker: string): InstanceState => ({ saga: 's', version: 1, status, marker, steps: {}, startedAt: new Date(0).toISOString() }) as unknown as InstanceState;
const folded = (sagaId: string, rev: number, marker: string, lastMessageId: string, status = 'Running'): ProjectedInstance => ({ sagaId, rev, state: state(status, marker), lastMessageId, nextDeadline: null });

describe('project-only write of the saga monitor', () => {
  let db: TestDatabase;
  const inbox = async () => Number((await db.pool.query('select count(*) from sagaline_inbox')).rows[0].count);
  const stored = async (id: string) =>
    (await db.pool.query('select status, state->>\'marker\' as marker, last_message_id, rev::int from saga_instances where saga_id = $1', [id])).rows[0] as { status: string; marker: string; last_message_id: string; rev: number };
  const position = async (partition: number) => (await db.pool.query('select next_offset::int from saga_projection_offsets where topic = $1 and partition = $2', [TOPIC, partition])).rows[0]?.next_offset as number | undefined;
  /** An instance as the transactional path leaves it: at revision `rev`. */
  const given = async (rev: number, marker = 'a') => {
    const id = uniqueName('saga');
    await db.pool.query(
      `insert into saga_instances (saga_id, saga, version, status, tenant_id, traceparent, last_message_id, state, started_at, rev)
       values ($1, 's', 1, 'Running', 't', '', $2, $3, now(), $4)`,
      [id, randomUUID(), JSON.stringify(state('Running', marker)), rev],
    );
    return id;
  };

  beforeAll(async () => {
    db = await createTestDatabase('project');
    for (const statement of MONITOR_DDL) await db.pool.query(statement);
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('given an instance at revision 1, when a batch folded from revision 1 is written, then the instance, its inbox rows and the place in the log are recorded', async () => {
    const id = await given(1);
    const batch = [message(id, 40, 1), message(id, 41, 1)];
    const before = await inbox();
    expect(await saveProjectOnly(db.pool, batch, [folded(id, 1, 'b', batch[1]!.metadata.messageId, 'Completed')])).toBe(true);
    expect(await stored(id)).toEqual({ status: 'Completed', marker: 'b', last_message_id: batch[1]!.metadata.messageId, rev: 2 });
    expect(await inbox()).toBe(before + 2);
    expect(await position(1)).toBe(42);
  });

  it('given an instance written meanwhile, when a batch folded from an older revision is written, then it is refused and nothing is written', async () => {
    const id = await given(2);
    const before = { inbox: await inbox(), position: await position(2) };
    const batch = [message(id, 7, 2)];
    expect(await saveProjectOnly(db.pool, batch, [folded(id, 1, 'stale', batch[0]!.metadata.messageId)])).toBe(false);
    expect(await stored(id)).toMatchObject({ marker: 'a', rev: 2 });
    expect({ inbox: await inbox(), position: await position(2) }).toEqual(before);
  });

  it('given a message already in the inbox, when it is projected again, then it is refused and the instance is untouched', async () => {
    const id = await given(1);
    const first = message(id, 3, 3);
    expect(await saveProjectOnly(db.pool, [first], [folded(id, 1, 'once', first.metadata.messageId)])).toBe(true);
    expect(await saveProjectOnly(db.pool, [first], [folded(id, 2, 'twice', first.metadata.messageId)])).toBe(false);
    expect(await stored(id)).toMatchObject({ marker: 'once', rev: 2 });
  });

  it('given the projection further on in the log, when an earlier batch is written, then its place does not move back', async () => {
    const ahead = await given(1);
    const later = message(ahead, 90, 4);
    await saveProjectOnly(db.pool, [later], [folded(ahead, 1, 'b', later.metadata.messageId)]);
    const id = await given(1);
    const earlier = message(id, 12, 4);
    expect(await saveProjectOnly(db.pool, [earlier], [folded(id, 1, 'b', earlier.metadata.messageId)])).toBe(true);
    expect(await position(4)).toBe(91);
  });
});
