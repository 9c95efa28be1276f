/**
 * What provisioning set up, recorded in the engine's database: each source database with its
 * outbox, the aggregate types it admits, and how it is relayed. Delivery health, the delivery guard,
 * lost-slot recovery and the polling relay read it, so they serve whatever sagas were provisioned —
 * by this project or another one sharing the server — not a list written down in advance.
 */
import pg from 'pg';
import { databaseUrlFor, ENGINE_DATABASE, type Config } from '../core/config.ts';
import { connectorNameFor, slotNameFor, type OutboxSource } from './connectors.ts';

const TABLE = 'sagaline_outbox_sources';

export const SOURCES_DDL = `create table if not exists ${TABLE} (
     database        text primary key,
     aggregate_types text[] not null,
     relay           text not null check (relay in ('debezium', 'polling')),
     provisioned_at  timestamptz not null default now())`;

export interface RegisteredSource extends OutboxSource {
  relay: 'debezium' | 'polling';
  /** The Debezium connector and its replication slot (named after the database, whatever the relay). */
  connector: string;
  slotName: string;
}

/** Records (or updates) the sources provisioned; the engine's database must exist. */
export async function recordSources(config: Config, sources: readonly OutboxSource[]): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrlFor(config, ENGINE_DATABASE) });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query(SOURCES_DDL);
    for (const s of sources) {
      await client.query(
        `insert into ${TABLE} (database, aggregate_types, relay) values ($1, $2, $3)
         on conflict (database) do update set aggregate_types = excluded.aggregate_types, relay = excluded.relay, provisioned_at = now()`,
        [s.database, [...s.aggregateTypes].sort(), config.relay],
      );
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Every source provisioned on the server, by database name; none when nothing was provisioned yet. */
export async function registeredSources(config: Config): Promise<RegisteredSource[]> {
  const client = new pg.Client({ connectionString: databaseUrlFor(config, ENGINE_DATABASE), connectionTimeoutMillis: 5_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const { rows } = await client.query<{ database: string; aggregate_types: string[]; relay: 'debezium' | 'polling' }>(`select database, aggregate_types, relay from ${TABLE} order by database`);
    return rows.map((r) => {
      const connector = connectorNameFor(r.database);
      return { database: r.database, aggregateTypes: r.aggregate_types, relay: r.relay, connector, slotName: slotNameFor(connector) };
    });
  } catch (err) {
    // No engine database, or no table in it: nothing was provisioned.
    const code = (err as { code?: string }).code;
    if (code === '3D000' || code === '42P01') return [];
    throw err;
  } finally {
    await client.end().catch(() => undefined);
  }
}
