/** Test fixtures against the real stack: unique names, a fresh database per test file, connectors. */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { pgPool } from '../../core/clients.ts';
import { loadConfig, type Config } from '../../core/config.ts';
import { waitFor } from '../../core/wait.ts';
import { ConnectClient } from '../../outbox-connector/connect-client.ts';
import { ensureOutboxConnector } from '../../outbox-connector/provision.ts';

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
  const { name, slotName } = await ensureOutboxConnector(config, { name: uniqueName('c'), database: db.name, ...options });
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
