/** Registers an outbox connector for one service database and waits until it really streams. */
import pg from 'pg';
import type { Config } from '../core/config.ts';
import { waitFor } from '../core/wait.ts';
import { ConnectClient } from './connect-client.ts';
import { outboxConnectorConfig } from './debezium-connector.ts';

export interface OutboxConnectorRequest {
  name: string;
  database: string;
  outboxTable?: string;
  timeoutMs?: number;
}

export interface OutboxConnectorHandle {
  name: string;
  slotName: string;
  change: 'created' | 'updated' | 'unchanged';
}

/** Slot and publication names derived from the connector name (Postgres identifiers: [a-z0-9_]). */
export function slotNameFor(connectorName: string): string {
  return `sagaline_${connectorName.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);
}

export async function ensureOutboxConnector(config: Config, request: OutboxConnectorRequest): Promise<OutboxConnectorHandle> {
  const timeoutMs = request.timeoutMs ?? 60_000;
  const connect = new ConnectClient(config.connectUrl);
  const url = new URL(config.databaseUrl);
  const slotName = slotNameFor(request.name);
  const change = await connect.upsert(
    request.name,
    outboxConnectorConfig({
      name: request.name,
      host: url.hostname,
      port: Number(url.port || 5432),
      user: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
      database: request.database,
      slotName,
      publicationName: slotName,
      ...(request.outboxTable ? { outboxTable: request.outboxTable } : {}),
    }),
  );
  await connect.waitRunning(request.name, timeoutMs);
  // With snapshot.mode=no_data only rows committed after the slot exists are streamed: writers wait for it.
  url.pathname = `/${request.database}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    await waitFor(
      `replication slot ${slotName} to be active`,
      async () => (await client.query('select active from pg_replication_slots where slot_name = $1', [slotName])).rows[0]?.active === true,
      { timeoutMs },
    );
  } finally {
    await client.end();
  }
  return { name: request.name, slotName, change };
}
