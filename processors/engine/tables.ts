/** The engine's own tables in a participant's database, and the conversions every runner shares. */
import type pg from 'pg';
import type { DecodedMessage } from '../runtime/decode.ts';
import type { InstanceMessage, InstanceState } from '../saga/instance.ts';
import { inTransaction } from '../../core/transaction.ts';
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

/** Insert-then-lock: two messages of one new saga never both start from nothing. */
export async function loadInstance(client: pg.ClientBase, saga: string, sagaId: string): Promise<StoredInstance> {
  await client.query('insert into sagaline_instances (saga_id, saga) values ($1, $2) on conflict do nothing', [sagaId, saga]);
  const { rows } = await client.query<{ state: InstanceState | null; version: number | null; tenant_id: string; traceparent: string }>(
    'select state, version, tenant_id, traceparent from sagaline_instances where saga_id = $1 for update',
    [sagaId],
  );
  const row = rows[0]!;
  return { state: row.state ?? undefined, version: row.version ?? undefined, tenantId: row.tenant_id, traceparent: row.traceparent };
}

export async function saveInstance(client: pg.ClientBase, sagaId: string, stored: StoredInstance): Promise<void> {
  await client.query('update sagaline_instances set state = $2, tenant_id = $3, traceparent = $4, version = $5, updated_at = now() where saga_id = $1', [
    sagaId,
    stored.state === undefined ? null : JSON.stringify(stored.state),
    stored.tenantId,
    stored.traceparent,
    stored.version ?? null,
  ]);
}

