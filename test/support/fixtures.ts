/** Test fixtures against the real stack: unique names, a fresh database per test file, connectors. */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { pgPool } from '../../core/clients.ts';
import { loadConfig, type Config } from '../../core/config.ts';
import { waitFor } from '../../core/wait.ts';
import { ConnectClient } from '../../outbox-connector/connect-client.ts';
import { outboxConnectorConfig } from '../../outbox-connector/debezium-connector.ts';

export const config: Config = loadConfig();

/** A name no other test or run uses: lowercase, safe as a database, slot, topic or group name. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`.toLowerCase();
}

export interface TestDatabase {
  name: string;
  pool: pg.Pool;
  drop(): Promise<void>;
}

export async function createTestDatabase(prefix: string): Promise<TestDatabase> {
  const name = uniqueName(prefix);
  const admin = pgPool(config, undefined, 1);
  await admin.query(`create database ${pg.escapeIdentifier(name)}`);
  const pool = pgPool(config, name, 5);
  return {
    name,
    pool,
    async drop() {
      await pool.end();
      await admin.query(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`);
      await admin.end();
    },
  };
}

export interface TestConnector {
  name: string;
  slotName: string;
  remove(): Promise<void>;
}

/** Registers an outbox connector for `database` and waits until it streams (tasks RUNNING, slot active). */
export async function startOutboxConnector(db: TestDatabase, options: { outboxTable?: string } = {}): Promise<TestConnector> {
  const connect = new ConnectClient(config.connectUrl);
  const name = uniqueName('c');
  const slotName = `slot_${name}`;
  const url = new URL(config.databaseUrl);
  await connect.upsert(
    name,
    outboxConnectorConfig({
      name,
      host: url.hostname,
      port: Number(url.port || 5432),
      user: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
      database: db.name,
      slotName,
      publicationName: `pub_${name}`,
      ...(options.outboxTable ? { outboxTable: options.outboxTable } : {}),
    }),
  );
  await connect.waitRunning(name, 60_000);
  // With snapshot.mode=no_data only rows committed after the slot exists are streamed: writers wait for it.
  await waitFor(
    `replication slot ${slotName} to be active`,
    async () => (await db.pool.query('select active from pg_replication_slots where slot_name = $1', [slotName])).rows[0]?.active === true,
    { timeoutMs: 60_000 },
  );
  return {
    name,
    slotName,
    async remove() {
      await connect.delete(name);
      await waitFor(
        `replication slot ${slotName} to be released`,
        async () => (await db.pool.query('select active from pg_replication_slots where slot_name = $1', [slotName])).rows[0]?.active !== true,
        { timeoutMs: 30_000 },
      );
      await db.pool.query('select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1', [slotName]);
    },
  };
}
