/** The engine's own tables in a participant's database, and the conversions every runner shares. */
import type pg from 'pg';
import type { DecodedMessage } from '../runtime/decode.ts';
import type { InstanceMessage, InstanceState } from '../saga/instance.ts';
import { inTransaction } from '../../core/transaction.ts';
import { outboxInsert, type OutboxRow } from '../../outbox-connector/outbox-table.ts';
export { inTransaction };

/** Ids of the messages a database has handled: a second delivery finds its id here and does nothing. */
export const INBOX_DDL = `create table if not exists sagaline_inbox (
     message_id   uuid primary key,
     saga_id      text not null,
     type         text not null,
     processed_at timestamptz not null default now())`;

export const PARTICIPANT_DDL = [
  INBOX_DDL,
  // The saga as this participant folded it from the log, and the metadata its replies carry.
  `create table if not exists sagaline_instances (
     saga_id     text primary key,
     saga        text not null,
     state       jsonb,
     tenant_id   text not null default '',
     traceparent text not null default '',
     updated_at  timestamptz not null default now())`,
  // The definition version the instance runs under (from its SagaStarted, before it has a state).
  `alter table sagaline_instances add column if not exists version int`,
  // Messages waiting for a retry after a transient failure, and those of the same saga queued behind them.
  `create table if not exists sagaline_deferred (
     seq        bigserial primary key,
     saga_id    text not null,
     message_id uuid not null unique,
     message    jsonb not null,
     attempts   int not null default 0,
     next_at    timestamptz not null default now(),
     last_error text)`,
  `create index if not exists sagaline_deferred_saga on sagaline_deferred (saga_id, seq)`,
  // Steps whose act returned later(): the message that started each, until its outcome is reported or it is cancelled.
  `create table if not exists sagaline_pending (
     saga_id          text not null,
     step             text not null,
     cause_message_id uuid not null,
     started_at       timestamptz not null default now(),
     primary key (saga_id, step))`,
];

/** A decoded record as the fold reads it: its time is the record's, so every reader folds the same instant. */
export function instanceMessage(message: DecodedMessage): InstanceMessage {
  const p = (message.payload ?? {}) as { step?: unknown; reason?: unknown };
  return {
    sagaId: message.metadata.sagaId,
    type: message.type,
    payload: message.payload,
    at: new Date(message.kafka.timestamp).toISOString(),
    ...(typeof p.step === 'string' ? { step: p.step } : {}),
    ...(typeof p.reason === 'string' ? { reason: p.reason } : {}),
  };
}

export interface StoredInstance {
  state: InstanceState | undefined;
  version: number | undefined;
  tenantId: string;
  traceparent: string;
}

/** The views of `sagaIds` that exist, locked for this transaction, in one order (ids sorted) so two transactions never deadlock on them. */
export async function loadInstances(client: pg.ClientBase, sagaIds: readonly string[]): Promise<Map<string, StoredInstance>> {
  const { rows } = await client.query<{ saga_id: string; state: InstanceState | null; version: number | null; tenant_id: string; traceparent: string }>(
    'select saga_id, state, version, tenant_id, traceparent from sagaline_instances where saga_id = any($1::text[]) order by saga_id for update',
    [[...sagaIds].sort()],
  );
  return new Map(rows.map((row) => [row.saga_id, { state: row.state ?? undefined, version: row.version ?? undefined, tenantId: row.tenant_id, traceparent: row.traceparent }]));
}

/** The end of a batch, in one statement: its replies into the outbox (in order), its views saved. */
export async function saveBatch(client: pg.ClientBase, outboxTable: string, replies: readonly OutboxRow[], saga: string, views: readonly (readonly [string, StoredInstance])[]): Promise<void> {
  if (replies.length === 0 && views.length === 0) return;
  const upsert = `insert into sagaline_instances (saga_id, saga, state, tenant_id, traceparent, version)
       select v.saga_id, $6, v.state, v.tenant_id, v.traceparent, v.version
         from unnest($1::text[], $2::jsonb[], $3::text[], $4::text[], $5::int[]) as v(saga_id, state, tenant_id, traceparent, version)
       on conflict (saga_id) do update set state = excluded.state, tenant_id = excluded.tenant_id, traceparent = excluded.traceparent,
         version = excluded.version, updated_at = now()`;
  const params: unknown[] = [
    views.map(([id]) => id),
    views.map(([, v]) => (v.state === undefined ? null : JSON.stringify(v.state))),
    views.map(([, v]) => v.tenantId),
    views.map(([, v]) => v.traceparent),
    views.map(([, v]) => v.version ?? null),
    saga,
  ];
  if (replies.length === 0) return void (await client.query(upsert, params));
  const outbox = outboxInsert(replies, outboxTable, params.length + 1);
  await client.query(`with replies as (${outbox.sql}) ${upsert}`, [...params, ...outbox.params]);
}
