/**
 * The checked-in connector definitions (outbox-connector/connectors/*.json), one per source
 * database: which database, which aggregate types its outbox may hold, and the Debezium
 * configuration with {{PLACEHOLDERS}} for what depends on where it runs.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { ConfigError } from '../core/errors.ts';
import type { ConnectorConfig } from './connect-client.ts';
import { createOutboxTable } from './outbox-table.ts';

export const CONNECTORS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'connectors');
export const HEARTBEAT_TABLE = 'sagaline_heartbeat';

export interface ConnectorDefinition {
  name: string;
  database: string;
  aggregateTypes: string[];
  config: ConnectorConfig;
}

export function loadConnectorDefinitions(dir = CONNECTORS_DIR): ConnectorDefinition[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const raw = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Partial<ConnectorDefinition>;
      if (!raw.name || !raw.database || !Array.isArray(raw.aggregateTypes) || !raw.config) {
        throw new ConfigError(`${join(dir, f)} needs name, database, aggregateTypes and config`);
      }
      return { name: raw.name, database: raw.database, aggregateTypes: raw.aggregateTypes, config: raw.config };
    });
}

/** Slot and publication name derived from the connector name (Postgres identifiers: [a-z0-9_], ≤ 63). */
export function slotNameFor(connectorName: string): string {
  return `sagaline_${connectorName.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Fills the placeholders. `connectDatabaseUrl` is how Connect reaches Postgres; `overrides` lets
 * tests run a definition against their own database under their own connector name.
 */
export function renderConnectorConfig(
  definition: ConnectorDefinition,
  connectDatabaseUrl: string,
  overrides: { name?: string; database?: string } = {},
): { name: string; database: string; slotName: string; config: ConnectorConfig } {
  const url = new URL(connectDatabaseUrl);
  const name = overrides.name ?? definition.name;
  const database = overrides.database ?? definition.database;
  const slotName = slotNameFor(name);
  const values: Record<string, string> = {
    DATABASE_HOST: url.hostname,
    DATABASE_PORT: url.port || '5432',
    DATABASE_USER: decodeURIComponent(url.username),
    DATABASE_PASSWORD: decodeURIComponent(url.password),
    DATABASE_NAME: database,
    CONNECTOR_NAME: name,
    CONNECTOR_NAME_REGEX: escapeRegex(name),
    SLOT_NAME: slotName,
  };
  const config: ConnectorConfig = {};
  for (const [key, value] of Object.entries(definition.config)) {
    config[key] = value.replace(/\{\{([A-Z_]+)\}\}/g, (whole, placeholder: string) => {
      const filled = values[placeholder];
      if (filled === undefined) throw new ConfigError(`connector ${definition.name}: unknown placeholder ${whole} in ${key}`);
      return filled;
    });
  }
  return { name, database, slotName, config };
}

/** The tables a connector expects in its database: the outbox (restricted to its aggregate types) and the heartbeat row. */
export async function prepareSourceDatabase(client: pg.ClientBase, definition: { aggregateTypes: readonly string[] }): Promise<void> {
  await createOutboxTable(client, 'outbox', definition.aggregateTypes);
  await client.query(`create table if not exists ${pg.escapeIdentifier(HEARTBEAT_TABLE)} (id int primary key, beat_at timestamptz not null)`);
}
