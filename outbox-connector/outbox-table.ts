/**
 * The outbox table, in Debezium's outbox layout (id, aggregatetype, aggregateid, type, payload)
 * plus the metadata every message carries as Kafka headers. Rows are written in the caller's own
 * transaction, so an event exists if and only if the business change it describes committed.
 */
import pg from 'pg';

export const DEFAULT_OUTBOX_TABLE = 'outbox';

/** Outbox column → Kafka header name. The Debezium router and the polling relay both use this list. */
export const HEADER_COLUMNS = [
  ['type', 'eventType'],
  ['tenant_id', 'tenantId'],
  ['saga_id', 'sagaId'],
  ['correlation_id', 'correlationId'],
  ['causation_id', 'causationId'],
  ['traceparent', 'traceparent'],
  // When the row was written (its transaction's time): where a trace's CDC hop starts.
  ['occurred_at', 'occurredAt'],
] as const;

/**
 * The header columns as a select list for a relay: `occurred_at` as the UTC text of Debezium's
 * ZonedTimestamp (the column's six fractional digits, kept), so both delivery modes write the same
 * header bytes.
 */
export const HEADER_SELECT = HEADER_COLUMNS.map(([c]) =>
  c === 'occurred_at' ? `to_char(occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') as occurred_at` : pg.escapeIdentifier(c),
).join(', ');

/** A header's text from its column's value, as Debezium's outbox router writes it. */
export function headerValue(column: string, value: unknown): string {
  if (column === 'occurred_at' && typeof value === 'string') return `${value}Z`;
  return String(value ?? '');
}

/**
 * DDL of an outbox table. `aggregateTypes` become a check constraint: a row that no connector or
 * relay could route to a provisioned topic (one derived from the sagas and streams whose rows this
 * database holds) is refused by the database itself. The constraint keeps its first name
 * (`<table>_aggregatetype_catalogued`), so tables made before it was derived are altered in place.
 */
export function outboxDdl(table = DEFAULT_OUTBOX_TABLE, aggregateTypes?: readonly string[]): string[] {
  const t = pg.escapeIdentifier(table);
  const constraint = pg.escapeIdentifier(`${table}_aggregatetype_catalogued`);
  const statements = [
    `create table if not exists ${t} (
      id             uuid        primary key,
      aggregatetype  text        not null,
      aggregateid    text        not null,
      type           text        not null,
      payload        bytea       not null,
      tenant_id      text        not null default '',
      saga_id        text        not null default '',
      correlation_id text        not null default '',
      causation_id   text        not null default '',
      traceparent    text        not null default '',
      occurred_at    timestamptz not null default now(),
      -- Insertion order, for the polling relay (Debezium follows the WAL instead).
      seq            bigint      generated always as identity
    )`,
    `create index if not exists ${pg.escapeIdentifier(`${table}_seq`)} on ${t} (seq)`,
  ];
  if (aggregateTypes) {
    const allowed = aggregateTypes.map((a) => pg.escapeLiteral(a)).join(', ');
    statements.push(
      `alter table ${t} drop constraint if exists ${constraint}`,
      `alter table ${t} add constraint ${constraint} check (aggregatetype in (${allowed}))`,
    );
  }
  return statements;
}

export async function createOutboxTable(client: pg.ClientBase, table = DEFAULT_OUTBOX_TABLE, aggregateTypes?: readonly string[]): Promise<void> {
  for (const statement of outboxDdl(table, aggregateTypes)) await client.query(statement);
}

export interface OutboxRow {
  id: string;
  /** Routes the row: topic `sagaline.<aggregatetype>`. */
  aggregateType: string;
  /** The Kafka message key (the saga id): one saga's messages stay ordered in one partition. */
  aggregateId: string;
  /** The message type, sent as the `eventType` header. */
  type: string;
  /** Already-encoded bytes (Confluent wire format), passed through untouched. */
  payload: Buffer;
  tenantId?: string;
  sagaId?: string;
  correlationId?: string;
  causationId?: string;
  traceparent?: string;
}

/** Inserts one row with `client`, which should be inside the caller's transaction. */
export async function insertOutboxRow(client: pg.ClientBase, row: OutboxRow, table = DEFAULT_OUTBOX_TABLE): Promise<void> {
  await client.query(
    `insert into ${pg.escapeIdentifier(table)}
       (id, aggregatetype, aggregateid, type, payload, tenant_id, saga_id, correlation_id, causation_id, traceparent)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [
      row.id, row.aggregateType, row.aggregateId, row.type, row.payload,
      row.tenantId ?? '', row.sagaId ?? '', row.correlationId ?? '', row.causationId ?? '', row.traceparent ?? '',
    ],
  );
}

/**
 * One statement that inserts `rows` (in their order: one saga's messages keep theirs in the log).
 * Returned as SQL and parameters so a caller can fold it into a statement of its own.
 */
export function outboxInsert(rows: readonly OutboxRow[], table = DEFAULT_OUTBOX_TABLE, firstParam = 1): { sql: string; params: unknown[] } {
  const p = (i: number) => `$${firstParam + i}`;
  return {
    sql: `insert into ${pg.escapeIdentifier(table)}
       (id, aggregatetype, aggregateid, type, payload, tenant_id, saga_id, correlation_id, causation_id, traceparent)
     select id, aggregatetype, aggregateid, type, payload, tenant_id, saga_id, correlation_id, causation_id, traceparent
       from unnest(${p(0)}::uuid[], ${p(1)}::text[], ${p(2)}::text[], ${p(3)}::text[], ${p(4)}::bytea[], ${p(5)}::text[], ${p(6)}::text[], ${p(7)}::text[], ${p(8)}::text[], ${p(9)}::text[]) with ordinality
       as r(id, aggregatetype, aggregateid, type, payload, tenant_id, saga_id, correlation_id, causation_id, traceparent, n)
     order by n`,
    params: [
      rows.map((r) => r.id), rows.map((r) => r.aggregateType), rows.map((r) => r.aggregateId), rows.map((r) => r.type), rows.map((r) => r.payload),
      rows.map((r) => r.tenantId ?? ''), rows.map((r) => r.sagaId ?? ''), rows.map((r) => r.correlationId ?? ''), rows.map((r) => r.causationId ?? ''), rows.map((r) => r.traceparent ?? ''),
    ],
  };
}
