/**
 * The outbox table, in Debezium's outbox layout (id, aggregatetype, aggregateid, type, payload)
 * plus the metadata a saga needs. Rows are written in the caller's own transaction, so an event
 * exists if and only if the business change it describes was committed.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';

export const DEFAULT_OUTBOX_TABLE = 'outbox';

export function outboxDdl(table = DEFAULT_OUTBOX_TABLE): string {
  const t = pg.escapeIdentifier(table);
  return `
    create table if not exists ${t} (
      id             uuid primary key,
      aggregatetype  text        not null,
      aggregateid    text        not null,
      type           text        not null,
      payload        bytea       not null,
      occurred_at    timestamptz not null default now()
    )`;
}

export interface OutboxRow {
  id?: string;
  /** Routes the row: the Kafka topic. */
  aggregateType: string;
  /** The Kafka message key (the saga id): one saga's messages stay ordered in one partition. */
  aggregateId: string;
  /** The message type, sent as the `eventType` header. */
  type: string;
  /** Already-encoded bytes (Confluent wire format), passed through untouched. */
  payload: Buffer;
}

/** Inserts one row with `client`, which must be inside the caller's transaction. Returns the row id. */
export async function insertOutboxRow(client: pg.ClientBase, row: OutboxRow, table = DEFAULT_OUTBOX_TABLE): Promise<string> {
  const id = row.id ?? randomUUID();
  await client.query(
    `insert into ${pg.escapeIdentifier(table)} (id, aggregatetype, aggregateid, type, payload) values ($1, $2, $3, $4, $5)`,
    [id, row.aggregateType, row.aggregateId, row.type, row.payload],
  );
  return id;
}
