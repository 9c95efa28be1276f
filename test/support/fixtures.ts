/** Test fixtures against the real stack: unique names, a fresh database per test file, delivery. */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { kafkaClient, pgPool } from '../../core/clients.ts';
import { databaseUrlFor, ENGINE_DATABASE, loadConfig, type Config, type RelayMode } from '../../core/config.ts';
import { waitFor } from '../../core/wait.ts';
import { ConnectClient } from '../../outbox-connector/connect-client.ts';
import { connectorForSource, prepareSourceDatabase, renderConnectorConfig } from '../../outbox-connector/connectors.ts';
import { PollingRelay } from '../../outbox-connector/polling-relay.ts';
import { ensureOutboxConnector } from '../../outbox-connector/provision.ts';
import { heartbeatTopic, heartbeatTopicFor } from '../../topics/catalogue.ts';
import { provisionTopics } from '../../topics/provision.ts';

export const config: Config = loadConfig();

/** A name no other test or run uses: lowercase, safe as a database, slot, topic or group name. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`.toLowerCase();
}

export interface TestDatabase {
  name: string;
  url: string;
  pool: pg.Pool;
  drop(): Promise<void>;
}

export async function createTestDatabase(prefix: string): Promise<TestDatabase> {
  const name = uniqueName(prefix);
  const admin = pgPool(config, ENGINE_DATABASE, 1);
  await admin.query(`create database ${pg.escapeIdentifier(name)}`);
  const pool = pgPool(config, name, 5);
  // Dropping the database WITH (FORCE) ends idle connections from the server side: expected here (pgPool hears it).
  return {
    name,
    url: databaseUrlFor(config, name),
    pool,
    async drop() {
      await pool.end();
      await admin.query(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`);
      await admin.end();
    },
  };
}

export interface Delivery {
  mode: RelayMode;
  /** Debezium: the connector, and its replication slot. */
  connector?: string;
  slotName?: string;
  stop(): Promise<void>;
}

/**
 * Prepares `db` as a source database whose outbox admits `aggregateTypes` (outbox + heartbeat
 * tables) and starts delivering its outbox the way `mode` says: a Debezium connector rendered from
 * the checked-in template for this database (under a unique name), or a polling relay. Returns once
 * rows written from now on will be delivered.
 */
export async function startDelivery(
  mode: RelayMode,
  db: TestDatabase,
  aggregateTypes: readonly string[],
  /** Settings benchmarks compare: Debezium settings laid over the checked-in connector template, the relay's idle pause. */
  tuning: { connector?: Record<string, string>; relayIdlePollMs?: number; connectUrl?: string } = {},
): Promise<Delivery> {
  const client = await db.pool.connect();
  try {
    await prepareSourceDatabase(client, { aggregateTypes });
  } finally {
    client.release();
  }
  if (mode === 'polling') {
    const relay = new PollingRelay(kafkaClient(config, uniqueName('relay')), {
      name: db.name,
      databaseUrl: db.url,
      batchSize: config.relayBatchSize,
      idlePollMs: tuning.relayIdlePollMs ?? config.relayIdlePollMs,
    });
    await relay.start();
    return { mode, stop: () => relay.stop() };
  }
  const rendered = renderConnectorConfig(connectorForSource({ database: db.name, aggregateTypes: [...aggregateTypes] }), config.connectDatabaseUrl, { name: uniqueName('c') }, tuning.connectUrl ? undefined : config.connectDatabasePassword); // a Connect of the test's own (a container) has no config provider: the password itself
  Object.assign(rendered.config, tuning.connector ?? {});
  // Debezium sends a heartbeat record every heartbeat.interval.ms to a topic of its own; topic
  // auto-creation is off, and without that topic the task blocks on its first heartbeat.
  const admin = kafkaClient(config, uniqueName('delivery-admin')).admin();
  await admin.connect();
  try {
    await provisionTopics(admin, [heartbeatTopic(rendered.name)]);
  } finally {
    await admin.disconnect();
  }
  // Another Connect than the stack's (one in a container, say) when given.
  await ensureOutboxConnector(tuning.connectUrl ?? config.connectUrl, db.url, rendered);
  const connect = new ConnectClient(tuning.connectUrl ? [tuning.connectUrl] : config.connectUrls);
  return {
    mode,
    connector: rendered.name,
    slotName: rendered.slotName,
    async stop() {
      await connect.delete(rendered.name);
      await waitFor(
        `replication slot ${rendered.slotName} to be released`,
        async () => (await db.pool.query('select active from pg_replication_slots where slot_name = $1', [rendered.slotName])).rows[0]?.active !== true,
        // Connect stops the task on a rebalance; on two busy cores that has taken over 30 s once.
        { timeoutMs: 90_000 },
      );
      await db.pool.query('select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1', [rendered.slotName]);
      const cleanup = kafkaClient(config, uniqueName('delivery-admin')).admin();
      await cleanup.connect();
      try {
        await cleanup.deleteTopics({ topics: [heartbeatTopicFor(rendered.name)] });
      } finally {
        await cleanup.disconnect();
      }
    },
  };
}
