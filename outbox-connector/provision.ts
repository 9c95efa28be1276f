/** Registers an outbox connector for one source database and waits until it really streams. */
import pg from 'pg';
import { waitFor } from '../core/wait.ts';
import { ConnectClient, ConnectError, type ConnectorConfig } from './connect-client.ts';

export interface OutboxConnectorHandle {
  name: string;
  slotName: string;
  change: 'created' | 'updated' | 'unchanged';
}

/**
 * Creates or updates the connector, then waits for its tasks to run and its replication slot to
 * be active. With snapshot.mode=no_data only rows committed after that are streamed, so writers
 * must not start before this returns.
 */
export async function ensureOutboxConnector(
  connectUrl: string | readonly string[],
  databaseUrl: string,
  connector: { name: string; slotName: string; config: ConnectorConfig },
  timeoutMs = 60_000,
): Promise<OutboxConnectorHandle> {
  const connect = new ConnectClient(connectUrl);
  const change = await connect.upsert(connector.name, connector.config);
  // A task that failed under an earlier configuration (or while its database was away) stays
  // FAILED — Connect never restarts it by itself — and its status may still say so for a moment
  // after a new configuration: one restart, then a FAILED task is a real failure.
  try {
    await connect.waitRunning(connector.name, timeoutMs, change === 'unchanged' ? 0 : 15_000);
  } catch (err) {
    if (!(err instanceof ConnectError) || !/FAILED/.test(err.message)) throw err;
    await connect.restart(connector.name);
    await connect.waitRunning(connector.name, timeoutMs, 15_000);
  }
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await waitFor(
      `replication slot ${connector.slotName} to be active`,
      async () => (await client.query('select active from pg_replication_slots where slot_name = $1', [connector.slotName])).rows[0]?.active === true,
      { timeoutMs },
    );
  } finally {
    await client.end();
  }
  return { name: connector.name, slotName: connector.slotName, change };
}
