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

/** The SQLSTATE sagaline_fold_only raises when it cannot record a batch as it was folded. */
export const FOLD_CONFLICT = 'SLF01';

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
  // Bumped by every write of the view: a process that keeps views in memory writes one only over the revision it read.
  `alter table sagaline_instances add column if not exists rev bigint not null default 0`,
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
  // An operator skipped it (processors/engine/parked.ts): folded into the view on its next turn, its handlers not run.
  `alter table sagaline_deferred add column if not exists skip boolean not null default false`,
  // Steps whose act returned later(): the message that started each, until its outcome is reported or it is cancelled.
  `create table if not exists sagaline_pending (
     saga_id          text not null,
     step             text not null,
     cause_message_id uuid not null,
     started_at       timestamptz not null default now(),
     primary key (saga_id, step))`,
  // Messages that only change views, recorded in one round trip: their inbox rows and the views, each
  // written over the revision the caller folded from (null: the view must not exist yet). Anything
  // else — a message already in the inbox, a view written meanwhile, a message of these sagas waiting
  // for a retry — raises FOLD_CONFLICT and writes nothing; the caller then takes the transactional path.
  `create or replace function sagaline_fold_only(message_ids uuid[], message_sagas text[], message_types text[], saga_name text,
       view_ids text[], view_revs bigint[], view_states jsonb[], view_tenants text[], view_traceparents text[], view_versions int[])
     returns void language plpgsql as $fold$
   declare
     n bigint;
   begin
     if exists (select 1 from sagaline_deferred where saga_id = any(view_ids)) then
       raise exception 'a message of these sagas waits for a retry' using errcode = '${FOLD_CONFLICT}';
     end if;
     insert into sagaline_inbox (message_id, saga_id, type) select * from unnest(message_ids, message_sagas, message_types) on conflict do nothing;
     get diagnostics n = row_count;
     if n <> cardinality(message_ids) then
       raise exception 'a message is in the inbox already' using errcode = '${FOLD_CONFLICT}';
     end if;
     update sagaline_instances i
        set state = v.state, tenant_id = v.tenant_id, traceparent = v.traceparent, version = v.version, rev = i.rev + 1, updated_at = now()
       from unnest(view_ids, view_revs, view_states, view_tenants, view_traceparents, view_versions) as v(saga_id, rev, state, tenant_id, traceparent, version)
      where v.rev is not null and i.saga_id = v.saga_id and i.rev = v.rev;
     get diagnostics n = row_count;
     if n <> (select count(*) from unnest(view_revs) r where r is not null) then
       raise exception 'a view was written meanwhile' using errcode = '${FOLD_CONFLICT}';
     end if;
     insert into sagaline_instances (saga_id, saga, state, tenant_id, traceparent, version, rev)
       select v.saga_id, saga_name, v.state, v.tenant_id, v.traceparent, v.version, 1
         from unnest(view_ids, view_revs, view_states, view_tenants, view_traceparents, view_versions) as v(saga_id, rev, state, tenant_id, traceparent, version)
        where v.rev is null
     on conflict (saga_id) do nothing;
     get diagnostics n = row_count;
     if n <> (select count(*) from unnest(view_revs) r where r is null) then
       raise exception 'a view was written meanwhile' using errcode = '${FOLD_CONFLICT}';
     end if;
   end
   $fold$`,
];


/**
 * A record's time as ISO 8601. The last one is kept: records written together carry the same
 * millisecond (in a replayed log, most follow one of the same time), and formatting a Date is a
 * good part of what folding a message costs.
 */
let lastMs = Number.NaN;
let lastIso = '';
function isoTime(ms: number): string {
  if (ms !== lastMs) {
    lastIso = new Date(ms).toISOString();
    lastMs = ms;
  }
  return lastIso;
}

/** A decoded record as the fold reads it: its time is the record's, so every reader folds the same instant. */
export function instanceMessage(message: DecodedMessage): InstanceMessage {
  const p = (message.payload ?? {}) as { step?: unknown; reason?: unknown };
  // Built in place rather than with spreads: replay folds every message of the log through here.
  const m: { -readonly [K in keyof InstanceMessage]: InstanceMessage[K] } = { sagaId: message.metadata.sagaId, type: message.type, payload: message.payload, at: isoTime(message.kafka.timestamp) };
  if (typeof p.step === 'string') m.step = p.step;
  if (typeof p.reason === 'string') m.reason = p.reason;
  return m;
}

export interface StoredInstance {
  state: InstanceState | undefined;
  version: number | undefined;
  tenantId: string;
  traceparent: string;
  /** The revision of the stored row (0: no row yet). */
  rev: number;
}

/** The views of `sagaIds` that exist, locked for this transaction, in one order (ids sorted) so two transactions never deadlock on them. */
export async function loadInstances(client: pg.ClientBase, sagaIds: readonly string[]): Promise<Map<string, StoredInstance>> {
  const { rows } = await client.query<{ saga_id: string; state: InstanceState | null; version: number | null; tenant_id: string; traceparent: string; rev: string }>(
    'select saga_id, state, version, tenant_id, traceparent, rev from sagaline_instances where saga_id = any($1::text[]) order by saga_id for update',
    [[...sagaIds].sort()],
  );
  return new Map(rows.map((row) => [row.saga_id, { state: row.state ?? undefined, version: row.version ?? undefined, tenantId: row.tenant_id, traceparent: row.traceparent, rev: Number(row.rev) }]));
}

/** The end of a batch, in one statement: its replies into the outbox (in order), its views saved. Returns each saved view's new revision. */
export async function saveBatch(client: pg.ClientBase, outboxTable: string, replies: readonly OutboxRow[], saga: string, views: readonly (readonly [string, StoredInstance])[]): Promise<Map<string, number>> {
  if (replies.length === 0 && views.length === 0) return new Map();
  const upsert = `insert into sagaline_instances (saga_id, saga, state, tenant_id, traceparent, version, rev)
       select v.saga_id, $6, v.state, v.tenant_id, v.traceparent, v.version, 1
         from unnest($1::text[], $2::jsonb[], $3::text[], $4::text[], $5::int[]) as v(saga_id, state, tenant_id, traceparent, version)
       on conflict (saga_id) do update set state = excluded.state, tenant_id = excluded.tenant_id, traceparent = excluded.traceparent,
         version = excluded.version, rev = sagaline_instances.rev + 1, updated_at = now()
       returning saga_id, rev`;
  const params: unknown[] = [
    views.map(([id]) => id),
    views.map(([, v]) => (v.state === undefined ? null : JSON.stringify(v.state))),
    views.map(([, v]) => v.tenantId),
    views.map(([, v]) => v.traceparent),
    views.map(([, v]) => v.version ?? null),
    saga,
  ];
  const outbox = replies.length === 0 ? undefined : outboxInsert(replies, outboxTable, params.length + 1);
  const { rows } = await client.query<{ saga_id: string; rev: string }>(outbox ? `with replies as (${outbox.sql}) ${upsert}` : upsert, outbox ? [...params, ...outbox.params] : params);
  return new Map(rows.map((r) => [r.saga_id, Number(r.rev)]));
}

/**
 * Records a batch of messages that only changed views (see sagaline_fold_only): one round trip, no
 * explicit transaction. False when the function refused it (nothing was written).
 */
export async function saveFoldOnly(pool: pg.Pool, saga: string, messages: readonly DecodedMessage[], views: readonly (readonly [string, StoredInstance])[]): Promise<boolean> {
  try {
    await pool.query('select sagaline_fold_only($1::uuid[], $2::text[], $3::text[], $4, $5::text[], $6::bigint[], $7::jsonb[], $8::text[], $9::text[], $10::int[])', [
      messages.map((m) => m.metadata.messageId),
      messages.map((m) => m.metadata.sagaId),
      messages.map((m) => m.type),
      saga,
      views.map(([id]) => id),
      views.map(([, v]) => (v.rev === 0 ? null : v.rev)),
      views.map(([, v]) => (v.state === undefined ? null : JSON.stringify(v.state))),
      views.map(([, v]) => v.tenantId),
      views.map(([, v]) => v.traceparent),
      views.map(([, v]) => v.version ?? null),
    ]);
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === FOLD_CONFLICT) return false;
    throw err;
  }
}
